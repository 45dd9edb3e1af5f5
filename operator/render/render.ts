/*
 * operator/render/render - manifests of one namespace -> the rendered config of one hub (pure).
 *
 * The one render every entry point uses (controller, `hub`, `render`, `explain`, `validate`).
 * It never throws on bad input: a connector that cannot be loaded on this hub (unknown address
 * name, missing Secret, conflict with an earlier connector) is left out whole, never half
 * applied, and reported in `connectors` with a rule and a message a person can act on.
 * Each kind renders in its own file (receive-connectors.ts, listeners.ts, accepted-domains.ts,
 * send-connectors.ts, hub-settings.ts); this one puts the config together.
 */
import { hashConfig } from '../../relay/config/load.ts';
import type { RenderedConfig } from '../../relay/config/schema.ts';
import { RENDERED_CONFIG_API_VERSION } from '../../relay/config/schema.ts';
import type { RelayHub } from '../api/types.generated.ts';
import { acceptedDomainConfigs } from './accepted-domains.ts';
import { hubSettings } from './hub-settings.ts';
import type { NamespaceObjects } from './inputs.ts';
import { hubListeners } from './listeners.ts';
import { receiveConnectorsOnHub } from './receive-connectors.ts';
import type { ConnectorOnHub, RenderOptions, RenderProblem } from './result.ts';
import { sendConnectorConfigs } from './send-connectors.ts';

export interface RenderResult {
  config: RenderedConfig;
  hash: string;
  connectors: ConnectorOnHub[];
  problems: RenderProblem[];
}

/** renderHub - the rendered relay config of one hub, with what could not be loaded and why. */
export function renderHub(hub: RelayHub, objects: NamespaceObjects, options: RenderOptions): RenderResult {
  const problems: RenderProblem[] = [];
  const hubName = hub.metadata.name ?? '';
  const { loaded, notLoaded, generations } = receiveConnectorsOnHub(hub, objects, options, problems);
  const listeners = hubListeners(hub, loaded, options.mode);
  const statuses: ConnectorOnHub[] = [...notLoaded];
  for (const { config, bindings } of loaded) {
    statuses.push({ connectorId: config.id, generation: generations.get(config.id) ?? 0, hub: hubName, loaded: true, bindings: bindings.map((b) => listeners.byKey.get(`${b.addressName}:${b.port}`)?.endpoint ?? b.binding) });
  }
  const acceptedDomains = acceptedDomainConfigs(objects, problems);

  const config: RenderedConfig = {
    apiVersion: RENDERED_CONFIG_API_VERSION,
    hub: hubSettings(hub, objects, options, problems),
    connectors: loaded.map((c) => c.config),
    listeners: listeners.sorted,
    acceptedDomains,
    sendConnectors: sendConnectorConfigs(hub, objects, options, problems),
  };
  return { config, hash: configHash(config), connectors: statuses, problems };
}

/** configHash - the hash the relay reports for this config (relay/config/load.ts). */
export function configHash(config: RenderedConfig): string {
  return hashConfig(config);
}

/*
 * operator/render/send-connectors - the SendConnectors of one hub's rendered config, and the
 * rules that decide them, written once: the SendConnector controller reports its status from
 * the same functions, so the status says what the hubs' configs hold.
 *
 * A SendConnector with neither spec.hubs nor spec.hubSelector is on every hub of its namespace,
 * else on the hubs selectsHub picks (as a ReceiveConnector). A hub leaves it out when its
 * authentication Secret or one of that Secret's keys (username, password) is missing.
 */
import type { SendConnectorConfig } from '../../relay/config/schema.ts';
import { canonicalDomainPattern } from '../../relay/delivery/address-canonical.ts';
import { SEND_CONNECTOR_MAX_MESSAGE_SIZE_DEFAULT } from '../api/defaults.ts';
import type { RelayHub, SendConnector } from '../api/types.generated.ts';
import { parseQuantity } from '../api/units.ts';
import { objectKey, type NamespaceObjects } from './inputs.ts';
import type { RenderOptions, RenderProblem } from './result.ts';
import { requireSecretKeys } from './secret-keys.ts';
import { byPrecedence, selectsHub } from './selection.ts';

/** The keys render requires of spec.authentication.secretName. */
export const SEND_CONNECTOR_SECRET_KEYS = ['username', 'password'] as const;

/** selectsEveryHub - neither spec.hubs nor spec.hubSelector: the connector is on every hub. */
export function selectsEveryHub(spec: SendConnector['spec']): boolean {
  return (spec.hubs ?? []).length === 0 && spec.hubSelector === undefined;
}

/** sendConnectorSelectsHub - no hubs and no selector = every hub, else as selectsHub. */
export function sendConnectorSelectsHub(spec: SendConnector['spec'], hub: RelayHub): boolean {
  return selectsEveryHub(spec) || selectsHub(spec, hub);
}

/** sendConnectorMaxMessageSize - spec.maxMessageSize in bytes; throws on a bad quantity. */
export function sendConnectorMaxMessageSize(spec: SendConnector['spec']): number {
  return parseQuantity(spec.maxMessageSize ?? SEND_CONNECTOR_MAX_MESSAGE_SIZE_DEFAULT);
}

/** sendConnectorConfigs - the SendConnectors on `hub`, in precedence order; problems for those left out. */
export function sendConnectorConfigs(hub: RelayHub, objects: NamespaceObjects, options: RenderOptions, problems: RenderProblem[]): SendConnectorConfig[] {
  const out: SendConnectorConfig[] = [];
  for (const send of [...objects.sendConnectors].sort(byPrecedence)) {
    const spec = send.spec;
    if (!sendConnectorSelectsHub(spec, hub)) continue;
    const id = objectKey(objects.namespace, send.metadata.name);
    let maxMessageSize: number;
    try {
      maxMessageSize = sendConnectorMaxMessageSize(spec);
    } catch (error) {
      // the CRD's minimum and pattern refuse it; objects stored before them and standalone
      // manifests still reach render, which never throws on input (issue 12 item 6)
      problems.push({ object: `SendConnector ${id}`, field: 'spec.maxMessageSize', rule: 'limitValue', message: `hub ${hub.metadata.name ?? ''}: ${(error as Error).message}` });
      continue;
    }
    let authFile: string | null = null;
    if (spec.authentication?.secretName) {
      const check = requireSecretKeys(objects, 'spec.authentication.secretName', spec.authentication.secretName, SEND_CONNECTOR_SECRET_KEYS);
      if (!check.ok) {
        problems.push({ object: `SendConnector ${id}`, field: check.field, rule: 'missingSecret', message: check.message });
        continue;
      }
      authFile = options.secretFile(spec.authentication.secretName, 'password');
    }
    out.push({
      id,
      // canonical form (address-canonical.ts) so that render output and relay matching agree
      addressSpaces: spec.addressSpaces.map((a) => ({ domain: canonicalDomainPattern(a.domain) ?? a.domain.toLowerCase(), cost: a.cost ?? 1 })),
      smartHosts: spec.smartHosts ?? [],
      dropDirectory: spec.dropDirectory || null,
      port: spec.port ?? 25,
      fqdn: spec.fqdn ?? hub.spec.fqdn ?? 'localhost',
      tls: { mode: spec.tls?.mode ?? 'Opportunistic', verify: spec.tls?.verify ?? true },
      authFile,
      maxMessageSize,
    });
  }
  return out;
}

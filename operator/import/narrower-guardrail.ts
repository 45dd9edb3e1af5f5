/*
 * operator/import/narrower-guardrail - renders the imported connectors on stand-in hubs (one
 * per Exchange server) with the operator's own render, to find what the contract's guardrails
 * would leave out.
 *
 * In Exchange the most specific range always wins: a relay connector for a few addresses on the
 * same IP and port as "Default Frontend" takes those clients with whatever rights it grants.
 * The contract refuses that (narrowerConnectorGrantsMore) unless the wider connector sets
 * allowNarrowerConnectors. The importer sets it on exactly the wider connectors the render
 * names, and reports each, so the import keeps Exchange's behaviour visibly. Anything else the
 * render refuses (a listener conflict, say) is reported for a human to settle.
 */
import type { AcceptedDomain, ReceiveConnector, RelayHub } from '../api/types.generated.ts';
import { renderHub } from '../render/render.ts';
import type { ImportReport } from './import-report.ts';
import { SERVER_LABEL, serverLabelValue, type GroupedConnector, type HubSelector } from './server-grouping.ts';

const NARROWER_REASON = 'NarrowerConnectorGrantsMore';

/** standInHubs - a RelayHub per Exchange server, labelled as the imported selectors expect. */
export function standInHubs(servers: readonly string[], base: HubSelector, namespace: string, addressNames: readonly string[]): RelayHub[] {
  return servers.map((server) => ({
    apiVersion: 'relayoperator.io/v1alpha1',
    kind: 'RelayHub',
    metadata: { name: `hub-${serverLabelValue(server)}`, namespace, labels: { ...(base.matchLabels ?? {}), [SERVER_LABEL]: serverLabelValue(server) } },
    spec: { addresses: [{ name: 'default' }, ...addressNames.map((name) => ({ name }))] },
  }));
}

/** addressNamesOf - the hub address names (NAME:port bindings) the connectors use. */
export function addressNamesOf(connectors: readonly ReceiveConnector[]): string[] {
  const names = connectors.flatMap((c) => (c.spec.bindings ?? []).map((b) => /^([a-z][-a-z0-9]*):\d+$/.exec(b)?.[1] ?? '').filter((n) => n !== ''));
  return [...new Set(names)].sort();
}

/**
 * applyNarrowerGuardrail - sets allowNarrowerConnectors where Exchange's "most specific wins"
 * needs it, reports every connector a hub would still leave out, and returns the render
 * problems left (empty when every enabled connector loads on every stand-in hub).
 */
export function applyNarrowerGuardrail(connectors: ReceiveConnector[], grouped: readonly GroupedConnector[], acceptedDomains: AcceptedDomain[], hubs: RelayHub[], report: ImportReport): string[] {
  const subjectsOf = (id: string): string[] => grouped.find((g) => id.endsWith(`/${g.name}`))?.subjects ?? [];
  const namespace = hubs[0]?.metadata.namespace ?? 'default';
  const objects = { namespace, hubs, receiveConnectors: connectors, acceptedDomains, sendConnectors: [], secrets: [] };
  // Each pass can only add allowNarrowerConnectors to a connector that lacked it: at most one
  // pass per connector, plus the final pass that finds nothing new.
  for (let pass = 0; pass <= connectors.length; pass++) {
    let changed = false;
    const left: string[] = [];
    for (const hub of hubs) {
      const { connectors: statuses } = renderHub(hub, objects, { secretFile: (name, key) => `/etc/relay/secrets/${name}/${key}` });
      for (const status of statuses.filter((s) => !s.loaded)) {
        const wide = status.reason === NARROWER_REASON ? connectors.find((c) => status.conflictsWith === `${namespace}/${c.metadata.name}`) : undefined;
        if (wide && wide.spec.allowNarrowerConnectors !== true) {
          wide.spec.allowNarrowerConnectors = true;
          changed = true;
          const narrow = status.connectorId.slice(namespace.length + 1);
          for (const subject of subjectsOf(status.conflictsWith ?? '')) {
            report.add('action', subject, 'RemoteIPRanges', `narrowed by ${narrow}`, `Exchange lets the more specific connector ${narrow} take part of these clients with more rights: written with allowNarrowerConnectors: true so the import keeps that; remove it if ${narrow} should not`);
          }
        } else if (!wide) left.push(`${status.connectorId} on hub ${hub.metadata.name ?? ''}: ${status.message ?? status.rule ?? 'not loaded'}`);
      }
    }
    if (!changed) {
      for (const line of [...new Set(left)]) {
        const id = line.slice(0, line.indexOf(' '));
        for (const subject of subjectsOf(id)) report.add('action', subject, 'render', line, 'a hub would not load this connector as written; settle it before applying');
      }
      return [...new Set(left)];
    }
  }
  return [];
}

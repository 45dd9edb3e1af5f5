/*
 * operator/import/server-grouping - Exchange receive connectors are per server; the contract's
 * are per fleet. Connectors with the same name whose settings are equal on several servers
 * become one ReceiveConnector with a hub selector; servers whose copy differs get their own
 * connector, selecting only hubs labelled with that server, and the report says what differs.
 *
 * Bindings: "0.0.0.0:25" and "[::]:25" are both the hub's default address. A literal IP is a
 * NIC of one server: kept literal when one server holds the connector, written as a named hub
 * address ("ip-192-168-1-17:25") when several do, since a literal IP belongs to one hub only.
 */
import type { ReceiveConnectorSpec } from '../api/types.generated.ts';
import { addressNameFor, isWildcard, literalBinding, type Binding } from './exchange-addresses.ts';
import type { MappedReceiveConnector } from './exchange-receive-connector.ts';
import type { ImportReport } from './import-report.ts';

/** The hub label that stands for one Exchange server when servers' connectors differ. */
export const SERVER_LABEL = 'relayoperator.io/exchange-server';

export type HubSelector = NonNullable<ReceiveConnectorSpec['hubSelector']>;

export interface GroupedConnector {
  name: string;
  /** Report subjects of the Exchange connectors it came from. */
  subjects: string[];
  servers: string[];
  /** Where it came from and the administrators' comments, as metadata.annotations. */
  annotations: Record<string, string>;
  spec: ReceiveConnectorSpec;
}

/** Annotations that keep the Exchange origin of an imported object visible on the cluster. */
export const SOURCE_ANNOTATION = 'relayoperator.io/exchange-source';
export const COMMENT_ANNOTATION = 'relayoperator.io/exchange-comment';

export const serverLabelValue = (server: string): string => server.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 63);

/** kubernetesName - an RFC 1123 name from an Exchange display name. */
export function kubernetesName(text: string): string {
  const name = text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return name || 'connector';
}

const bindingShape = (b: Binding): string => (isWildcard(b) ? `0.0.0.0:${b.port}` : `<literal>:${b.port}`);

function comparisonKey(connector: MappedReceiveConnector): string {
  const spec = { ...connector.spec, remoteIPRanges: [...(connector.spec.remoteIPRanges ?? [])].sort() };
  return JSON.stringify([[...new Set(connector.bindings.map(bindingShape))].sort(), spec]);
}

function writtenBindings(members: MappedReceiveConnector[], report: ImportReport): string[] {
  const out = new Set<string>();
  const first = members[0];
  if (!first) return [];
  for (const binding of first.bindings) {
    if (isWildcard(binding)) {
      out.add(`0.0.0.0:${binding.port}`);
      continue;
    }
    if (members.length === 1) {
      out.add(literalBinding(binding));
      continue;
    }
    const name = addressNameFor(binding.address);
    const perServer = members.map((m) => `${m.identity.server} ${m.bindings.find((b) => !isWildcard(b) && b.port === binding.port)?.address ?? '?'}`);
    out.add(`${name}:${binding.port}`);
    report.add('action', first.subject, 'Bindings', perServer.join(', '), `per-server NIC addresses, written as hub address "${name}": give every selected RelayHub an address named ${name} (spec.addresses, with its own ip if clients use one)`);
  }
  if (first.bindings.some((b) => b.address === '::') && first.bindings.some((b) => b.address === '0.0.0.0')) {
    report.add('changed', first.subject, 'Bindings', first.bindings.map(literalBinding).join(', '), '0.0.0.0 and [::] are both the hub default address: written once');
  }
  return [...out];
}

function selectorFor(base: HubSelector, servers: string[], allServers: ReadonlySet<string>): HubSelector {
  if (servers.length === allServers.size) return structuredClone(base);
  return { ...structuredClone(base), matchExpressions: [...(base.matchExpressions ?? []), { key: SERVER_LABEL, operator: 'In', values: servers.map(serverLabelValue) }] };
}

function differingFields(a: ReceiveConnectorSpec, b: ReceiveConnectorSpec): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])] as Array<keyof ReceiveConnectorSpec>;
  return keys.filter((k) => JSON.stringify(k === 'remoteIPRanges' ? [...(a[k] ?? [])].sort() : a[k]) !== JSON.stringify(k === 'remoteIPRanges' ? [...(b[k] ?? [])].sort() : b[k]));
}

/**
 * sharedName - the connector name without the server name Exchange appends to the connectors
 * it creates ("Default Frontend EX1" on EX1 and "Default Frontend EX2" on EX2 are one).
 */
export function sharedName(connector: MappedReceiveConnector): string {
  const { name, server } = connector.identity;
  const suffix = ` ${server}`;
  return name.toUpperCase().endsWith(suffix) && name.length > suffix.length ? name.slice(0, -suffix.length) : name;
}

/**
 * addWildcardAddresses - Exchange's 0.0.0.0:25 listens on every address of the server, also on
 * one another connector binds literally; the contract's default address does not. So a
 * wildcard connector is also bound to the hub addresses other connectors of its servers use on
 * the same port, when it can be: a literal IP only when the connector is on that one server.
 */
function addWildcardAddresses(out: GroupedConnector[], report: ImportReport): void {
  for (const wide of out) {
    const ports = (wide.spec.bindings ?? []).filter((b) => b.startsWith('0.0.0.0:')).map((b) => b.slice('0.0.0.0:'.length));
    for (const other of out) {
      if (other === wide || other.spec.enabled === false || !wide.servers.some((s) => other.servers.includes(s))) continue;
      for (const binding of other.spec.bindings ?? []) {
        const port = binding.slice(binding.lastIndexOf(':') + 1);
        if (binding.startsWith('0.0.0.0:') || !ports.includes(port) || wide.spec.bindings?.includes(binding)) continue;
        const literal = /^[\d.]+:|^\[/.test(binding);
        const onEveryHub = wide.servers.every((s) => other.servers.includes(s));
        if (!onEveryHub || (literal && wide.servers.length > 1)) {
          report.add('action', wide.subjects[0] ?? '', 'Bindings', `0.0.0.0:${port}`, `in Exchange this also answered on ${binding} (bound by ${other.name} on ${other.servers.join(', ')}); that address is not on every hub of this connector, so clients outside ${other.name}'s ranges are refused there at connect instead`);
          continue;
        }
        wide.spec.bindings = [...(wide.spec.bindings ?? []), binding];
        report.add('changed', wide.subjects[0] ?? '', 'Bindings', `0.0.0.0:${port}`, `also bound to ${binding}: Exchange's 0.0.0.0 listened on the address ${other.name} binds, so its other clients there keep this connector`);
      }
    }
  }
}

/**
 * dropServerFqdn - Exchange fills Fqdn with the server's own name; on a hub that name is the
 * hub's fqdn, and keeping it would also keep the servers' copies apart.
 */
function dropServerFqdn(connector: MappedReceiveConnector, report: ImportReport): void {
  const fqdn = connector.spec.fqdn;
  if (!fqdn || fqdn.split('.')[0]?.toUpperCase() !== connector.identity.server) return;
  delete connector.spec.fqdn;
  report.add('changed', connector.subject, 'Fqdn', fqdn, "the server's own name: left out, so the hub's fqdn names banner, EHLO and Received");
}

/** groupByServers - one GroupedConnector per connector name and distinct settings. */
export function groupByServers(connectors: MappedReceiveConnector[], base: HubSelector, report: ImportReport): GroupedConnector[] {
  connectors.forEach((c) => dropServerFqdn(c, report));
  const allServers = new Set(connectors.map((c) => c.identity.server));
  const byName = new Map<string, MappedReceiveConnector[]>();
  for (const c of connectors) {
    const key = sharedName(c).toLowerCase();
    byName.set(key, [...(byName.get(key) ?? []), c]);
  }
  const used = new Set<string>();
  const out: GroupedConnector[] = [];
  for (const members of byName.values()) {
    const bySettings = new Map<string, MappedReceiveConnector[]>();
    for (const m of members.sort((a, b) => a.identity.server.localeCompare(b.identity.server))) {
      const key = comparisonKey(m);
      bySettings.set(key, [...(bySettings.get(key) ?? []), m]);
    }
    const groups = [...bySettings.values()];
    for (const group of groups) {
      const first = group[0];
      if (!first) continue;
      const servers = group.map((m) => m.identity.server);
      const shared = sharedName(first);
      let name = kubernetesName(groups.length > 1 ? `${shared}-${servers[0] ?? ''}` : shared);
      for (let i = 2; used.has(name); i++) name = `${kubernetesName(shared).slice(0, 58)}-${i}`;
      used.add(name);
      const spec: ReceiveConnectorSpec = { hubSelector: selectorFor(base, servers, allServers), ...first.spec, bindings: writtenBindings(group, report) };
      const subjects = group.map((m) => m.subject);
      if (group.length > 1) report.add('merged', first.subject, 'Server', servers.join(', '), `equal settings on ${servers.length} servers: merged into ReceiveConnector ${name}`);
      if (servers.length < allServers.size) {
        report.add('action', first.subject, 'Server', servers.join(', '), `ReceiveConnector ${name} selects only hubs labelled ${SERVER_LABEL} in (${servers.map(serverLabelValue).join(', ')}): label the hubs that replace ${servers.length === 1 ? 'that server' : 'those servers'}`);
      }
      if (groups.length > 1) {
        const other = groups.find((g) => g !== group)?.[0];
        if (other) report.add('action', first.subject, 'Server', servers.join(', '), `differs from ${other.identity.server}'s copy in ${differingFields(first.spec, other.spec).join(', ') || 'bindings'}: written as a separate connector`);
      }
      const comments = [...new Set(group.flatMap((m) => (m.comment ? [m.comment] : [])))];
      const annotations: Record<string, string> = { [SOURCE_ANNOTATION]: group.map((m) => `${m.identity.server}\\${m.identity.name}`).join(', ') };
      if (comments.length > 0) annotations[COMMENT_ANNOTATION] = comments.join('\n');
      out.push({ name, subjects, servers, annotations, spec });
    }
  }
  addWildcardAddresses(out, report);
  return out;
}

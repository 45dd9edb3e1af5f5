/*
 * operator/render/receive-connectors - the ReceiveConnectors one hub loads, with the listeners
 * each binds, and for each one left out the rule and a message a person can act on.
 *
 * In precedence order (older creationTimestamp, then name): a disabled connector or one that
 * does not select the hub is skipped; the open-relay guardrails, the bindings and the Secrets
 * are checked per connector; then listener conflicts and narrower connectors granting more are
 * decided among the rest. A connector left out is left out whole, never half applied.
 */
import type { ConnectorConfig, Principal, TlsFiles } from '../../relay/config/schema.ts';
import { LIMIT_DEFAULTS, USAGE_PRESETS, type Usage } from '../api/defaults.ts';
import type { ReceiveConnector, RelayHub } from '../api/types.generated.ts';
import { parseDuration, parseQuantity } from '../api/units.ts';
import { resolveBinding, type ResolvedBinding } from './bindings.ts';
import { findListenerConflicts, findNarrowerConnectors } from './conflicts.ts';
import { objectKey, type NamespaceObjects } from './inputs.ts';
import type { ConnectorOnHub, RenderOptions, RenderProblem } from './result.ts';
import { requireSecretKeys } from './secret-keys.ts';
import { connectorSecurityProblems, SecurityReason, SecurityRule } from './security.ts';
import { byPrecedence, selectsHub } from './selection.ts';
import { compareConnectorPrecedence } from '../../relay/listener/range-index-build.ts';
import { parseRemoteIPRange, RangeSyntaxError } from '../../relay/common/addresses.ts';

/** A connector the hub loads, with the listeners (address name and port) it binds. */
export interface LoadedConnector {
  config: ConnectorConfig;
  bindings: ResolvedBinding[];
}

export interface ReceiveConnectorsOnHub {
  /** In precedence order. */
  loaded: LoadedConnector[];
  /** One per connector left out; render adds the loaded ones once listeners have endpoints. */
  notLoaded: ConnectorOnHub[];
  /** metadata.generation per connector id, of every connector that selects the hub. */
  generations: Map<string, number>;
}

/** limitsOf - a connector's spec.limits with the API defaults filled in, in the rendered config's units. */
export function limitsOf(limits: ReceiveConnector['spec']['limits']): ConnectorConfig['limits'] {
  const l = { ...LIMIT_DEFAULTS, ...(limits ?? {}) };
  return {
    maxMessageSize: parseQuantity(l.maxMessageSize),
    maxRecipientsPerMessage: l.maxRecipientsPerMessage,
    maxInboundConnections: l.maxInboundConnections,
    maxInboundConnectionsPerSource: l.maxInboundConnectionsPerSource,
    maxInboundConnectionPercentagePerSource: l.maxInboundConnectionPercentagePerSource,
    messageRateLimit: l.messageRateLimit,
    messageRateSource: l.messageRateSource,
    connectionTimeoutMs: parseDuration(l.connectionTimeout),
    connectionInactivityTimeoutMs: parseDuration(l.connectionInactivityTimeout),
    tarpitIntervalMs: parseDuration(l.tarpitInterval),
    maxHopCount: l.maxHopCount,
    maxLocalHopCount: l.maxLocalHopCount,
    maxHeaderSize: parseQuantity(l.maxHeaderSize),
    maxProtocolErrors: l.maxProtocolErrors,
    maxLogonFailures: l.maxLogonFailures,
    greetDelayMs: parseDuration(l.greetDelay),
    dnsLookupTimeoutMs: parseDuration(l.dnsLookupTimeout),
  };
}

/** effectiveConnectorSpec - the connector's spec with the usage preset applied to empty fields. */
export function effectiveConnectorSpec(connector: ReceiveConnector): ReceiveConnector['spec'] & { usage: Usage } {
  const spec = connector.spec;
  const usage: Usage = spec.usage ?? 'Custom';
  const preset = USAGE_PRESETS[usage];
  const nonEmpty = <T>(value: T[] | undefined, fallback: T[]): T[] => (value && value.length > 0 ? value : fallback);
  return {
    ...spec,
    usage,
    bindings: nonEmpty(spec.bindings, preset.bindings),
    remoteIPRanges: nonEmpty(spec.remoteIPRanges, preset.remoteIPRanges),
    permissionGroups: nonEmpty(spec.permissionGroups, preset.permissionGroups),
    authMechanisms: nonEmpty(spec.authMechanisms, preset.authMechanisms),
  };
}

function connectorConfig(connector: ReceiveConnector, hub: RelayHub, objects: NamespaceObjects, options: RenderOptions):
  { ok: true; config: ConnectorConfig } | { ok: false; field: string; rule: string; message: string } {
  const spec = effectiveConnectorSpec(connector);
  const id = objectKey(objects.namespace, connector.metadata.name);
  const fqdn = spec.fqdn ?? hub.spec.fqdn ?? `${hub.metadata.name ?? 'hub'}.${objects.namespace}.relay.local`;
  const tlsSecret = spec.tls?.secretName || hub.spec.tls?.secretName || '';
  let files: TlsFiles | null = null;
  if (tlsSecret) {
    const check = requireSecretKeys(objects, spec.tls?.secretName ? 'spec.tls.secretName' : `RelayHub ${hub.metadata.name ?? ''} spec.tls.secretName`, tlsSecret, ['tls.crt', 'tls.key']);
    if (!check.ok) return { ok: false, field: check.field, rule: 'missingSecret', message: check.message };
    files = { certFile: options.secretFile(tlsSecret, 'tls.crt'), keyFile: options.secretFile(tlsSecret, 'tls.key') };
  }
  if (spec.tls?.requireTLS && !files) {
    return { ok: false, field: 'spec.tls.requireTLS', rule: 'requireTLSNeedsCertificate', message: 'tls.requireTLS needs a certificate: set spec.tls.secretName or the hub\'s tls.secretName' };
  }
  let clientCAFile: string | null = null;
  if (spec.tls?.clientCASecretName) {
    const check = requireSecretKeys(objects, 'spec.tls.clientCASecretName', spec.tls.clientCASecretName, ['ca.crt']);
    if (!check.ok) return { ok: false, field: check.field, rule: 'missingSecret', message: check.message };
    clientCAFile = options.secretFile(spec.tls.clientCASecretName, 'ca.crt');
  }
  let limits: ConnectorConfig['limits'];
  try {
    limits = limitsOf(spec.limits);
  } catch (error) {
    return { ok: false, field: 'spec.limits', rule: 'limitValue', message: (error as Error).message };
  }
  return {
    ok: true,
    config: {
      id,
      name: connector.metadata.name ?? '',
      createdAt: connector.metadata.creationTimestamp ?? '',
      fqdn,
      banner: spec.banner ?? `220 ${fqdn} ESMTP relay ready`,
      usage: spec.usage,
      remoteIPRanges: spec.remoteIPRanges ?? [],
      permissionGroups: spec.permissionGroups ?? [],
      authMechanisms: spec.authMechanisms ?? [],
      permissions: (spec.permissions ?? []).map((p) => ({ principal: p.principal as Principal, allow: p.allow ?? [], deny: p.deny ?? [] })),
      limits,
      tls: { files, requireTLS: spec.tls?.requireTLS ?? false, clientCAFile },
      protocolLogging: spec.protocolLogging ?? 'Verbose',
      bareLineFeeds: spec.bareLineFeeds ?? 'Normalize',
      requireEHLODomain: spec.requireEHLODomain ?? false,
      ...(spec.senderCheck?.headerFrom ? { senderCheck: { headerFrom: spec.senderCheck.headerFrom } } : {}),
    },
  };
}

/**
 * remoteIPRangeProblem - the first entry the relay's parser refuses. The CRD's CEL checks only
 * the syntax it can afford per entry (a reversed IPv6 range such as "2001:db8::ff-2001:db8::1"
 * passes it); such an entry would make the conflict check and the relay's own index throw, so
 * the connector is left out here with the parser's rule (issue 12 item 6).
 */
function remoteIPRangeProblem(ranges: readonly string[]): { field: string; rule: string; message: string } | undefined {
  for (const [i, entry] of ranges.entries()) {
    try {
      parseRemoteIPRange(entry);
    } catch (error) {
      if (!(error instanceof RangeSyntaxError)) throw error;
      return { field: `spec.remoteIPRanges[${i}]`, rule: error.rule, message: error.message };
    }
  }
  return undefined;
}

/** listenerKeys - `addressName:port` of each binding, the key two connectors conflict on. */
export function listenerKeys(bindings: readonly ResolvedBinding[]): string[] {
  return bindings.map((b) => `${b.addressName}:${b.port}`);
}

/** receiveConnectorsOnHub - which ReceiveConnectors `hub` loads, and why the others are left out. */
export function receiveConnectorsOnHub(hub: RelayHub, objects: NamespaceObjects, options: RenderOptions, problems: RenderProblem[]): ReceiveConnectorsOnHub {
  const notLoadedStatuses: ConnectorOnHub[] = [];
  const hubName = hub.metadata.name ?? '';
  const hubsInOrder = [...objects.hubs].sort(byPrecedence);
  const candidates: Array<{ config: ConnectorConfig; bindings: ResolvedBinding[]; allowNarrowerConnectors: boolean }> = [];
  const generations = new Map<string, number>();

  // The relay's own connector precedence (range-index-build.ts), so render and the index agree.
  const precedenceKey = (c: ReceiveConnector) => ({ id: objectKey(objects.namespace, c.metadata.name), createdAt: c.metadata.creationTimestamp ?? '' });
  for (const connector of [...objects.receiveConnectors].sort((a, b) => compareConnectorPrecedence(precedenceKey(a), precedenceKey(b)))) {
    const spec = effectiveConnectorSpec(connector);
    if (spec.enabled === false || !selectsHub(spec, hub)) continue;
    const id = objectKey(objects.namespace, connector.metadata.name);
    const generation = connector.metadata.generation ?? 0;
    generations.set(id, generation);
    const notLoaded = (rule: string, field: string, message: string, reason?: string): void => {
      notLoadedStatuses.push({ connectorId: id, generation, hub: hubName, loaded: false, bindings: [], rule, message, ...(reason ? { reason } : {}) });
      problems.push({ object: `ReceiveConnector ${id}`, field, rule, message: `hub ${hubName}: ${message}` });
    };
    // Guardrails first: objects stored before the CRD's CEL rule, and standalone manifests,
    // reach render without the API server having seen them.
    const [guard] = connectorSecurityProblems(spec);
    if (guard) {
      notLoaded(guard.rule, guard.field, guard.message, guard.reason);
      continue;
    }
    const selectingHubs = hubsInOrder.filter((h) => selectsHub(spec, h));
    const resolved = (spec.bindings ?? []).map((b) => resolveBinding(b, hub, selectingHubs));
    const failed = resolved.find((r) => !r.ok);
    if (failed && !failed.ok) {
      notLoaded(failed.rule, 'spec.bindings', failed.message);
      continue;
    }
    const built = connectorConfig(connector, hub, objects, options);
    if (!built.ok) {
      notLoaded(built.rule, built.field, built.message);
      continue;
    }
    const badRange = remoteIPRangeProblem(built.config.remoteIPRanges);
    if (badRange) {
      notLoaded(badRange.rule, badRange.field, badRange.message);
      continue;
    }
    candidates.push({ config: built.config, bindings: resolved.flatMap((r) => (r.ok ? [r.binding] : [])), allowNarrowerConnectors: spec.allowNarrowerConnectors === true });
  }

  const conflicts = findListenerConflicts(candidates.map((c) => ({ id: c.config.id, createdAt: c.config.createdAt, ranges: c.config.remoteIPRanges, listeners: listenerKeys(c.bindings) })));
  for (const [id, conflict] of conflicts) {
    const message = `conflicts with ${conflict.conflictsWith} on listener ${conflict.listener}: ${conflict.reason}`;
    notLoadedStatuses.push({ connectorId: id, generation: generations.get(id) ?? 0, hub: hubName, loaded: false, bindings: [], rule: 'connectorConflict', message, conflictsWith: conflict.conflictsWith });
    problems.push({ object: `ReceiveConnector ${id}`, field: 'spec.remoteIPRanges', rule: 'connectorConflict', message: `hub ${hubName}: ${message}` });
  }
  // Among what the listener conflicts left: a connector that narrows another to grant more.
  const narrowers = findNarrowerConnectors(candidates.filter((c) => !conflicts.has(c.config.id)).map((c) => ({ id: c.config.id, config: c.config, allowNarrowerConnectors: c.allowNarrowerConnectors, listeners: listenerKeys(c.bindings) })));
  for (const [id, narrower] of narrowers) {
    notLoadedStatuses.push({ connectorId: id, generation: generations.get(id) ?? 0, hub: hubName, loaded: false, bindings: [], rule: SecurityRule.narrowerConnectorGrantsMore, message: narrower.message, conflictsWith: narrower.conflictsWith, reason: SecurityReason.NarrowerConnectorGrantsMore });
    problems.push({ object: `ReceiveConnector ${id}`, field: 'spec.remoteIPRanges', rule: SecurityRule.narrowerConnectorGrantsMore, message: `hub ${hubName}: ${narrower.message}` });
  }
  const loaded = candidates.filter((c) => !conflicts.has(c.config.id) && !narrowers.has(c.config.id)).map(({ config, bindings }) => ({ config, bindings }));
  return { loaded, notLoaded: notLoadedStatuses, generations };
}

/*
 * operator/render/render - manifests of one namespace -> the rendered config of one hub (pure).
 *
 * The one render every entry point uses (controller, `hub`, `render`, `explain`, `validate`).
 * It never throws on bad input: a connector that cannot be loaded on this hub (unknown address
 * name, missing Secret, conflict with an earlier connector) is left out whole, never half
 * applied, and reported in `connectors` with a rule and a message a person can act on.
 */
import { hashConfig } from '../../relay/config/load.ts';
import type {
  AcceptedDomainConfig, ConnectorConfig, ListenerConfig, RenderedConfig, SendConnectorConfig, TlsFiles, Principal, HubSettings,
} from '../../relay/config/schema.ts';
import { RENDERED_CONFIG_API_VERSION } from '../../relay/config/schema.ts';
import type { ReceiveConnector, RelayHub } from '../api/types.generated.ts';
import { LIMIT_DEFAULTS, QUEUE_MAX_DATA_MEMORY_DEFAULT, QUEUE_MIN_FREE_SPACE_DEFAULT, RETRY_DEFAULTS, SEND_CONNECTOR_MAX_MESSAGE_SIZE_DEFAULT, USAGE_PRESETS, type Usage } from '../api/defaults.ts';
import { parseDuration, parseQuantity } from '../api/units.ts';
import { hubAddresses, resolveBinding, type ResolvedBinding } from './bindings.ts';
import { findListenerConflicts, findNarrowerConnectors } from './conflicts.ts';
import { compareConnectorPrecedence } from '../../relay/listener/range-index-build.ts';
import { connectorSecurityProblems, domainPublicSuffixProblem, SecurityReason, SecurityRule } from './security.ts';
import { objectKey, secretValue, type NamespaceObjects } from './inputs.ts';
import { byPrecedence, selectsHub } from './selection.ts';
import { canonicalDomainPattern } from '../../relay/delivery/address-canonical.ts';
import { LOGON_LOCKOUT_DEFAULTS } from '../../relay/session/rate-limits.ts';

/** Where the relay finds the data of a Secret key (a mounted volume, or files standalone mode wrote). */
export type SecretFileResolver = (secretName: string, key: string) => string;

export interface ConnectorOnHub {
  connectorId: string;
  /** metadata.generation of the connector this render saw. */
  generation: number;
  hub: string;
  loaded: boolean;
  bindings: string[];
  /** Stable rule name when not loaded (conflict, unknownHubAddress, missingSecret, ...). */
  rule?: string;
  message?: string;
  /** For conflicts: the connector that keeps the listener. */
  conflictsWith?: string;
  /**
   * CamelCase condition reason for the connector's Ready (and Conflicted) status when a
   * security guardrail left it out (NarrowerConnectorGrantsMore, OpenRelayNotAllowed,
   * ProtocolLoggingRequired); absent for the other rules.
   */
  reason?: string;
}

export interface RenderProblem {
  object: string;
  field: string;
  rule: string;
  message: string;
}

export interface RenderResult {
  config: RenderedConfig;
  hash: string;
  connectors: ConnectorOnHub[];
  problems: RenderProblem[];
}

export interface RenderOptions {
  secretFile: SecretFileResolver;
  /**
   * standalone (default): bind every listener literally (`relay-operator hub`). pod: bind
   * 0.0.0.0 on one container port per listener, POD_LISTENER_PORT_BASE upwards in listener
   * order, so the pod knows which hub address and port a connection reached through the
   * Service that targets that container port.
   */
  mode?: 'standalone' | 'pod';
}

export const POD_LISTENER_PORT_BASE = 2525;

function limitsOf(spec: ReceiveConnector['spec']): ConnectorConfig['limits'] {
  const l = { ...LIMIT_DEFAULTS, ...(spec.limits ?? {}) };
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

function logonLockoutOf(lockout: NonNullable<NonNullable<RelayHub['spec']['users']>['lockout']>): NonNullable<HubSettings['logonLockout']> {
  return {
    maxFailuresPerSource: lockout.maxFailuresPerSource ?? LOGON_LOCKOUT_DEFAULTS.maxFailuresPerSource,
    maxFailuresPerUser: lockout.maxFailuresPerUser ?? LOGON_LOCKOUT_DEFAULTS.maxFailuresPerUser,
    windowMs: lockout.window !== undefined ? parseDuration(lockout.window) : LOGON_LOCKOUT_DEFAULTS.windowMs,
  };
}

type SecretCheck = { ok: true } | { ok: false; field: string; message: string };

function requireSecretKeys(objects: NamespaceObjects, field: string, name: string, keys: string[]): SecretCheck {
  for (const key of keys) {
    if (secretValue(objects, name, key) === undefined) {
      const exists = objects.secrets.some((s) => s.metadata.name === name);
      return { ok: false, field, message: exists ? `Secret ${name} has no key "${key}"` : `Secret ${name} not found in namespace ${objects.namespace}` };
    }
  }
  return { ok: true };
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
    limits = limitsOf(spec);
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

function sendConnectorConfigs(hub: RelayHub, objects: NamespaceObjects, options: RenderOptions, problems: RenderProblem[]): SendConnectorConfig[] {
  const out: SendConnectorConfig[] = [];
  for (const send of [...objects.sendConnectors].sort(byPrecedence)) {
    const spec = send.spec;
    const selectsNothing = (spec.hubs ?? []).length === 0 && spec.hubSelector === undefined;
    if (!selectsNothing && !selectsHub(spec, hub)) continue;
    const id = objectKey(objects.namespace, send.metadata.name);
    let authFile: string | null = null;
    if (spec.authentication?.secretName) {
      const check = requireSecretKeys(objects, 'spec.authentication.secretName', spec.authentication.secretName, ['username', 'password']);
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
      maxMessageSize: parseQuantity(spec.maxMessageSize ?? SEND_CONNECTOR_MAX_MESSAGE_SIZE_DEFAULT),
    });
  }
  return out;
}

/** renderHub - the rendered relay config of one hub, with what could not be loaded and why. */
export function renderHub(hub: RelayHub, objects: NamespaceObjects, options: RenderOptions): RenderResult {
  const problems: RenderProblem[] = [];
  const statuses: ConnectorOnHub[] = [];
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
      statuses.push({ connectorId: id, generation, hub: hubName, loaded: false, bindings: [], rule, message, ...(reason ? { reason } : {}) });
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
    candidates.push({ config: built.config, bindings: resolved.flatMap((r) => (r.ok ? [r.binding] : [])), allowNarrowerConnectors: spec.allowNarrowerConnectors === true });
  }

  const listenerKeys = (c: { bindings: ResolvedBinding[] }): string[] => c.bindings.map((b) => `${b.addressName}:${b.port}`);
  const conflicts = findListenerConflicts(candidates.map((c) => ({ id: c.config.id, createdAt: c.config.createdAt, ranges: c.config.remoteIPRanges, listeners: listenerKeys(c) })));
  for (const [id, conflict] of conflicts) {
    const message = `conflicts with ${conflict.conflictsWith} on listener ${conflict.listener}: ${conflict.reason}`;
    statuses.push({ connectorId: id, generation: generations.get(id) ?? 0, hub: hubName, loaded: false, bindings: [], rule: 'connectorConflict', message, conflictsWith: conflict.conflictsWith });
    problems.push({ object: `ReceiveConnector ${id}`, field: 'spec.remoteIPRanges', rule: 'connectorConflict', message: `hub ${hubName}: ${message}` });
  }
  // Among what the listener conflicts left: a connector that narrows another to grant more.
  const narrowers = findNarrowerConnectors(candidates.filter((c) => !conflicts.has(c.config.id)).map((c) => ({ id: c.config.id, config: c.config, allowNarrowerConnectors: c.allowNarrowerConnectors, listeners: listenerKeys(c) })));
  for (const [id, narrower] of narrowers) {
    statuses.push({ connectorId: id, generation: generations.get(id) ?? 0, hub: hubName, loaded: false, bindings: [], rule: SecurityRule.narrowerConnectorGrantsMore, message: narrower.message, conflictsWith: narrower.conflictsWith, reason: SecurityReason.NarrowerConnectorGrantsMore });
    problems.push({ object: `ReceiveConnector ${id}`, field: 'spec.remoteIPRanges', rule: SecurityRule.narrowerConnectorGrantsMore, message: `hub ${hubName}: ${narrower.message}` });
  }
  const loaded = candidates.filter((c) => !conflicts.has(c.config.id) && !narrowers.has(c.config.id));

  const addresses = hubAddresses(hub);
  const listeners = new Map<string, ListenerConfig>();
  for (const { config, bindings } of loaded) {
    for (const binding of bindings) {
      const key = `${binding.addressName}:${binding.port}`;
      let listener = listeners.get(key);
      if (!listener) {
        const address = addresses.find((a) => a.name === binding.addressName);
        const literal = binding.addressName.startsWith('ip-') && !address ? bindingHost(binding.binding) : null;
        const bindAddress = address?.ip ?? literal ?? '0.0.0.0';
        const endpointHost = bindAddress.includes(':') ? `[${bindAddress}]` : bindAddress;
        listener = { addressName: binding.addressName, bindAddress, port: binding.port, servicePort: binding.port, endpoint: `${endpointHost}:${binding.port}`, connectorIds: [] };
        listeners.set(key, listener);
      }
      if (!listener.connectorIds.includes(config.id)) listener.connectorIds.push(config.id);
    }
  }

  const sortedListeners = [...listeners.values()].sort((a, b) => a.addressName.localeCompare(b.addressName) || a.servicePort - b.servicePort);
  if (options.mode === 'pod') {
    sortedListeners.forEach((listener, i) => {
      const address = addresses.find((a) => a.name === listener.addressName);
      const host = address?.ip ?? (listener.bindAddress !== '0.0.0.0' ? listener.bindAddress : listener.addressName);
      listener.endpoint = `${host.includes(':') ? `[${host}]` : host}:${listener.servicePort}`;
      // '::' takes IPv4 and IPv6 alike (IPv4 arrives as ::ffff:a.b.c.d), so one pod serves a
      // dual-stack Service; a pod without IPv6 falls back to 0.0.0.0 (relay/listener).
      listener.bindAddress = '::';
      listener.port = POD_LISTENER_PORT_BASE + i;
    });
  }

  for (const { config, bindings } of loaded) {
    statuses.push({ connectorId: config.id, generation: generations.get(config.id) ?? 0, hub: hubName, loaded: true, bindings: bindings.map((b) => listeners.get(`${b.addressName}:${b.port}`)?.endpoint ?? b.binding) });
  }

  // A domain at or above a public suffix would make the hub relay to other people's domains
  // without any relay right: it is left out (its status says PublicSuffixDomain).
  const acceptedDomains: AcceptedDomainConfig[] = [...objects.acceptedDomains].sort(byPrecedence).filter((d) => {
    const problem = domainPublicSuffixProblem(d.spec.domainName);
    if (problem) problems.push({ object: `AcceptedDomain ${objectKey(objects.namespace, d.metadata.name)}`, field: problem.field, rule: problem.rule, message: problem.message });
    return problem === null;
  }).map((d) => ({
    domain: canonicalDomainPattern(d.spec.domainName) ?? d.spec.domainName.toLowerCase(),
    type: d.spec.domainType ?? 'Authoritative',
    default: d.spec.default ?? false,
  }));

  const retry = { ...RETRY_DEFAULTS, ...(hub.spec.queue?.retry ?? {}) };
  let usersFile: string | null = null;
  if (hub.spec.users?.secretName) {
    const check = requireSecretKeys(objects, 'spec.users.secretName', hub.spec.users.secretName, ['users']);
    if (check.ok) usersFile = options.secretFile(hub.spec.users.secretName, 'users');
    else problems.push({ object: `RelayHub ${objectKey(objects.namespace, hubName)}`, field: check.field, rule: 'missingSecret', message: check.message });
  }
  let hubTls: TlsFiles | null = null;
  if (hub.spec.tls?.secretName) {
    const check = requireSecretKeys(objects, 'spec.tls.secretName', hub.spec.tls.secretName, ['tls.crt', 'tls.key']);
    if (check.ok) hubTls = { certFile: options.secretFile(hub.spec.tls.secretName, 'tls.crt'), keyFile: options.secretFile(hub.spec.tls.secretName, 'tls.key') };
    else problems.push({ object: `RelayHub ${objectKey(objects.namespace, hubName)}`, field: check.field, rule: 'missingSecret', message: check.message });
  }

  const config: RenderedConfig = {
    apiVersion: RENDERED_CONFIG_API_VERSION,
    hub: {
      name: hubName,
      namespace: objects.namespace,
      fqdn: hub.spec.fqdn ?? `${hubName}.${objects.namespace}.relay.local`,
      trustedProxies: hub.spec.proxyProtocol?.trustedProxies ?? [],
      tls: hubTls,
      usersFile,
      // Only when set: a hub without it runs the defaults and keeps the config hash it had.
      ...(hub.spec.users?.lockout ? { logonLockout: logonLockoutOf(hub.spec.users.lockout) } : {}),
      antiSpam: { spf: hub.spec.antiSpam?.spf ?? true, dnsbl: hub.spec.antiSpam?.dnsbl ?? [] },
      retry: {
        minBackoffMs: parseDuration(retry.minBackoff),
        maxBackoffMs: parseDuration(retry.maxBackoff),
        maxAgeMs: parseDuration(retry.maxAge),
        delayNotificationMs: parseDuration(retry.delayNotification),
      },
      spool: {
        minFreeBytes: parseQuantity(hub.spec.queue?.minFreeSpace ?? QUEUE_MIN_FREE_SPACE_DEFAULT),
        maxDataMemoryBytes: parseQuantity(hub.spec.queue?.maxDataMemory ?? QUEUE_MAX_DATA_MEMORY_DEFAULT),
      },
    },
    connectors: loaded.map((c) => c.config),
    listeners: sortedListeners,
    acceptedDomains,
    sendConnectors: sendConnectorConfigs(hub, objects, options, problems),
  };
  return { config, hash: configHash(config), connectors: statuses, problems };
}

function bindingHost(binding: string): string {
  const withoutPort = binding.slice(0, binding.lastIndexOf(':'));
  return withoutPort.startsWith('[') ? withoutPort.slice(1, -1) : withoutPort;
}

/** configHash - the hash the relay reports for this config (relay/config/load.ts). */
export function configHash(config: RenderedConfig): string {
  return hashConfig(config);
}

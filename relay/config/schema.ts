/*
 * relay/config/schema - the rendered relay config: the contract between operator and relay.
 *
 * The operator (or `relay-operator hub` in standalone mode) renders manifests into one
 * RenderedConfig per hub; the relay runs from it and knows nothing of Kubernetes. Every
 * value here is already defaulted and resolved: sizes in bytes, times in milliseconds,
 * usage presets applied, Secrets turned into file paths. The schema is versioned by
 * `apiVersion`; a relay refuses a version it does not know. A field may join a version only
 * when a relay reading a file without it does what the default would (the relay fills it in),
 * as hub.retry.delayNotificationMs and hub.spool do; any other change needs a new apiVersion.
 */

export const RENDERED_CONFIG_API_VERSION = 'relay.relayoperator.io/v1';

export const RIGHTS = [
  'Submit',
  'AcceptAnyRecipient',
  'AcceptAnySender',
  'AcceptAuthoritativeDomainSender',
  'BypassAntiSpam',
  'BypassMessageSizeLimit',
  'AcceptRoutingHeaders',
  'AcceptOrganizationHeaders',
  'AcceptAuthenticationFlag',
] as const;
export type Right = (typeof RIGHTS)[number];

export const PERMISSION_GROUPS = ['AnonymousUsers', 'AuthenticatedUsers', 'TrustedServers', 'Partners'] as const;
export type PermissionGroup = (typeof PERMISSION_GROUPS)[number];

export const AUTH_MECHANISMS = ['None', 'TLS', 'BasicAuth', 'BasicAuthRequireTLS', 'ExternalAuthoritative', 'MutualTLS'] as const;
export type AuthMechanism = (typeof AUTH_MECHANISMS)[number];

export const PRINCIPAL_KINDS = ['Anonymous', 'Authenticated', 'TrustedServers', 'Partners'] as const;
/** A principal: one of PRINCIPAL_KINDS or `user:NAME`. */
export type Principal = (typeof PRINCIPAL_KINDS)[number] | `user:${string}`;

export interface PermissionEntry {
  principal: Principal;
  allow: Right[];
  deny: Right[];
}

/** Connector limits, resolved: bytes, counts, milliseconds. 0 means unlimited where the API says so. */
export interface ConnectorLimits {
  maxMessageSize: number;
  maxRecipientsPerMessage: number;
  maxInboundConnections: number;
  maxInboundConnectionsPerSource: number;
  maxInboundConnectionPercentagePerSource: number;
  messageRateLimit: number;
  messageRateSource: 'IPAddress' | 'User' | 'All';
  connectionTimeoutMs: number;
  connectionInactivityTimeoutMs: number;
  tarpitIntervalMs: number;
  maxHopCount: number;
  maxLocalHopCount: number;
  maxHeaderSize: number;
  maxProtocolErrors: number;
  maxLogonFailures: number;
  greetDelayMs: number;
  /** Longest wait for the anti-spam DNS lookups of one message (spec.limits.dnsLookupTimeout). */
  dnsLookupTimeoutMs: number;
}

/** PEM files as mounted in the pod (or written by standalone mode). */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface ConnectorConfig {
  /** `namespace/name` of the ReceiveConnector; the connector-id in logs. */
  id: string;
  name: string;
  /** creationTimestamp (RFC 3339) and uid order conflicts: the earlier connector wins. */
  createdAt: string;
  fqdn: string;
  banner: string;
  usage: 'Custom' | 'Internet' | 'Internal' | 'Client' | 'Partner';
  remoteIPRanges: string[];
  permissionGroups: PermissionGroup[];
  authMechanisms: AuthMechanism[];
  permissions: PermissionEntry[];
  limits: ConnectorLimits;
  tls: { files: TlsFiles | null; requireTLS: boolean; clientCAFile: string | null };
  protocolLogging: 'Verbose' | 'None';
  bareLineFeeds: 'Normalize' | 'Reject';
  requireEHLODomain: boolean;
  /** spec.senderCheck; absent = the defaults (headerFrom Enforce), so older rendered configs keep their hash. */
  senderCheck?: { headerFrom: 'Enforce' | 'Off' };
}

/** One (address, port) of a hub and the connectors bound there. */
export interface ListenerConfig {
  /** Hub address name (`default`, `relay`, ...). */
  addressName: string;
  /** What the relay binds: a literal IP in standalone mode, `0.0.0.0` in a pod. */
  bindAddress: string;
  /** The port the relay binds (in a pod: the container port this listener's Service targets). */
  port: number;
  /** The port clients dial (the binding's port; equals `port` in standalone mode). */
  servicePort: number;
  /** The address:port clients dial (the Service IP); shown in logs and explain. */
  endpoint: string;
  connectorIds: string[];
}

export interface AcceptedDomainConfig {
  domain: string;
  type: 'Authoritative' | 'InternalRelay' | 'ExternalRelay';
  default: boolean;
}

export interface SendConnectorConfig {
  id: string;
  addressSpaces: Array<{ domain: string; cost: number }>;
  smartHosts: string[];
  dropDirectory: string | null;
  port: number;
  fqdn: string;
  tls: { mode: 'None' | 'Opportunistic' | 'Required'; verify: boolean };
  authFile: string | null;
  maxMessageSize: number;
}

export interface HubSettings {
  name: string;
  namespace: string;
  fqdn: string;
  trustedProxies: string[];
  tls: TlsFiles | null;
  /** htpasswd-style file: `name:bcrypt-hash[:addr,addr...]` per line. */
  usersFile: string | null;
  /**
   * RelayHub spec.users.lockout: failed AUTH per source and per user name across sessions
   * (relay/session/rate-limits.ts LogonLockout). Absent = the defaults, so older rendered
   * configs keep their hash.
   */
  logonLockout?: { maxFailuresPerSource: number; maxFailuresPerUser: number; windowMs: number };
  antiSpam: { spf: boolean; dnsbl: string[] };
  retry: RetryConfig;
  /** Came after the first v1 relays; a file without it means the spool's defaults. */
  spool?: SpoolConfig;
  /**
   * RelayHub spec.trackingLog: how long and how much of the tracking log the spool volume keeps
   * (`<spool>/tracking/`, relay/log/tracking-log-file.ts). Came after the first v1 relays;
   * absent = the defaults (relay/config/settings.ts), so older rendered configs keep their hash.
   */
  trackingLog?: TrackingLogConfig;
}

/** The tracking log's retention on the spool volume (Exchange's MessageTrackingLogMaxAge and MaxDirectorySize). */
export interface TrackingLogConfig {
  maxAgeMs: number;
  maxSizeBytes: number;
}

/** The spool's settings that an administrator sets (relay/spool/options.ts has the rest). */
export interface SpoolConfig {
  /** Free space kept in reserve: a commit that would leave less is refused with 452 4.3.1. */
  minFreeBytes: number;
  /**
   * DATA bytes all sessions may hold in memory together (RelayHub spec.queue.maxDataMemory);
   * a message that would need more gets 451 4.3.1. Came after minFreeBytes: absent means the
   * default (relay/config/settings.ts).
   */
  maxDataMemoryBytes?: number;
}

/**
 * The queue's retry schedule (relay/queue/retry-schedule.ts). delayNotificationMs came after
 * the first v1 relays; a file without it means the default (4 h), so it stays within v1.
 */
export interface RetryConfig {
  minBackoffMs: number;
  maxBackoffMs: number;
  /** Undelivered after this long: the final attempt, then a failure DSN (4.4.7). */
  maxAgeMs: number;
  /** Queued this long: one `delayed` DSN per recipient that allows it; 0 = never. */
  delayNotificationMs: number;
}

export interface RenderedConfig {
  apiVersion: typeof RENDERED_CONFIG_API_VERSION;
  hub: HubSettings;
  connectors: ConnectorConfig[];
  listeners: ListenerConfig[];
  acceptedDomains: AcceptedDomainConfig[];
  sendConnectors: SendConnectorConfig[];
}

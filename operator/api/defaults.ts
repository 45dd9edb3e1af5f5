/*
 * operator/api/defaults - usage presets and limit defaults of the API contract.
 *
 * One table each, as Exchange documents them; the renderer applies them only to fields
 * the user left empty, so an explicit value always wins.
 */
import type { AuthMechanism, PermissionGroup } from '../../relay/config/schema.ts';

export type Usage = 'Custom' | 'Internet' | 'Internal' | 'Client' | 'Partner';

export interface UsagePreset {
  permissionGroups: PermissionGroup[];
  authMechanisms: AuthMechanism[];
  remoteIPRanges: string[];
  bindings: string[];
}

export const USAGE_PRESETS: Record<Usage, UsagePreset> = {
  Custom: { permissionGroups: [], authMechanisms: ['TLS'], remoteIPRanges: [], bindings: [] },
  Internet: { permissionGroups: ['AnonymousUsers'], authMechanisms: ['TLS'], remoteIPRanges: ['0.0.0.0/0', '::/0'], bindings: [] },
  Internal: { permissionGroups: ['TrustedServers'], authMechanisms: ['TLS', 'MutualTLS'], remoteIPRanges: [], bindings: [] },
  Client: { permissionGroups: ['AuthenticatedUsers'], authMechanisms: ['TLS', 'BasicAuth', 'BasicAuthRequireTLS'], remoteIPRanges: [], bindings: ['0.0.0.0:587'] },
  Partner: { permissionGroups: ['Partners'], authMechanisms: ['TLS'], remoteIPRanges: [], bindings: [] },
};

/** Connector limits as written in the API (quantities and durations), Exchange's defaults. */
export const LIMIT_DEFAULTS = {
  maxMessageSize: '36Mi',
  maxRecipientsPerMessage: 200,
  maxInboundConnections: 5000,
  maxInboundConnectionsPerSource: 20,
  maxInboundConnectionPercentagePerSource: 2,
  messageRateLimit: 0,
  messageRateSource: 'IPAddress',
  connectionTimeout: '10m',
  connectionInactivityTimeout: '5m',
  tarpitInterval: '5s',
  maxHopCount: 30,
  maxLocalHopCount: 8,
  maxHeaderSize: '256Ki',
  maxProtocolErrors: 5,
  maxLogonFailures: 3,
  greetDelay: '0s',
  dnsLookupTimeout: '5s',
} as const;

/** RelayHub.spec.queue.minFreeSpace default: the spool's free-space reserve. */
export const QUEUE_MIN_FREE_SPACE_DEFAULT = '64Mi';
/** RelayHub.spec.queue.maxDataMemory default: DATA bytes all sessions may hold in memory (relay/session/data-sink.ts). */
export const QUEUE_MAX_DATA_MEMORY_DEFAULT = '64Mi';
/** Postfix's backoff and lifetime; the delay notice after 4h is Exchange's DelayNotificationTimeout. */
export const RETRY_DEFAULTS = { minBackoff: '5m', maxBackoff: '67m', maxAge: '5d', delayNotification: '4h' } as const;
export const SEND_CONNECTOR_MAX_MESSAGE_SIZE_DEFAULT = '36Mi';
export const DEFAULT_ADDRESS_NAME = 'default';

/*
 * test/support/session-fixtures - rendered-config builders shared by the session module tests.
 *
 * Job: a ConnectorConfig with sane, fully defaulted values that each test overrides in part.
 * Trust: test-only; only tests import this file.
 * Failure modes: none; values mirror the api.md defaults (36Mi, 200 recipients, 5000 conns).
 */
import type { AcceptedDomainConfig, ConnectorConfig, ConnectorLimits } from '../../relay/config/schema.ts';

export const DEFAULT_LIMITS: ConnectorLimits = {
  maxMessageSize: 36 * 1024 * 1024,
  maxRecipientsPerMessage: 200,
  maxInboundConnections: 5000,
  maxInboundConnectionsPerSource: 20,
  maxInboundConnectionPercentagePerSource: 2,
  messageRateLimit: 0,
  messageRateSource: 'IPAddress',
  connectionTimeoutMs: 600_000,
  connectionInactivityTimeoutMs: 300_000,
  tarpitIntervalMs: 5_000,
  maxHopCount: 30,
  maxLocalHopCount: 8,
  maxHeaderSize: 256 * 1024,
  maxProtocolErrors: 5,
  maxLogonFailures: 3,
  greetDelayMs: 0,
  dnsLookupTimeoutMs: 5_000,
};

export type ConnectorOverrides = Partial<Omit<ConnectorConfig, 'limits'>> & { limits?: Partial<ConnectorLimits> };

export function connector(overrides: ConnectorOverrides = {}): ConnectorConfig {
  const { limits, ...rest } = overrides;
  return {
    id: 'mail/test',
    name: 'test',
    createdAt: '2025-01-01T00:00:00Z',
    fqdn: 'relay.example.net',
    banner: '220 relay.example.net ready',
    usage: 'Custom',
    remoteIPRanges: ['0.0.0.0/0'],
    permissionGroups: [],
    authMechanisms: ['TLS'],
    permissions: [],
    tls: { files: null, requireTLS: false, clientCAFile: null },
    protocolLogging: 'Verbose',
    bareLineFeeds: 'Normalize',
    requireEHLODomain: false,
    ...rest,
    limits: { ...DEFAULT_LIMITS, ...limits },
  };
}

export const ACCEPTED_DOMAINS: AcceptedDomainConfig[] = [
  { domain: 'contoso.com', type: 'Authoritative', default: true },
  { domain: '*.fabrikam.com', type: 'InternalRelay', default: false },
  { domain: 'partner.example', type: 'ExternalRelay', default: false },
  { domain: 'münchen.de', type: 'Authoritative', default: false },
];

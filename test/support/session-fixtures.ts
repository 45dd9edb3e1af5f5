/*
 * test/support/session-fixtures - rendered-config builders shared by the session module tests.
 *
 * Job: a ConnectorConfig with sane, fully defaulted values that each test overrides in part.
 * Trust: test-only; only tests import this file.
 * Failure modes: none; the limits are render's own defaults (limitsOf), so they cannot drift from api.md.
 */
import type { AcceptedDomainConfig, ConnectorConfig, ConnectorLimits } from '../../relay/config/schema.ts';
import { limitsOf } from '../../operator/render/receive-connectors.ts';

/** The limits render gives a connector that sets none (the API defaults of operator/api/defaults.ts). */
export const DEFAULT_LIMITS: ConnectorLimits = limitsOf(undefined);

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

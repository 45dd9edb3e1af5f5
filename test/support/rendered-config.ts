/*
 * test/support/rendered-config - rendered-config builders shared by the delivery tests.
 *
 * Job: a SendConnectorConfig and a RenderedConfig with sane defaults that each test
 * overrides in part. Trust: test-only; nothing in the relay imports this file.
 */
import { RENDERED_CONFIG_API_VERSION, type RenderedConfig, type RetryConfig, type SendConnectorConfig } from '../../relay/config/schema.ts';

export function sendConnector(overrides: Partial<SendConnectorConfig> & Pick<SendConnectorConfig, 'id'>): SendConnectorConfig {
  return {
    addressSpaces: [{ domain: '*', cost: 1 }],
    smartHosts: [],
    dropDirectory: null,
    port: 25,
    fqdn: 'hub.relay.test',
    tls: { mode: 'Opportunistic', verify: false },
    authFile: null,
    maxMessageSize: 36 * 1024 * 1024,
    ...overrides,
  };
}

/** Short backoff, a minute to live, no delay notices: the tests that want them set delayNotificationMs. */
const TEST_RETRY: RetryConfig = { minBackoffMs: 50, maxBackoffMs: 200, maxAgeMs: 60_000, delayNotificationMs: 0 };

export function renderedConfig(sendConnectors: SendConnectorConfig[], overrides: Partial<RetryConfig> = {}): RenderedConfig {
  const retry = { ...TEST_RETRY, ...overrides };
  return {
    apiVersion: RENDERED_CONFIG_API_VERSION,
    hub: {
      name: 'hub', namespace: 'mail', fqdn: 'hub.relay.test', trustedProxies: [], tls: null, usersFile: null,
      antiSpam: { spf: false, dnsbl: [] }, retry,
    },
    connectors: [],
    listeners: [],
    acceptedDomains: [
      { domain: 'relay.test', type: 'Authoritative', default: true },
      { domain: 'other.test', type: 'Authoritative', default: false },
    ],
    sendConnectors,
  };
}

/**
 * smartHostWithDsnDrop - everything to `smartHosts` (plaintext), except the sender's domain
 * corp.test, which goes to a drop directory: DSNs to app@corp.test are read there as files.
 */
export function smartHostWithDsnDrop(smartHosts: string[], dropDir: string, retry: Partial<RetryConfig> = {}): RenderedConfig {
  return renderedConfig([
    sendConnector({ id: 'mail/smart', smartHosts, tls: { mode: 'None', verify: false } }),
    sendConnector({ id: 'mail/dsn-drop', addressSpaces: [{ domain: 'corp.test', cost: 1 }], dropDirectory: dropDir }),
  ], retry);
}

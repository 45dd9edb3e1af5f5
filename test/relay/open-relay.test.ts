/*
 * test/relay/open-relay - issue 17 item 3 against a live standalone hub: one new connector may no
 * longer take over the clients of a usage Internet connector and relay for them.
 *
 * Hub "policy-hub" on 127.0.0.47, three listeners, each with a usage Internet connector
 * (0.0.0.0/0 and ::/0, AnonymousUsers: no relay):
 *   takeover  + the connector of the issue: 0.0.0.0/1, 128.0.0.0/1, ::/1, 8000::/1,
 *               TrustedServers + ExternalAuthoritative, allowOpenRelay set by its author
 *               (protocolLogging None is refused before any hub starts: CEL, see validate tests)
 *   sneaky    + anonymous relay for 127.0.0.0/8 (narrow enough for allowOpenRelay not to apply)
 *   allowed   Internet connector with allowNarrowerConnectors, + anonymous relay for 127.0.9.0/24
 * A client at 127.0.9.x must get the Internet connector (550 5.7.54 outside the accepted
 * domains) on the first two, and relay on the third.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  freePort, plainMessage, sendMessage, startRelay, stopRelay, type ConnectorManifest, type HubProcess,
} from './support-policy.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const IP = '127.0.0.47';
const CLIENT = '127.0.9.20';
const ports = { takeover: 0, sneaky: 0, allowed: 0 };
let hub: HubProcess | undefined;

const limits = { tarpitInterval: '0s' };
const anonymousRelay = { permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }] };
const internet = (name: string, port: number, extra: Record<string, unknown> = {}): ConnectorManifest => ({
  name, createdAt: '2026-01-01T00:00:00Z', spec: { usage: 'Internet', bindings: [`${IP}:${port}`], banner: `220 ${name}.example.test Internet connector`, limits, ...extra },
});
const narrow = (name: string, port: number, spec: Record<string, unknown>): ConnectorManifest => ({
  name, createdAt: '2026-02-01T00:00:00Z', spec: { usage: 'Custom', bindings: [`${IP}:${port}`], banner: `220 ${name}.example.test narrow connector`, limits, ...spec },
});

before(async () => {
  for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await freePort(IP);
  hub = await startRelay({
    connectors: [
      internet('internet-takeover', ports.takeover),
      narrow('takeover', ports.takeover, {
        remoteIPRanges: ['0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1'], permissionGroups: ['TrustedServers'], authMechanisms: ['ExternalAuthoritative'], allowOpenRelay: true,
      }),
      internet('internet-sneaky', ports.sneaky),
      narrow('sneaky', ports.sneaky, { remoteIPRanges: ['127.0.0.0/8'], ...anonymousRelay }),
      internet('internet-allowed', ports.allowed, { allowNarrowerConnectors: true }),
      narrow('apps', ports.allowed, { remoteIPRanges: ['127.0.9.0/24'], ...anonymousRelay }),
    ],
    domains: [{ name: 'contoso', domainName: 'contoso.test', domainType: 'Authoritative', default: true }],
  });
});

after(() => stopRelay(hub));

/** The banner the client gets and the replies to one message for a recipient outside the accepted domains. */
async function tryRelay(port: number): Promise<{ banner: string; replies: string[] }> {
  const client = await SmtpClient.connect({ host: IP, port, localAddress: CLIENT });
  const greeting = client.greeting;
  assert.equal((await client.send('EHLO attacker.example.test')).code, 250);
  const replies = await sendMessage(client, 'spam@attacker.example', ['victim@elsewhere.example'], plainMessage('spam@attacker.example', 'victim@elsewhere.example', 'relay?'));
  await client.quit();
  return { banner: greeting.line, replies: replies.map((r) => r.line) };
}

describe('a narrower connector that grants more is not loaded', () => {
  test('the takeover of the issue: the client stays on the Internet connector and is refused relay', async () => {
    const { banner, replies } = await tryRelay(ports.takeover);
    assert.match(banner, /internet-takeover\.example\.test Internet connector/);
    assert.ok(replies.some((r) => r.startsWith('550 5.7.54')), `expected 550 5.7.54, got ${JSON.stringify(replies)}`);
    assert.ok(!replies.some((r) => /^250 2\.6\.0/.test(r)), `relayed: ${JSON.stringify(replies)}`);
  });

  test('anonymous relay for a /8 inside the Internet connector is refused too', async () => {
    const { banner, replies } = await tryRelay(ports.sneaky);
    assert.match(banner, /internet-sneaky\.example\.test/);
    assert.ok(replies.some((r) => r.startsWith('550 5.7.54')), `expected 550 5.7.54, got ${JSON.stringify(replies)}`);
  });

  test('the hub says why, naming the wider connector and the rule', () => {
    const warnings = (hub?.logs ?? []).filter((l) => l.log === 'app' && String(l.message).includes('narrowerConnectorGrantsMore'));
    assert.ok(warnings.some((l) => String(l.message).includes('relay-policy/takeover') && String(l.message).includes('relay-policy/internet-takeover')), JSON.stringify(warnings));
    assert.ok(warnings.some((l) => String(l.message).includes('relay-policy/sneaky')), JSON.stringify(warnings));
  });

  test('with allowNarrowerConnectors on the Internet connector, the legitimate narrow relay connector works', async () => {
    const { banner, replies } = await tryRelay(ports.allowed);
    assert.match(banner, /apps\.example\.test narrow connector/);
    assert.match(replies.at(-1) ?? '', /^250 2\.6\.0 /, JSON.stringify(replies));
  });
});

/*
 * test/relay/antispam-dns - DNS on the accept path of a live hub (issue 14, item 7).
 *
 * A standalone hub runs an anonymous relay connector (AnonymousUsers + AcceptAnyRecipient)
 * with SPF on; its DNS is a local test DNS server (test/support/dns-preload.ts). Proven here:
 * 100 messages from one sender domain, over parallel sessions, cost one DNS query; a dead
 * resolver holds a message no longer than the connector's dnsLookupTimeout, the message is
 * accepted with spf=temperror in its header, and the next messages do not wait at all.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startTestDnsServer, type TestDnsServer } from '../support/dns-server.ts';
import { removeHubDir, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { freePort, headerBlock, HUB, plainMessage, queuedMessages, relayManifests, sendMessage } from './support-policy.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const IP = '127.0.0.36';
const PRELOAD = fileURLToPath(new URL('../support/dns-preload.ts', import.meta.url));
let dnsServer: TestDnsServer | undefined;
let hub: HubProcess | undefined;
let port = 0;

before(async () => {
  dnsServer = await startTestDnsServer({
    'sender.example': { TXT: [['v=spf1 ip4:127.0.0.0/8 -all']], ttl: 300 },
    'other.example': { TXT: [['v=spf1 -all']], ttl: 300 },
  });
  port = await freePort(IP);
  const manifests = relayManifests({
    hubSpec: { antiSpam: { spf: true } },
    connectors: [
      {
        name: 'anonymous-relay',
        spec: {
          usage: 'Custom',
          bindings: [`${IP}:${port}`],
          remoteIPRanges: ['127.0.0.0/8'],
          permissionGroups: ['AnonymousUsers'],
          permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }],
          limits: { dnsLookupTimeout: '400ms' },
        },
      },
    ],
  });
  hub = await startHubProcess({ manifests, hub: HUB, env: { NODE_OPTIONS: `--import ${PRELOAD}`, RELAY_DNS_SERVERS: dnsServer.address } });
});

after(async () => {
  if (hub) {
    await hub.stop();
    removeHubDir(hub);
  }
  await dnsServer?.close();
});

async function session(): Promise<SmtpClient> {
  const client = await SmtpClient.connect({ host: IP, port, localAddress: '127.0.0.1' });
  const greeting = client.greeting;
  assert.equal(greeting.code, 220, greeting.line);
  assert.equal((await client.send('EHLO client.sender.example')).code, 250);
  return client;
}

test('100 messages from one sender domain over 5 parallel sessions cause one DNS query', async () => {
  assert.ok(hub && dnsServer);
  const before = dnsServer.queries.length;
  await Promise.all(
    Array.from({ length: 5 }, async (_, s) => {
      const client = await session();
      for (let i = 0; i < 20; i++) {
        const replies = await sendMessage(client, `app${s}@sender.example`, ['someone@remote.example'], plainMessage(`app${s}@sender.example`, 'someone@remote.example', `m${s}-${i}`));
        assert.equal(replies.at(-1)?.code, 250, replies.at(-1)?.line);
      }
      await client.quit();
    }),
  );
  assert.deepEqual(dnsServer.queries.slice(before), ['sender.example TXT']);
  const queued = queuedMessages(hub).filter((m) => m.envelope.mailFrom.endsWith('@sender.example'));
  assert.equal(queued.length, 100);
  for (const m of queued) assert.match(headerBlock(m), /^X-Relay-Antispam: spf=pass smtp\.mailfrom=app\d@sender\.example client-ip=127\.0\.0\.1 by=hub\.policy\.example\.test$/m);
});

test('a dead resolver holds one message at most dnsLookupTimeout (400 ms); it is accepted with spf=temperror, and the next one does not wait', async () => {
  assert.ok(hub && dnsServer);
  dnsServer.options.silent = true;
  const client = await session();
  const timed = async (subject: string): Promise<number> => {
    assert.equal((await client.send('MAIL FROM:<x@other.example>')).code, 250);
    assert.equal((await client.send('RCPT TO:<someone@remote.example>')).code, 250);
    assert.equal((await client.send('DATA')).code, 354);
    client.write(plainMessage('x@other.example', 'someone@remote.example', subject));
    const started = performance.now();
    client.write('.\r\n');
    const reply = await client.reply();
    assert.equal(reply.code, 250, reply.line);
    return performance.now() - started;
  };
  const first = await timed('dead-1');
  const second = await timed('dead-2');
  await client.quit();
  dnsServer.options.silent = false;
  assert.ok(first >= 300 && first < 1500, `first message held ${first.toFixed(0)} ms`);
  assert.ok(second < 200, `second message held ${second.toFixed(0)} ms`);
  assert.equal(dnsServer.queries.filter((q) => q === 'other.example TXT').length, 1);
  const queued = queuedMessages(hub, 'x@other.example');
  assert.equal(queued.length, 2);
  for (const m of queued) assert.match(headerBlock(m), /^X-Relay-Antispam: spf=temperror smtp\.mailfrom=x@other\.example client-ip=127\.0\.0\.1 /m);
});

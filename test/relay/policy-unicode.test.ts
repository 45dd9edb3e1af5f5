/*
 * test/relay/policy-unicode - issue 17 (Low) against a live standalone hub: the punycode form of a
 * Unicode accepted domain is the accepted domain, and the envelope keeps what the client wrote.
 *
 * Hub "policy-hub" on 127.0.0.93, one Internet-style connector for anonymous clients with no
 * relay right and no right to send as an authoritative domain; AcceptedDomain
 * `xn--bcher-kva.example` (bücher.example, Authoritative). A client without SMTPUTF8 writes the
 * A-label in several cases: the hub must accept each recipient as local, refuse the domain as
 * an anonymous sender, and queue the addresses exactly as written. Before: smtp-server decoded
 * the A-label and the hub queued `user@bücher.example`, a UTF-8 address the client never sent,
 * which a next hop without SMTPUTF8 refuses.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, plainMessage, queuedMessages, sendMessage, startRelay, stopRelay, type HubProcess } from './support-policy.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const IP = '127.0.0.93';
const CLIENT = '127.0.12.7';
let port = 0;
let hub: HubProcess | undefined;

before(async () => {
  port = await freePort(IP);
  hub = await startRelay({
    connectors: [{
      name: 'internet',
      spec: {
        bindings: [`${IP}:${port}`], remoteIPRanges: ['127.0.0.0/8'], permissionGroups: ['AnonymousUsers'], limits: { tarpitInterval: '0s' },
        permissions: [{ principal: 'Anonymous', deny: ['AcceptAuthoritativeDomainSender'] }],
      },
    }],
    domains: [{ name: 'buecher', domainName: 'xn--bcher-kva.example', domainType: 'Authoritative', default: true }],
  });
});

after(() => stopRelay(hub));

test('a recipient at the A-label of a Unicode accepted domain is local, and is queued as the client wrote it', async () => {
  const client = await SmtpClient.connect({ host: IP, port, localAddress: CLIENT });
  assert.equal((await client.send('EHLO client.example.test')).code, 250);
  const sender = 'unicode-test@sender.example.test';
  const recipients = ['user@xn--bcher-kva.example', 'Other@XN--BCHER-KVA.example', 'third@xn--bcher-kva.EXAMPLE'];
  const replies = await sendMessage(client, sender, recipients, plainMessage(sender, recipients[0] ?? '', 'unicode-accepted-domain'));
  assert.deepEqual(replies.slice(1, 4).map((r) => r.code), [250, 250, 250], `each form is local, no relay right needed: ${JSON.stringify(replies.map((r) => r.line))}`);
  assert.match(replies.at(-1)?.line ?? '', /^250 2\.6\.0 /, JSON.stringify(replies.map((r) => r.line)));

  // the domain is Authoritative: an anonymous client may not send as it, in its A-label form either
  const spoof = await client.send('MAIL FROM:<ceo@xn--bcher-kva.example>');
  assert.equal(spoof.code, 550, spoof.line);
  await client.quit();

  const queued = queuedMessages(hub as HubProcess, sender);
  assert.equal(queued.length, 1);
  assert.deepEqual(queued[0]?.envelope.rcptTo.map((r) => r.address), recipients, 'the envelope keeps the addresses as sent (ASCII, no SMTPUTF8)');
});

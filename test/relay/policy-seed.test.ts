/*
 * test/relay/policy-seed - the two methods of Exchange's "allow anonymous relay" article,
 * against a real standalone hub and real clients (nodemailer, swaks, smtp-source, raw sockets).
 *
 * One listener on 127.0.0.31, two connectors told apart by the client address:
 *   externally-secured  127.0.1.10: ExternalAuthoritative + TrustedServers (every session is a
 *                       trusted server: relays anywhere, no anti-spam, no size limit)
 *   anonymous-relay     127.0.1.20, and 127.0.0.1 for smtp-source (it cannot bind a source
 *                       address): AnonymousUsers + Anonymous allow
 *                       AcceptAnyRecipient (relays, but scanned and size-limited)
 * Both have maxMessageSize 64Ki, so the size bypass is visible. The hub has spf off, so the
 * anti-spam header is stamped without DNS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import {
  freePort, hasHeader, headerBlock, plainMessage, protocolLines, queuedMessages, sendMessage, spooledMessages, startRelay, stopRelay, waitForRefusal, type HubProcess,
} from './support-policy.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const run = promisify(execFile);
const IP = '127.0.0.31';
const TRUSTED = '127.0.1.10';
const ANON = '127.0.1.20';
const LIMIT = 64 * 1024;

let hub: HubProcess | undefined;
let port = 0;

function relay(): HubProcess {
  assert.ok(hub, 'hub not started');
  return hub;
}

function mailer(localAddress: string) {
  return nodemailer.createTransport({ host: IP, port, localAddress, ignoreTLS: true, name: 'app.client.example.test', connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 10_000 });
}

async function session(localAddress: string): Promise<SmtpClient> {
  const client = await SmtpClient.connect({ host: IP, port, localAddress });
  const greeting = client.greeting;
  assert.equal(greeting.code, 220, greeting.line);
  assert.equal((await client.send('EHLO raw.client.example.test')).code, 250);
  return client;
}

const hasAntispamHeader = (body: Buffer): boolean => hasHeader(body, 'X-Relay-Antispam');

before(async () => {
  port = await freePort(IP);
  const limits = { maxMessageSize: '64Ki', tarpitInterval: '0s' };
  hub = await startRelay({
    connectors: [
      {
        name: 'externally-secured',
        spec: { usage: 'Custom', bindings: [`${IP}:${port}`], remoteIPRanges: [TRUSTED], authMechanisms: ['TLS', 'ExternalAuthoritative'], permissionGroups: ['TrustedServers'], limits },
      },
      {
        name: 'anonymous-relay',
        spec: {
          usage: 'Custom', bindings: [`${IP}:${port}`], remoteIPRanges: [ANON, '127.0.0.1'], permissionGroups: ['AnonymousUsers'],
          permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }], limits,
        },
      },
    ],
    domains: [{ name: 'contoso', domainName: 'contoso.test', domainType: 'Authoritative', default: true }],
  });
});

after(() => stopRelay(hub));

describe('method 1: ExternalAuthoritative + TrustedServers', () => {
  test('nodemailer relays to domains that are not accepted, the 250 says Queued', async () => {
    const info = await mailer(TRUSTED).sendMail({
      from: 'scanner@contoso.test', to: ['someone@fabrikam.test', 'other@northwind.test'], subject: 'trusted relay', text: 'scan attached',
    });
    assert.deepEqual(info.accepted, ['someone@fabrikam.test', 'other@northwind.test']);
    assert.deepEqual(info.rejected, []);
    assert.match(info.response, /^250 2\.6\.0 <[^>]+> Queued mail for delivery/);
  });

  test('the session is a TrustedServers session holding every right (protocol log)', async () => {
    const line = await relay().waitForLog((l) => l.log === 'protocol' && l.context === 'Set Session Permissions (TrustedServers)');
    assert.equal(line['connector-id'], 'relay-policy/externally-secured');
    assert.equal(line.data, 'Submit AcceptAnyRecipient AcceptAnySender AcceptAuthoritativeDomainSender BypassAntiSpam BypassMessageSizeLimit AcceptRoutingHeaders AcceptOrganizationHeaders AcceptAuthenticationFlag');
  });

  test('the queued message carries no X-Relay-Antispam header (BypassAntiSpam)', () => {
    const [message, ...others] = queuedMessages(relay(), 'scanner@contoso.test');
    assert.ok(message, 'message not in the spool');
    assert.equal(others.length, 0);
    assert.deepEqual(message.envelope.rcptTo.map((r) => r.address), ['someone@fabrikam.test', 'other@northwind.test']);
    assert.equal(message.envelope.connectorId, 'relay-policy/externally-secured');
    assert.equal(hasAntispamHeader(message.body), false, headerBlock(message));
    assert.match(headerBlock(message), /^Received: from app\.client\.example\.test \(\[127\.0\.1\.10\]\)/);
  });

  test('a message larger than maxMessageSize is accepted, declared and actual (BypassMessageSizeLimit)', async () => {
    const client = await session(TRUSTED);
    const body = `${'x'.repeat(998)}\r\n`.repeat(200); // ~200 KB, three times the limit
    const content = plainMessage('big@contoso.test', 'archive@fabrikam.test', 'big trusted', body);
    assert.equal((await client.send(`MAIL FROM:<big@contoso.test> SIZE=${content.length + 3}`)).line, '250 Accepted');
    assert.equal((await client.send('RCPT TO:<archive@fabrikam.test>')).code, 250);
    assert.equal((await client.send('DATA')).code, 354);
    client.write(`${content}.\r\n`);
    assert.match((await client.reply()).line, /^250 2\.6\.0 .*Queued/);
    await client.quit();
    const [message] = queuedMessages(relay(), 'big@contoso.test');
    assert.ok(message, 'big message not in the spool');
    assert.ok(message.body.length > 3 * LIMIT, `stored ${message.body.length} bytes`);
    assert.ok(message.body.includes(Buffer.from(body)), 'the body was cut');
  });
});

describe('method 2: AnonymousUsers + Anonymous allow AcceptAnyRecipient', () => {
  test('nodemailer relays to a domain that is not accepted', async () => {
    const info = await mailer(ANON).sendMail({ from: 'printer@fabrikam.test', to: 'someone@tailspin.test', subject: 'anonymous relay', text: 'scan' });
    assert.deepEqual(info.accepted, ['someone@tailspin.test']);
    assert.match(info.response, /^250 2\.6\.0 .*Queued/);
  });

  test('the session is anonymous: the relay right, but no anti-spam or size bypass (protocol log)', async () => {
    const line = await relay().waitForLog((l) => l.log === 'protocol' && l['connector-id'] === 'relay-policy/anonymous-relay' && l.context === 'Set Session Permissions (Anonymous)');
    assert.equal(line.data, 'Submit AcceptAnyRecipient AcceptAnySender AcceptAuthoritativeDomainSender AcceptRoutingHeaders');
  });

  test('the queued message carries X-Relay-Antispam for the client', () => {
    const [message] = queuedMessages(relay(), 'printer@fabrikam.test');
    assert.ok(message, 'message not in the spool');
    assert.equal(message.envelope.connectorId, 'relay-policy/anonymous-relay');
    assert.ok(hasAntispamHeader(message.body), headerBlock(message));
    assert.match(headerBlock(message), /^X-Relay-Antispam: .*client-ip=127\.0\.1\.20/m);
  });

  test('a declared SIZE over maxMessageSize gets 552 5.3.4 at MAIL FROM; the limit itself passes', async () => {
    const client = await session(ANON);
    const refused = await client.send(`MAIL FROM:<declared@fabrikam.test> SIZE=${LIMIT + 1}`);
    assert.equal(refused.line, '552 5.3.4 Message size exceeds fixed maximum message size');
    const refusal = await waitForRefusal(relay(), 'messageTooLarge', ANON);
    assert.match(refusal.data, /^MAIL refused: 552 5\.3\.4 /);
    assert.equal((await client.send(`MAIL FROM:<declared@fabrikam.test> SIZE=${LIMIT}`)).line, '250 Accepted');
    await client.quit();
  });

  test('EHLO advertises SIZE with the limit, so that clients declare the size before sending',
    {},
    async () => {
      const client = await SmtpClient.connect({ host: IP, port, localAddress: ANON });
      const ehlo = await client.send('EHLO size.client.example.test');
      await client.quit();
      assert.ok(ehlo.lines.some((l) => l.slice(4) === `SIZE ${LIMIT}`), JSON.stringify(ehlo.lines));
    });

  test('an actual size over maxMessageSize gets 552 5.3.4 after the final dot; nothing is queued; the session goes on', async () => {
    const client = await session(ANON);
    const big = plainMessage('toolarge@fabrikam.test', 'x@tailspin.test', 'too large', `${'y'.repeat(998)}\r\n`.repeat(100));
    const replies = await sendMessage(client, 'toolarge@fabrikam.test', ['x@tailspin.test'], big);
    assert.deepEqual(replies.map((r) => r.code), [250, 250, 354, 552]);
    assert.equal(replies[3]?.line, '552 5.3.4 Message size exceeds fixed maximum message size');
    const small = await sendMessage(client, 'aftertoolarge@fabrikam.test', ['x@tailspin.test'], plainMessage('aftertoolarge@fabrikam.test', 'x@tailspin.test', 'small'));
    assert.match(small[3]?.line ?? '', /^250 2\.6\.0 .*Queued/);
    await client.quit();
    assert.equal(queuedMessages(relay(), 'toolarge@fabrikam.test').length, 0);
    assert.equal(queuedMessages(relay(), 'aftertoolarge@fabrikam.test').length, 1);
    const refusals = protocolLines(relay()).filter((l) => l.context === 'messageTooLarge' && l.data.startsWith('DATA refused: 552 5.3.4'));
    assert.equal(refusals.length, 1);
  });

  test('nodemailer sees the 552 5.3.4 for a message over the limit', async () => {
    await assert.rejects(
      mailer(ANON).sendMail({ from: 'toolarge2@fabrikam.test', to: 'x@tailspin.test', subject: 'too large', text: 'z'.repeat(LIMIT + 1024) }),
      (error: Error & { responseCode?: number; response?: string }) => {
        assert.equal(error.responseCode, 552);
        assert.match(error.response ?? '', /^552 5\.3\.4 /);
        return true;
      },
    );
    assert.equal(queuedMessages(relay(), 'toolarge2@fabrikam.test').length, 0);
  });

  test('swaks relays through the anonymous connector', async () => {
    const { stdout } = await run('swaks', [
      '--server', IP, '--port', String(port), '--local-interface', ANON, '--ehlo', 'swaks.client.example.test',
      '--from', 'swaks@fabrikam.test', '--to', 'friend@wingtip.test', '--header', 'Subject: swaks relay', '--body', 'sent by swaks',
    ], { timeout: 20_000 });
    assert.match(stdout, /<- {2}250 Accepted[\s\S]*<- {2}250 2\.6\.0 <[^>]+> Queued mail for delivery/);
    const [message] = queuedMessages(relay(), 'swaks@fabrikam.test');
    assert.ok(message, 'swaks message not in the spool');
    assert.deepEqual(message.envelope.rcptTo, [{ address: 'friend@wingtip.test' }]);
    assert.match(headerBlock(message), /^Subject: swaks relay\r$/m);
    assert.ok(hasAntispamHeader(message.body));
  });

  test('smtp-source: 50 messages in 5 sessions are all queued', async () => {
    await run('/usr/sbin/smtp-source', ['-s', '5', '-m', '50', '-l', '1024', '-M', 'load.client.example.test', '-f', 'load@fabrikam.test', '-t', 'sink@northwind.test', `${IP}:${port}`], { timeout: 30_000 });
    const messages = queuedMessages(relay(), 'load@fabrikam.test');
    assert.equal(messages.length, 50);
    for (const m of messages) {
      assert.equal(m.envelope.connectorId, 'relay-policy/anonymous-relay');
      assert.deepEqual(m.envelope.rcptTo, [{ address: 'sink@northwind.test' }]);
      assert.ok(m.body.length > 1024, `message ${m.id} has ${m.body.length} bytes`);
    }
  });
});

test('after the hub stops, the relay\'s own Spool reads back every queued message intact', async () => {
  const seen = queuedMessages(relay());
  assert.ok(seen.length >= 55, `${seen.length} messages queued`);
  const { messages, recovery } = await spooledMessages(relay());
  assert.deepEqual(recovery, { kept: seen.length, discarded: 0, corrupt: 0 });
  assert.deepEqual(messages.map((m) => m.id).sort(), seen.map((m) => m.id).sort());
  const byId = new Map(seen.map((m) => [m.id, m]));
  for (const m of messages) assert.ok(byId.get(m.id)?.body.equals(m.body), `message ${m.id} differs`);
});

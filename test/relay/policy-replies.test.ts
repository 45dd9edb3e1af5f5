/*
 * test/relay/policy-replies - every reply of api.md "What an SMTP client sees" that a
 * connector's rights decide, with the reason in the protocol log, and the header firewall.
 *
 * One listener on 127.0.0.34; the client address picks the connector (tarpit off):
 *   127.0.6.1 anonymous         AnonymousUsers (no relay right)
 *   127.0.6.2 no-group          Custom, no permission group (no Submit right)
 *   127.0.6.3 no-domain-sender  AnonymousUsers, Anonymous deny AcceptAuthoritativeDomainSender
 *   127.0.6.4 strict-headers    AnonymousUsers + relay, Anonymous deny AcceptRoutingHeaders
 *   127.0.6.5 two-recipients    AnonymousUsers + relay, maxRecipientsPerMessage 2
 *   127.0.6.6 trusted           ExternalAuthoritative + TrustedServers
 *   127.0.6.7 anonymous-relay   AnonymousUsers + relay
 * Accepted domains: auth.example.test (Authoritative), internal.example.test (InternalRelay),
 * external.example.test (ExternalRelay), *.wild.example.test (Authoritative).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import nodemailer from 'nodemailer';
import {
  freePort, fromClient, headerBlock, headerNames, plainMessage, protocolLines, queuedMessages, sendMessage, startRelay, stopRelay, waitForRefusal, type ConnectorManifest, type HubProcess, type SpoolMessage,
} from './support-policy.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const IP = '127.0.0.34';
const CLIENT = {
  anonymous: '127.0.6.1',
  noGroup: '127.0.6.2',
  noDomainSender: '127.0.6.3',
  strictHeaders: '127.0.6.4',
  twoRecipients: '127.0.6.5',
  trusted: '127.0.6.6',
  anonymousRelay: '127.0.6.7',
} as const;
const RELAY_DENIED = '550 5.7.54 Unable to relay recipient in non-accepted domain';

let hub: HubProcess | undefined;
let port = 0;

function relay(): HubProcess {
  assert.ok(hub, 'hub not started');
  return hub;
}

async function session(localAddress: string): Promise<SmtpClient> {
  const client = await SmtpClient.connect({ host: IP, port, localAddress });
  const greeting = client.greeting;
  assert.equal(greeting.code, 220, greeting.line);
  assert.equal((await client.send('EHLO replies.client.example.test')).code, 250);
  return client;
}

function onlyMessage(mailFrom: string): SpoolMessage {
  const messages = queuedMessages(relay(), mailFrom);
  assert.equal(messages.length, 1, `messages from ${mailFrom}: ${messages.length}`);
  return messages[0] as SpoolMessage;
}

before(async () => {
  port = await freePort(IP);
  const binding = `${IP}:${port}`;
  const limits = { tarpitInterval: '0s' };
  const anonymous = (name: string, ip: string, extra: Record<string, unknown> = {}): ConnectorManifest => ({
    name, spec: { usage: 'Custom', bindings: [binding], remoteIPRanges: [ip], permissionGroups: ['AnonymousUsers'], limits, ...extra },
  });
  const relayRight = { principal: 'Anonymous', allow: ['AcceptAnyRecipient'] };
  hub = await startRelay({
    connectors: [
      anonymous('anonymous', CLIENT.anonymous),
      { name: 'no-group', spec: { usage: 'Custom', bindings: [binding], remoteIPRanges: [CLIENT.noGroup], limits } },
      anonymous('no-domain-sender', CLIENT.noDomainSender, { permissions: [{ principal: 'Anonymous', deny: ['AcceptAuthoritativeDomainSender'] }] }),
      anonymous('strict-headers', CLIENT.strictHeaders, { permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'], deny: ['AcceptRoutingHeaders'] }] }),
      anonymous('two-recipients', CLIENT.twoRecipients, { permissions: [relayRight], limits: { ...limits, maxRecipientsPerMessage: 2 } }),
      { name: 'trusted', spec: { usage: 'Custom', bindings: [binding], remoteIPRanges: [CLIENT.trusted], authMechanisms: ['ExternalAuthoritative'], permissionGroups: ['TrustedServers'], limits } },
      anonymous('anonymous-relay', CLIENT.anonymousRelay, { permissions: [relayRight] }),
    ],
    domains: [
      { name: 'auth', domainName: 'auth.example.test', domainType: 'Authoritative', default: true },
      { name: 'internal', domainName: 'internal.example.test', domainType: 'InternalRelay' },
      { name: 'external', domainName: 'external.example.test', domainType: 'ExternalRelay' },
      { name: 'wild', domainName: '*.wild.example.test', domainType: 'Authoritative' },
    ],
  });
});

after(() => stopRelay(hub));

describe('recipients', () => {
  test('RCPT outside the accepted domains without the relay right: 550 5.7.54, logged as relayDenied', async () => {
    const client = await session(CLIENT.anonymous);
    assert.equal((await client.send('MAIL FROM:<someone@fabrikam.test>')).line, '250 Accepted');
    assert.equal((await client.send('RCPT TO:<friend@tailspin.test>')).line, RELAY_DENIED);
    const logged = await waitForRefusal(relay(), 'relayDenied', CLIENT.anonymous);
    assert.equal(logged.data, `RCPT refused: ${RELAY_DENIED}`);
    assert.equal(logged['connector-id'], 'relay-policy/anonymous');
    // nothing was accepted, so there is no transaction to send
    assert.equal((await client.send('DATA')).code, 503);
    await client.quit();
  });

  test('look-alikes of accepted domains and routing tricks are relaying too: 550 5.7.54', async () => {
    const client = await session(CLIENT.anonymous);
    assert.equal((await client.send('MAIL FROM:<someone@fabrikam.test>')).code, 250);
    for (const rcpt of [
      'a@xauth.example.test', // not a subdomain
      'a@auth.example.test.tailspin.test', // accepted name as a prefix
      'a@wild.example.test.tailspin.test',
      'a%tailspin.test@auth.example.test', // percent hack
      'tailspin.test!a@auth.example.test', // bang path
    ]) {
      assert.equal((await client.send(`RCPT TO:<${rcpt}>`)).line, RELAY_DENIED, rcpt);
    }
    await client.quit();
  });

  test('swaks sees the relay refusal', async () => {
    const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      execFile('swaks', ['--server', IP, '--port', String(port), '--local-interface', CLIENT.anonymous, '--from', 'swaks@fabrikam.test', '--to', 'friend@tailspin.test'], { timeout: 20_000 }, (error, stdout) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout });
      });
    });
    assert.notEqual(result.code, 0, 'swaks must fail');
    assert.match(result.stdout, /<\*\* 550 5\.7\.54 Unable to relay recipient in non-accepted domain/);
    assert.equal(queuedMessages(relay(), 'swaks@fabrikam.test').length, 0);
  });

  test('every accepted domain type and the wildcard take RCPT without the relay right; the 250 says Queued', async () => {
    const client = await session(CLIENT.anonymous);
    const recipients = ['a@auth.example.test', 'B@AUTH.Example.Test', 'c@internal.example.test', 'd@external.example.test', 'e@wild.example.test', 'f@deep.sub.wild.example.test'];
    const replies = await sendMessage(client, 'domains@fabrikam.test', recipients, plainMessage('domains@fabrikam.test', 'a@auth.example.test', 'accepted domains'));
    assert.deepEqual(replies.slice(0, 7).map((r) => r.line), ['250 Accepted', ...recipients.map(() => '250 Accepted')]);
    assert.equal(replies[7]?.code, 354);
    const done = replies[8]?.line ?? '';
    const queued = /^250 2\.6\.0 <[^>]+> Queued mail for delivery as (\S+)$/.exec(done);
    assert.ok(queued, done);
    await client.quit();
    const message = onlyMessage('domains@fabrikam.test');
    assert.equal(message.id, queued[1], 'the 250 names the queue id of the stored message');
    assert.deepEqual(message.envelope.rcptTo.map((r) => r.address), recipients);
  });

  test('too many recipients: 452 4.5.3 for the third, the message goes to the first two', async () => {
    const client = await session(CLIENT.twoRecipients);
    const replies = await sendMessage(client, 'many@fabrikam.test', ['one@tailspin.test', 'two@tailspin.test', 'three@tailspin.test'], plainMessage('many@fabrikam.test', 'one@tailspin.test', 'three recipients'));
    assert.deepEqual(replies.map((r) => r.line.slice(0, 9)), ['250 Accep', '250 Accep', '250 Accep', '452 4.5.3', '354 End d', '250 2.6.0']);
    assert.equal(replies[3]?.line, '452 4.5.3 Too many recipients');
    await client.quit();
    assert.deepEqual(onlyMessage('many@fabrikam.test').envelope.rcptTo.map((r) => r.address), ['one@tailspin.test', 'two@tailspin.test']);
    await waitForRefusal(relay(), 'tooManyRecipients', CLIENT.twoRecipients);
  });

  test('nodemailer reports the recipient over the limit as rejected with 452 4.5.3', async () => {
    const info = await nodemailer.createTransport({ host: IP, port, localAddress: CLIENT.twoRecipients, ignoreTLS: true }).sendMail({
      from: 'many2@fabrikam.test', to: ['one@tailspin.test', 'two@tailspin.test', 'three@tailspin.test'], subject: 'three', text: 'three recipients',
    });
    assert.deepEqual(info.accepted, ['one@tailspin.test', 'two@tailspin.test']);
    assert.deepEqual(info.rejected, ['three@tailspin.test']);
    const rejected = (info as { rejectedErrors?: Array<{ response?: string }> }).rejectedErrors ?? [];
    assert.equal(rejected[0]?.response, '452 4.5.3 Too many recipients');
  });
});

describe('senders', () => {
  test('no Submit right (Custom connector, no group): 530 5.7.1 at MAIL FROM, also for the null sender', async () => {
    const client = await session(CLIENT.noGroup);
    assert.equal((await client.send('MAIL FROM:<someone@fabrikam.test>')).line, '530 5.7.1 Client was not authenticated');
    assert.equal((await client.send('MAIL FROM:<>')).line, '530 5.7.1 Client was not authenticated');
    const logged = await waitForRefusal(relay(), 'noSubmitRight', CLIENT.noGroup);
    assert.equal(logged.data, 'MAIL refused: 530 5.7.1 Client was not authenticated');
    const rights = protocolLines(relay()).find((l) => fromClient(l, CLIENT.noGroup) && l.context.startsWith('Set Session Permissions'));
    assert.equal(rights?.data, '', 'the session holds no right at all');
    await client.quit();
  });

  test('sender in an Authoritative domain without AcceptAuthoritativeDomainSender: 550 5.7.1', async () => {
    const client = await session(CLIENT.noDomainSender);
    const refused = '550 5.7.1 Client does not have permissions to send as this sender';
    assert.equal((await client.send('MAIL FROM:<ceo@auth.example.test>')).line, refused);
    assert.equal((await client.send('MAIL FROM:<CEO@Auth.Example.Test>')).line, refused);
    assert.equal((await client.send('MAIL FROM:<ceo@sub.wild.example.test>')).line, refused);
    const logged = await waitForRefusal(relay(), 'authoritativeDomainSender', CLIENT.noDomainSender);
    assert.equal(logged.data, `MAIL refused: ${refused}`);
    // the other domain types and foreign domains are not protected by this right
    assert.equal((await client.send('MAIL FROM:<app@internal.example.test>')).line, '250 Accepted');
    assert.equal((await client.send('RSET')).code, 250);
    assert.equal((await client.send('MAIL FROM:<someone@fabrikam.test>')).line, '250 Accepted');
    await client.quit();
  });

  test('the same sender passes where AnonymousUsers keeps the right', async () => {
    const client = await session(CLIENT.anonymous);
    assert.equal((await client.send('MAIL FROM:<ceo@auth.example.test>')).line, '250 Accepted');
    await client.quit();
  });
});

describe('header firewall', () => {
  const incoming = [
    'Received: from laptop.fabrikam.test (laptop [192.0.2.10])',
    '\tby upstream.fabrikam.test with ESMTP id 1; Mon, 1 Jan 2024 00:00:00 +0000',
    'Received: from upstream.fabrikam.test by mx.fabrikam.test; Mon, 1 Jan 2024 00:00:01 +0000',
    'Resent-From: <resender@fabrikam.test>',
    'Resent-Date: Mon, 1 Jan 2024 00:00:02 +0000',
    'X-Relay-Organization-Classification: internal-only',
    'X-Relay-Antispam: spf=pass forged=yes',
  ];
  const send = async (ip: string, from: string): Promise<SpoolMessage> => {
    const client = await session(ip);
    const replies = await sendMessage(client, from, ['a@auth.example.test'], plainMessage(from, 'a@auth.example.test', `headers from ${ip}`, 'body', incoming));
    assert.match(replies.at(-1)?.line ?? '', /^250 2\.6\.0 .*Queued/);
    await client.quit();
    return onlyMessage(from);
  };
  const count = (message: SpoolMessage, name: string): number => headerNames(message).filter((n) => n.toLowerCase() === name.toLowerCase()).length;

  test('without AcceptRoutingHeaders and AcceptOrganizationHeaders: Received, Resent-*, X-Relay-Organization-* and forged verdicts are stripped', async () => {
    const message = await send(CLIENT.strictHeaders, 'strict@fabrikam.test');
    const headers = headerBlock(message);
    assert.equal(count(message, 'Received'), 1, headers);
    assert.match(headers, /^Received: from replies\.client\.example\.test \(\[127\.0\.6\.4\]\)\r\n\tby hub\.policy\.example\.test /);
    assert.doesNotMatch(headers, /laptop|upstream|mx\.fabrikam/, headers);
    assert.equal(count(message, 'Resent-From') + count(message, 'Resent-Date'), 0, headers);
    assert.equal(count(message, 'X-Relay-Organization-Classification'), 0, headers);
    assert.doesNotMatch(headers, /forged=yes/);
    assert.match(headers, /^X-Relay-Antispam: .*client-ip=127\.0\.6\.4/m, 'our own verdict is still stamped');
    assert.match(headers, /^Subject: headers from 127\.0\.6\.4\r$/m);
    const logged = protocolLines(relay()).find((l) => l.context === 'headerFirewall' && fromClient(l, CLIENT.strictHeaders));
    assert.equal(logged?.data, 'stripped Received, Received, Resent-From, Resent-Date, X-Relay-Organization-Classification, X-Relay-Antispam');
  });

  test('AnonymousUsers keeps Received and Resent-* (AcceptRoutingHeaders) but not X-Relay-Organization-*', async () => {
    const message = await send(CLIENT.anonymousRelay, 'routing@fabrikam.test');
    const headers = headerBlock(message);
    assert.equal(count(message, 'Received'), 3, headers);
    assert.match(headers, /\tby upstream\.fabrikam\.test with ESMTP id 1;/, 'the continuation line stays with its field');
    assert.equal(count(message, 'Resent-From'), 1);
    assert.equal(count(message, 'Resent-Date'), 1);
    assert.equal(count(message, 'X-Relay-Organization-Classification'), 0, headers);
    assert.doesNotMatch(headers, /forged=yes/);
  });

  test('TrustedServers keeps every incoming header', async () => {
    const message = await send(CLIENT.trusted, 'trusted@fabrikam.test');
    const headers = headerBlock(message);
    assert.equal(count(message, 'Received'), 3, headers);
    assert.equal(count(message, 'Resent-From'), 1);
    assert.match(headers, /^X-Relay-Organization-Classification: internal-only\r$/m);
    assert.match(headers, /^X-Relay-Antispam: spf=pass forged=yes\r$/m, 'a trusted server\'s verdict is kept');
    assert.equal(count(message, 'X-Relay-Antispam'), 1, 'no verdict of our own (BypassAntiSpam)');
  });
});

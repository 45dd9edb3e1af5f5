/*
 * test/relay/auth-sendas - issue 17 items 7 and 8 against a real standalone hub.
 *
 * 7. AUTH is offered only after STARTTLS where it needs TLS (BasicAuthRequireTLS, requireTLS),
 *    and AUTH before it gets 538 5.7.11 before any password prompt.
 * 8. Send-As: an authenticated user without AcceptAnySender cannot use the null sender, and
 *    the header From/Sender is checked against the same rights at the end of DATA
 *    (senderCheck.headerFrom, default Enforce; Off turns it off).
 *
 * One hub on 127.0.0.27 with three connectors (one port each):
 *   submission    usage Client (TLS, BasicAuth, BasicAuthRequireTLS); bob also holds AcceptAnySender
 *   require-tls   TLS + BasicAuth (no BasicAuthRequireTLS) with tls.requireTLS
 *   header-off    as submission with senderCheck.headerFrom: Off
 * Users: alice (alice@contoso.test), bob (no listed address). contoso.test is Authoritative.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import nodemailer from 'nodemailer';
import { freePort } from '../controlplane/controlplane.ts';
import { removeHubDir, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { makeTestCerts, manifestsYaml, readIncoming, secretDoc, type TestCerts } from './support-certs.ts';
import { SmtpClient, type SmtpReply } from '../support/smtp-client.ts';

const NS = 'auth-sendas';
const HUB = 'hub-sendas';
const FQDN = 'hub-sendas.relay.test';
const IP = '127.0.0.27';
const PASSWORDS = { alice: 'alice-secret', bob: 'bob-secret' };
const SPOOF = '550 5.7.1 Client does not have permissions to send as this sender';
const NEEDS_TLS = '538 5.7.11 Encryption required for requested authentication mechanism, STARTTLS first';

const plain = (user: string, password: string): string => Buffer.from(`\0${user}\0${password}`).toString('base64');
const line = (reply: SmtpReply): string => `${reply.code} ${reply.text}`;

type Ports = { submission: number; requireTls: number; headerOff: number };

function manifests(certs: TestCerts, ports: Ports): string {
  const users = [
    `alice:${bcrypt.hashSync(PASSWORDS.alice, 4)}:alice@contoso.test`,
    `bob:${bcrypt.hashSync(PASSWORDS.bob, 4)}`,
  ].join('\n');
  const limits = { tarpitInterval: '0s', maxProtocolErrors: 50 };
  const client = (name: string, port: number, extra: object): object => ({
    apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name, namespace: NS },
    spec: {
      hubs: [HUB], usage: 'Client', bindings: [`${IP}:${port}`], remoteIPRanges: ['127.0.0.0/8'],
      permissions: [{ principal: 'user:bob', allow: ['AcceptAnySender'] }], limits, ...extra,
    },
  });
  return manifestsYaml([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    secretDoc(NS, 'hub-cert', { 'tls.crt': certs.server.cert, 'tls.key': certs.server.key }),
    secretDoc(NS, 'relay-users', { users }),
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB, namespace: NS },
      spec: { replicas: 1, fqdn: FQDN, tls: { secretName: 'hub-cert' }, users: { secretName: 'relay-users' }, antiSpam: { spf: false, dnsbl: [] } },
    },
    client('submission', ports.submission, {}),
    client('require-tls', ports.requireTls, { authMechanisms: ['TLS', 'BasicAuth'], tls: { requireTLS: true } }),
    client('header-off', ports.headerOff, { senderCheck: { headerFrom: 'Off' } }),
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'AcceptedDomain', metadata: { name: 'contoso', namespace: NS },
      spec: { domainName: 'contoso.test', domainType: 'Authoritative', default: true },
    },
  ]);
}

describe('AUTH only after STARTTLS, and Send-As on envelope and header', { timeout: 90_000 }, () => {
  let certs: TestCerts;
  let hub: HubProcess;
  const ports: Ports = { submission: 0, requireTls: 0, headerOff: 0 };
  const clients: SmtpClient[] = [];

  const connect = async (port: number): Promise<SmtpClient> => {
    const client = await SmtpClient.connect({ host: IP, port });
    clients.push(client);
    return client;
  };
  /** A session after EHLO, STARTTLS, EHLO and AUTH PLAIN as `user`. */
  const loggedIn = async (port: number, user: keyof typeof PASSWORDS): Promise<SmtpClient> => {
    const client = await connect(port);
    await client.send('EHLO laptop.contoso.test');
    await client.startTls({ ca: certs.ca.cert, servername: FQDN });
    await client.send('EHLO laptop.contoso.test');
    assert.equal(line(await client.send(`AUTH PLAIN ${plain(user, PASSWORDS[user])}`)), '235 Authentication successful');
    return client;
  };
  /** MAIL FROM, one RCPT, and DATA with a From header; the replies as lines. */
  const send = async (client: SmtpClient, mailFrom: string, headerLines: string[], token: string): Promise<string[]> => {
    const [mail, rcpt] = await client.envelope(mailFrom, ['friend@fabrikam.test']);
    const replies = [line(mail!), line(rcpt!)];
    if (mail?.code !== 250) return replies;
    const body = [...headerLines, 'To: <friend@fabrikam.test>', `Subject: ${token}`, '', `token ${token}`, ''].join('\r\n');
    replies.push(line(await client.data(body)).replace(/<[^>]+> Queued mail for delivery as .*/, 'queued'));
    await client.send('RSET');
    return replies;
  };

  before(async () => {
    certs = makeTestCerts({ fqdn: FQDN, ips: [IP] });
    ports.submission = await freePort();
    ports.requireTls = await freePort();
    ports.headerOff = await freePort();
    hub = await startHubProcess({ manifests: manifests(certs, ports), hub: HUB });
  });

  after(async () => {
    for (const client of clients) client.close();
    await hub?.stop();
    if (hub) removeHubDir(hub);
    certs?.remove();
  });

  for (const [name, key] of [['BasicAuthRequireTLS', 'submission'], ['requireTLS', 'requireTls']] as const) {
    test(`${name}: EHLO before STARTTLS offers no AUTH, AUTH then gets 538 5.7.11 at once; after STARTTLS AUTH is offered and works`, async () => {
      const client = await connect(ports[key]);
      const ehlo = await client.send('EHLO laptop.contoso.test');
      assert.equal(ehlo.code, 250);
      assert.ok(ehlo.lines.some((l) => /^250[ -]STARTTLS$/.test(l)), ehlo.lines.join('\n'));
      assert.deepEqual(ehlo.lines.filter((l) => /^250[ -]AUTH\b/.test(l)), [], `no AUTH before TLS:\n${ehlo.lines.join('\n')}`);
      // a client that sends AUTH anyway is refused before any prompt, so no password follows
      assert.equal(line(await client.send(`AUTH LOGIN ${Buffer.from('alice').toString('base64')}`)), NEEDS_TLS);
      assert.equal(line(await client.send(`AUTH PLAIN ${plain('alice', 'not-the-password')}`)), NEEDS_TLS);
      await client.startTls({ ca: certs.ca.cert, servername: FQDN });
      const secured = await client.send('EHLO laptop.contoso.test');
      assert.ok(secured.lines.some((l) => /^250[ -]AUTH PLAIN LOGIN$/.test(l)), secured.lines.join('\n'));
      assert.equal(line(await client.send(`AUTH PLAIN ${plain('alice', PASSWORDS.alice)}`)), '235 Authentication successful');
      await client.quit();
      const endpoint = `${client.localAddress}:${client.localPort}`;
      const refusals = hub.logs.filter((l) => l.log === 'protocol' && l['remote-endpoint'] === endpoint && l.context === 'authRequiresTls');
      assert.equal(refusals.length, 2, 'each early AUTH is in the protocol log with its reason');
    });
  }

  test('nodemailer set to authenticate without TLS finds no AUTH offered and sends no password', async () => {
    const earlyAuth = (): number => hub.logs.filter((l) => l.log === 'protocol' && l.context === 'authRequiresTls').length;
    const before = earlyAuth();
    const transport = nodemailer.createTransport({
      host: IP, port: ports.submission, secure: false, ignoreTLS: true, name: 'laptop.contoso.test', auth: { user: 'alice', pass: PASSWORDS.alice },
    });
    try {
      // no AUTH in EHLO: nodemailer goes on unauthenticated and the Client connector refuses MAIL
      await assert.rejects(
        transport.sendMail({ from: 'alice@contoso.test', to: 'friend@fabrikam.test', subject: 'clear', text: 'clear' }),
        (error: Error) => /^Mail command failed: 530 5\.7\.1 Client was not authenticated/.test(error.message),
      );
    } finally {
      transport.close();
    }
    assert.equal(earlyAuth(), before, 'nodemailer never sent AUTH');
  });

  test('the null sender: refused for a user without AcceptAnySender, accepted for one with it', async () => {
    const alice = await loggedIn(ports.submission, 'alice');
    assert.equal(line(await alice.send('MAIL FROM:<>')), SPOOF);
    assert.equal(line(await alice.send('MAIL FROM:<alice@contoso.test>')), '250 Accepted');
    await alice.quit();
    const bob = await loggedIn(ports.submission, 'bob');
    assert.equal(line(await bob.send('MAIL FROM:<>')), '250 Accepted');
    await bob.quit();
  });

  test('header From and Sender are checked against the same rights at the end of DATA', async () => {
    const alice = await loggedIn(ports.submission, 'alice');
    assert.deepEqual(await send(alice, 'alice@contoso.test', ['From: Alice <alice@contoso.test>'], 'own-from'), ['250 Accepted', '250 Accepted', '250 2.6.0 queued']);
    assert.deepEqual(await send(alice, 'alice@contoso.test', ['From: The CEO <ceo@contoso.test>'], 'ceo-from'), ['250 Accepted', '250 Accepted', SPOOF]);
    assert.deepEqual(await send(alice, 'alice@contoso.test', ['From: alice@contoso.test', 'Sender: ceo@contoso.test'], 'ceo-sender'), ['250 Accepted', '250 Accepted', SPOOF]);
    assert.deepEqual(await send(alice, 'alice@contoso.test', ['From: "ceo@contoso.test" <alice@contoso.test>'], 'display-name'), ['250 Accepted', '250 Accepted', '250 2.6.0 queued']);
    assert.deepEqual(await send(alice, 'alice@contoso.test', ['From: <alice@contoso.test> <ceo@contoso.test>'], 'two-angles'), ['250 Accepted', '250 Accepted', SPOOF]);
    await alice.quit();

    // bob may send as anyone outside the authoritative domain, not as someone inside it
    const bob = await loggedIn(ports.submission, 'bob');
    assert.deepEqual(await send(bob, '', ['From: Newsletter <news@fabrikam.test>'], 'bob-news'), ['250 Accepted', '250 Accepted', '250 2.6.0 queued']);
    assert.deepEqual(await send(bob, 'news@fabrikam.test', ['From: ceo@contoso.test'], 'bob-ceo'), ['250 Accepted', '250 Accepted', SPOOF]);
    assert.deepEqual(
      await send(bob, 'news@fabrikam.test', ['From: =?utf-8?b?Y2VvQGNvbnRvc28udGVzdA==?=@fabrikam.test'], 'bob-mailsploit'),
      ['250 Accepted', '250 Accepted', SPOOF],
    );
    await bob.quit();

    const reasons = hub.logs.filter((l) => l.log === 'protocol' && /^DATA refused: 550 /.test(String(l.data))).map((l) => String(l.context));
    assert.deepEqual([...new Set(reasons)].sort(), ['headerAuthoritativeDomainSender', 'headerSenderNotAllowedForUser', 'headerSenderUnreadable']);
  });

  test('senderCheck.headerFrom: Off checks the envelope only', async () => {
    const alice = await loggedIn(ports.headerOff, 'alice');
    assert.deepEqual(await send(alice, 'alice@contoso.test', ['From: The CEO <ceo@contoso.test>'], 'off-ceo-from'), ['250 Accepted', '250 Accepted', '250 2.6.0 queued']);
    assert.equal(line(await alice.send('MAIL FROM:<>')), SPOOF, 'the null sender stays refused');
    await alice.quit();
  });

  test('the spool holds exactly the accepted messages', async () => {
    for (const client of clients) client.close();
    const code = await hub.stop();
    assert.equal(code, 0, JSON.stringify(hub.logs.filter((l) => l.log === 'app').slice(-15), null, 1));
    const stored = await readIncoming(hub.spoolDir);
    const tokens = stored.flatMap((m) => /token (\S+)/.exec(m.text)?.[1] ?? []).sort();
    assert.deepEqual(tokens, ['bob-news', 'display-name', 'off-ceo-from', 'own-from']);
    assert.equal(stored.find((m) => m.text.includes('token bob-news'))?.mailFrom, '');
  });
});

/*
 * test/relay/tls-auth - STARTTLS, BasicAuth and MutualTLS against a real standalone hub.
 *
 * One hub with three connectors on 127.0.0.21 (one port each):
 *   submission  usage Client: TLS + BasicAuth + BasicAuthRequireTLS, maxLogonFailures 2;
 *               user carol also holds AcceptAnySender
 *   require-tls usage Client with tls.requireTLS
 *   mtls        AnonymousUsers + TrustedServers, TLS + MutualTLS against the test CA,
 *               maxMessageSize 2Ki
 * Peers are real: `openssl s_client`, nodemailer, and a raw socket client that presents a
 * CA-signed or a self-signed client certificate. The last test stops the hub and reads the
 * spool to check what was stored (auth user, anti-spam headers).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import nodemailer from 'nodemailer';
import { freePort } from '../controlplane/controlplane.ts';
import { removeHubDir, startHubProcess, type HubProcess, type LogLine } from '../support/hub-process.ts';
import {
  certText, makeTestCerts, manifestsYaml, opensslStartTls, readIncoming, secretDoc, testMessage, type SpooledMessage, type TestCerts,
} from './support-certs.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const NS = 'tls-auth';
const HUB = 'hub-tls';
const FQDN = 'hub-tls.relay.test';
const IP = '127.0.0.21';
const PASSWORDS = { alice: 'alice-secret', carol: 'carol-secret' };

const plain = (user: string, password: string): string => Buffer.from(`\0${user}\0${password}`).toString('base64');

function manifests(certs: TestCerts, ports: { submission: number; requireTls: number; mtls: number }): string {
  const users = [
    '# test users',
    `alice:${bcrypt.hashSync(PASSWORDS.alice, 4)}:alice@contoso.test,a.smith@contoso.test`,
    `carol:${bcrypt.hashSync(PASSWORDS.carol, 4)}:carol@contoso.test`,
  ].join('\n');
  const limits = { tarpitInterval: '0s' };
  return manifestsYaml([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    secretDoc(NS, 'hub-tls-cert', { 'tls.crt': certs.server.cert, 'tls.key': certs.server.key }),
    secretDoc(NS, 'relay-users', { users }),
    secretDoc(NS, 'client-ca', { 'ca.crt': certs.ca.cert }),
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB, namespace: NS },
      spec: { replicas: 1, fqdn: FQDN, tls: { secretName: 'hub-tls-cert' }, users: { secretName: 'relay-users' }, antiSpam: { spf: false, dnsbl: [] } },
    },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'submission', namespace: NS },
      spec: {
        hubs: [HUB], usage: 'Client', bindings: [`${IP}:${ports.submission}`], remoteIPRanges: ['127.0.0.0/8'],
        permissions: [{ principal: 'user:carol', allow: ['AcceptAnySender'] }],
        limits: { ...limits, maxLogonFailures: 2 },
      },
    },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'require-tls', namespace: NS },
      spec: { hubs: [HUB], usage: 'Client', bindings: [`${IP}:${ports.requireTls}`], remoteIPRanges: ['127.0.0.0/8'], tls: { requireTLS: true }, limits },
    },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'mtls', namespace: NS },
      spec: {
        hubs: [HUB], usage: 'Custom', bindings: [`${IP}:${ports.mtls}`], remoteIPRanges: ['127.0.0.0/8'],
        permissionGroups: ['AnonymousUsers', 'TrustedServers'], authMechanisms: ['TLS', 'MutualTLS'],
        tls: { clientCASecretName: 'client-ca' }, limits: { ...limits, maxMessageSize: '2Ki' },
      },
    },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'AcceptedDomain', metadata: { name: 'contoso', namespace: NS },
      spec: { domainName: 'contoso.test', domainType: 'Authoritative', default: true },
    },
  ]);
}

describe('TLS and authentication on a standalone hub', { timeout: 60_000 }, () => {
  let certs: TestCerts;
  let hub: HubProcess;
  const ports = { submission: 0, requireTls: 0, mtls: 0 };
  const clients: SmtpClient[] = [];
  /** token -> what the spool must show for it */
  const expected = new Map<string, { authUser?: string; antispam: boolean }>();

  const connect = async (port: number): Promise<SmtpClient> => {
    const client = await SmtpClient.connect({ host: IP, port });
    clients.push(client);
    return client;
  };
  const linesOf = (client: SmtpClient): LogLine[] =>
    hub.logs.filter((l) => l.log === 'protocol' && l['remote-endpoint'] === `${client.localAddress}:${client.localPort}`);
  const sessionKind = (client: SmtpClient): string[] =>
    linesOf(client).flatMap((l) => {
      const m = /^Set Session Permissions \((\w+)/.exec(String(l.context));
      return m?.[1] ? [m[1]] : [];
    });

  before(async () => {
    certs = makeTestCerts({ fqdn: FQDN, ips: [IP] });
    ports.submission = await freePort();
    ports.requireTls = await freePort();
    ports.mtls = await freePort();
    hub = await startHubProcess({ manifests: manifests(certs, ports), hub: HUB });
  });

  after(async () => {
    for (const client of clients) client.close();
    await hub?.stop();
    if (hub) removeHubDir(hub);
    certs?.remove();
  });

  test('STARTTLS is advertised and openssl verifies the hub certificate (subject, DNS and IP SAN) against the CA', async () => {
    const client = await connect(ports.submission);
    assert.equal(client.greeting.code, 220);
    const ehlo = await client.send('EHLO client.example.test');
    assert.equal(ehlo.code, 250);
    assert.ok(ehlo.lines.some((l) => /^250[ -]STARTTLS$/.test(l)), `EHLO offers STARTTLS:\n${ehlo.lines.join('\n')}`);
    await client.quit();

    const seen = opensslStartTls({ host: IP, port: ports.submission, caFile: certs.ca.certFile, verifyHost: FQDN });
    assert.ok(seen.verifyOk, `openssl verified the chain and the host name:\n${seen.output}`);
    assert.match(seen.subject, new RegExp(`CN ?= ?${FQDN.replace(/\./g, '\\.')}`));
    const text = certText(seen.pem);
    assert.match(text, new RegExp(`DNS:${FQDN.replace(/\./g, '\\.')}`));
    assert.match(text, new RegExp(`IP Address:${IP.replace(/\./g, '\\.')}`));

    const byIp = opensslStartTls({ host: IP, port: ports.submission, caFile: certs.ca.certFile, verifyIp: IP });
    assert.ok(byIp.verifyOk, `openssl verified the IP SAN:\n${byIp.output}`);
  });

  test('nodemailer with requireTLS and the CA submits with AUTH PLAIN and AUTH LOGIN', async () => {
    for (const method of ['PLAIN', 'LOGIN'] as const) {
      const transport = nodemailer.createTransport({
        host: IP, port: ports.submission, secure: false, requireTLS: true, name: 'laptop.contoso.test',
        tls: { ca: certs.ca.cert, servername: FQDN }, auth: { user: 'alice', pass: PASSWORDS.alice }, authMethod: method,
      });
      const token = `nodemailer-${method}-${Date.now()}`;
      try {
        const info = await transport.sendMail({ from: 'alice@contoso.test', to: 'someone@fabrikam.test', subject: `test ${token}`, text: `token ${token}` });
        assert.match(info.response, /^250 /, `${method}: ${info.response}`);
        assert.deepEqual(info.accepted, ['someone@fabrikam.test']);
      } finally {
        transport.close();
      }
      expected.set(token, { authUser: 'alice', antispam: false });
    }
    const authLines = hub.logs.filter((l) => l.log === 'protocol' && l.context === 'authenticated').map((l) => String(l.data));
    assert.ok(authLines.includes('AUTH PLAIN alice'), authLines.join('\n'));
    assert.ok(authLines.includes('AUTH LOGIN alice'), authLines.join('\n'));
  });

  test('BasicAuthRequireTLS: AUTH before STARTTLS gets 538 (STARTTLS first), after STARTTLS the same AUTH succeeds', async () => {
    const client = await connect(ports.submission);
    await client.send('EHLO laptop.contoso.test');
    const early = await client.send(`AUTH PLAIN ${plain('alice', PASSWORDS.alice)}`);
    assert.equal(early.code, 538, early.text);
    assert.match(early.text, /STARTTLS/);

    const { reply } = await client.startTls({ ca: certs.ca.cert, servername: FQDN });
    assert.equal(reply.code, 220);
    assert.equal((await client.send('EHLO laptop.contoso.test')).code, 250);
    const auth = await client.send(`AUTH PLAIN ${plain('alice', PASSWORDS.alice)}`);
    assert.equal(auth.code, 235, auth.text);
    assert.equal((await client.send('MAIL FROM:<alice@contoso.test>')).code, 250);
    await client.quit();
  });

  test('BasicAuthRequireTLS: AUTH LOGIN before STARTTLS is refused at once, before the password crosses the wire in cleartext', async () => {
    const client = await connect(ports.submission);
    await client.send('EHLO laptop.contoso.test');
    const first = await client.send(`AUTH LOGIN ${Buffer.from('alice').toString('base64')}`);
    if (first.code === 334) {
      // the relay wants the password now; send a wrong one so nothing real leaks, and finish the exchange
      const after = await client.send(Buffer.from('not-the-password').toString('base64'));
      assert.equal(after.code, 538, after.text);
    }
    assert.equal(first.code, 538, `AUTH LOGIN before TLS: ${first.lines.join(' / ')} (expected 538 without a password prompt)`);
    assert.match(first.text, /STARTTLS/);
    await client.quit();
  });

  test('a wrong password gets 535 5.7.8; the second failure (maxLogonFailures 2) gets 421 and the connection is closed', async () => {
    const client = await connect(ports.submission);
    await client.send('EHLO laptop.contoso.test');
    await client.startTls({ ca: certs.ca.cert, servername: FQDN });
    await client.send('EHLO laptop.contoso.test');
    const first = await client.send(`AUTH PLAIN ${plain('alice', 'wrong')}`);
    assert.equal(first.code, 535, first.text);
    assert.match(first.text, /^5\.7\.8 /);
    const second = await client.send(`AUTH PLAIN ${plain('alice', 'also-wrong')}`);
    assert.equal(second.code, 421, second.text);
    assert.match(second.text, /^4\.7\.0 /);
    await Promise.race([client.closed, new Promise((_r, reject) => setTimeout(() => reject(new Error('connection still open 5 s after 421')), 5000))]);
    assert.ok(client.isClosed);
    assert.equal(linesOf(client).filter((l) => l.context === 'authenticationFailed').length, 2, 'both failures are in the protocol log');

    const unknown = await connect(ports.submission);
    await unknown.send('EHLO laptop.contoso.test');
    await unknown.startTls({ ca: certs.ca.cert, servername: FQDN });
    await unknown.send('EHLO laptop.contoso.test');
    const nobody = await unknown.send(`AUTH PLAIN ${plain('mallory', PASSWORDS.alice)}`);
    assert.equal(nobody.code, 535, 'an unknown user gets the same 535 as a wrong password');
    await unknown.quit();
  });

  test('an authenticated user may send only as its listed addresses, unless it holds AcceptAnySender', async () => {
    const alice = await connect(ports.submission);
    await alice.send('EHLO laptop.contoso.test');
    await alice.startTls({ ca: certs.ca.cert, servername: FQDN });
    await alice.send('EHLO laptop.contoso.test');
    assert.equal((await alice.send(`AUTH PLAIN ${plain('alice', PASSWORDS.alice)}`)).code, 235);
    assert.equal((await alice.send('MAIL FROM:<a.smith@contoso.test>')).code, 250, 'second listed address');
    await alice.send('RSET');
    assert.equal((await alice.send('MAIL FROM:<ALICE@Contoso.Test>')).code, 250, 'listed address, other case');
    await alice.send('RSET');
    for (const other of ['bob@contoso.test', 'alice@fabrikam.test']) {
      const reply = await alice.send(`MAIL FROM:<${other}>`);
      assert.equal(reply.code, 550, `${other}: ${reply.text}`);
      assert.match(reply.text, /^5\.7\.1 /);
    }
    await alice.quit();

    const carol = await connect(ports.submission);
    await carol.send('EHLO laptop.contoso.test');
    await carol.startTls({ ca: certs.ca.cert, servername: FQDN });
    await carol.send('EHLO laptop.contoso.test');
    assert.equal((await carol.send(`AUTH LOGIN ${Buffer.from('carol').toString('base64')}`)).code, 334);
    assert.equal((await carol.send(Buffer.from(PASSWORDS.carol).toString('base64'))).code, 235);
    const any = await carol.send('MAIL FROM:<newsletter@fabrikam.test>');
    assert.equal(any.code, 250, `carol has AcceptAnySender: ${any.text}`);
    await carol.quit();
  });

  test('authenticated users relay to any domain and bypass anti-spam; anonymous clients on the Client connector cannot submit', async () => {
    const anon = await connect(ports.submission);
    await anon.send('EHLO laptop.contoso.test');
    await anon.startTls({ ca: certs.ca.cert, servername: FQDN });
    await anon.send('EHLO laptop.contoso.test');
    const refused = await anon.send('MAIL FROM:<alice@contoso.test>');
    assert.equal(refused.code, 530, refused.text);
    assert.match(refused.text, /^5\.7\.1 /);
    await anon.quit();

    const client = await connect(ports.submission);
    await client.send('EHLO laptop.contoso.test');
    await client.startTls({ ca: certs.ca.cert, servername: FQDN });
    await client.send('EHLO laptop.contoso.test');
    assert.equal((await client.send(`AUTH PLAIN ${plain('alice', PASSWORDS.alice)}`)).code, 235);
    const [mail, ext1, ext2] = await client.envelope('alice@contoso.test', ['partner@fabrikam.test', 'friend@example.org']);
    assert.equal(mail?.code, 250);
    assert.equal(ext1?.code, 250, ext1?.text);
    assert.equal(ext2?.code, 250, ext2?.text);
    const token = `auth-relay-${Date.now()}`;
    const done = await client.data(testMessage({ from: 'alice@contoso.test', to: 'partner@fabrikam.test', token }));
    assert.equal(done.code, 250, done.text);
    expected.set(token, { authUser: 'alice', antispam: false });
    await client.quit();
    assert.deepEqual([...new Set(sessionKind(client))], ['Anonymous', 'Authenticated']);
  });

  test('requireTLS: MAIL before STARTTLS gets 530 5.7.0; after STARTTLS and AUTH the message is accepted', async () => {
    const client = await connect(ports.requireTls);
    await client.send('EHLO laptop.contoso.test');
    const early = await client.send('MAIL FROM:<alice@contoso.test>');
    assert.equal(early.code, 530, early.text);
    assert.match(early.text, /^5\.7\.0 /);
    const auth = await client.send(`AUTH PLAIN ${plain('alice', PASSWORDS.alice)}`);
    // AUTH is refused before any password prompt: credentials never cross in cleartext.
    assert.equal(auth.code, 538, `AUTH before TLS on a requireTLS connector: ${auth.text}`);
    await client.startTls({ ca: certs.ca.cert, servername: FQDN });
    await client.send('EHLO laptop.contoso.test');
    assert.equal((await client.send(`AUTH PLAIN ${plain('alice', PASSWORDS.alice)}`)).code, 235);
    const [mail, rcpt] = await client.envelope('alice@contoso.test', ['partner@fabrikam.test']);
    assert.equal(mail?.code, 250);
    assert.equal(rcpt?.code, 250);
    const token = `require-tls-${Date.now()}`;
    assert.equal((await client.data(testMessage({ from: 'alice@contoso.test', to: 'partner@fabrikam.test', token }))).code, 250);
    expected.set(token, { authUser: 'alice', antispam: false });
    await client.quit();
  });

  test('MutualTLS: a CA-signed client certificate is a TrustedServers session (relays, no size limit, no anti-spam header)', async () => {
    const client = await connect(ports.mtls);
    await client.send('EHLO mta.trusted.test');
    const { socket } = await client.startTls({ ca: certs.ca.cert, servername: FQDN, cert: certs.client.cert, key: certs.client.key });
    assert.ok(socket, 'TLS handshake with the client certificate');
    await client.send('EHLO mta.trusted.test');
    const [mail, rcpt] = await client.envelope('app@trusted.test', ['someone@fabrikam.test']);
    assert.equal(mail?.code, 250, mail?.text);
    assert.equal(rcpt?.code, 250, `trusted server relays: ${rcpt?.text}`);
    const token = `mtls-trusted-${Date.now()}`;
    const big = 'x'.repeat(76).concat('\r\n').repeat(100); // ~7.8 KiB > maxMessageSize 2Ki
    const done = await client.data(testMessage({ from: 'app@trusted.test', to: 'someone@fabrikam.test', token, body: `token ${token}\r\n${big}` }));
    assert.equal(done.code, 250, `BypassMessageSizeLimit: ${done.text}`);
    expected.set(token, { antispam: false });
    await client.quit();
    assert.ok(sessionKind(client).includes('TrustedServers'), `protocol log: ${sessionKind(client).join(',')}`);
  });

  test('MutualTLS: a self-signed client certificate (or none) leaves the session anonymous: no relay, size limit, anti-spam header', async () => {
    for (const variant of ['self-signed', 'no-certificate'] as const) {
      const client = await connect(ports.mtls);
      await client.send('EHLO mta.somebody.test');
      const identity = variant === 'self-signed' ? { cert: certs.selfSigned.cert, key: certs.selfSigned.key } : {};
      const { socket } = await client.startTls({ ca: certs.ca.cert, servername: FQDN, ...identity });
      assert.ok(socket, `${variant}: the TLS handshake itself succeeds`);
      await client.send('EHLO mta.somebody.test');
      const [mail, ext] = await client.envelope('app@somebody.test', ['someone@fabrikam.test']);
      assert.equal(mail?.code, 250);
      assert.equal(ext?.code, 550, `${variant}: ${ext?.text}`);
      assert.match(ext?.text ?? '', /^5\.7\.54 /);
      assert.equal((await client.send('RCPT TO:<postmaster@contoso.test>')).code, 250, 'accepted domain needs no relay right');
      const big = 'y'.repeat(76).concat('\r\n').repeat(100);
      const tooBig = await client.data(testMessage({ from: 'app@somebody.test', to: 'postmaster@contoso.test', token: `too-big-${variant}`, body: big }));
      assert.equal(tooBig.code, 552, `${variant}: ${tooBig.text}`);
      assert.match(tooBig.text, /^5\.3\.4 /);
      await client.send('RSET');
      await client.envelope('app@somebody.test', ['postmaster@contoso.test']);
      const token = `mtls-${variant}-${Date.now()}`;
      assert.equal((await client.data(testMessage({ from: 'app@somebody.test', to: 'postmaster@contoso.test', token }))).code, 250);
      expected.set(token, { antispam: true });
      await client.quit();
      assert.deepEqual([...new Set(sessionKind(client))], ['Anonymous'], `${variant}: never more than anonymous`);
    }
  });

  test('the spool holds every accepted message with its auth user; only anonymous ones carry X-Relay-Antispam', async () => {
    assert.equal(await hub.stop(), 0, 'the hub stops cleanly on SIGTERM');
    const stored = await readIncoming(hub.spoolDir);
    const byToken = (token: string): SpooledMessage | undefined => stored.find((m) => m.text.includes(`token ${token}`));
    assert.ok(expected.size >= 7, `${expected.size} messages expected`);
    for (const [token, want] of expected) {
      const message = byToken(token);
      assert.ok(message, `${token} is in the spool`);
      assert.equal(message.authUser, want.authUser, `${token}: auth user`);
      const headerBlock = message.text.slice(0, message.text.indexOf('\r\n\r\n'));
      assert.equal(/^X-Relay-Antispam:/im.test(headerBlock), want.antispam, `${token}: X-Relay-Antispam present = ${want.antispam}\n${headerBlock}`);
      assert.match(headerBlock, /^Received: from /m);
    }
    assert.ok(!stored.some((m) => m.text.includes('too-big-')), 'refused messages were not stored');
  });
});

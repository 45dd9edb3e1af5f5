/*
 * test/relay/protocol-abuse - issue 14 item 3: clients that break the protocol on purpose get
 * the exact reply below, and the hub serves the next client.
 *
 * One hub on 127.0.0.53 with a certificate (STARTTLS offered), one anonymous relay connector
 * with small limits so each is reached cheaply: 5 recipients per message, 8 KiB of header,
 * connectionTimeout 2s (a client that keeps the session busy is still closed; the idle
 * timeout is covered by limits-connections.test.ts).
 * Covered elsewhere, not repeated: AUTH guessing (auth-bruteforce.test.ts: tarpit/lockout;
 * tls-auth.test.ts: maxLogonFailures), PROXY headers from untrusted peers (proxy.test.ts),
 * idle clients and protocol-error limits (limits-connections.test.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../controlplane/controlplane.ts';
import { removeHubDir, startHubProcess, type HubProcess, type LogLine } from '../support/hub-process.ts';
import { makeTestCerts, testMessage, tlsRelayManifests, type TestCerts } from './support-certs.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const NS = 'protocol-abuse';
const HUB = 'hub-abuse';
const FQDN = 'hub-abuse.relay.test';
const IP = '127.0.0.53';
const CLIENT = '127.0.13.7';

let certs: TestCerts | undefined;
let hub: HubProcess | undefined;
let port = 0;

before(async () => {
  certs = makeTestCerts({ fqdn: FQDN, ips: [IP] });
  port = await freePort(IP);
  hub = await startHubProcess({
    hub: HUB,
    manifests: tlsRelayManifests({
      namespace: NS, hub: HUB, fqdn: FQDN, binding: `${IP}:${port}`, certs,
      limits: { tarpitInterval: '0s', maxRecipientsPerMessage: 5, maxHeaderSize: '8Ki', connectionTimeout: '2s', maxProtocolErrors: 50 },
    }),
  });
});

after(async () => {
  if (hub) {
    await hub.kill();
    removeHubDir(hub);
  }
  certs?.remove();
});

function relay(): HubProcess {
  assert.ok(hub, 'hub not started');
  return hub;
}

async function session(): Promise<SmtpClient> {
  const client = await SmtpClient.connect({ host: IP, port, localAddress: CLIENT });
  assert.equal(client.greeting.code, 220);
  assert.equal((await client.send('EHLO abuse.example.test')).code, 250);
  return client;
}

/** The reply's code and last line text, e.g. `501 Error: syntax: STARTTLS`. */
const line = (reply: { code: number; lines: string[] }): string => reply.lines.at(-1) ?? `${reply.code} (closed)`;

/** The protocol log lines of one client connection. */
function logOf(client: SmtpClient): LogLine[] {
  return relay().logs.filter((l) => l.log === 'protocol' && l['remote-endpoint'] === `${CLIENT}:${client.localPort}`);
}

describe('STARTTLS injection (CVE-2011-0411 class)', () => {
  test('a full command pipelined after STARTTLS in the same segment is discarded, never answered inside TLS', async () => {
    const client = await session();
    const { reply, socket } = await client.startTls({ ca: certs?.ca.cert, servername: FQDN, pipelined: 'RSET\r\n' });
    assert.equal(line(reply), '220 Ready to start TLS');
    assert.ok(socket);
    const ehlo = await client.send('EHLO abuse.example.test');
    assert.equal(ehlo.code, 250);
    assert.match(ehlo.lines[0] ?? '', new RegExp(`^250-${FQDN.replaceAll('.', '\\.')}`), 'the first reply inside TLS answers EHLO, not the injected RSET');
    assert.equal(line(await client.send('NOOP')), '250 OK');
    await client.quit();
  });

  test('a partial line before the handshake does not prefix the first command inside TLS', async () => {
    const client = await session();
    await client.startTls({ ca: certs?.ca.cert, servername: FQDN, pipelined: 'RSET' });
    const ehlo = await client.send('EHLO abuse.example.test');
    assert.match(ehlo.lines[0] ?? '', new RegExp(`^250-${FQDN.replaceAll('.', '\\.')}`), JSON.stringify(ehlo.lines));
    await client.quit();
  });

  test('a partial NOOP completed inside TLS gets no 250 for the injected text', async () => {
    const client = await session();
    await client.startTls({ ca: certs?.ca.cert, servername: FQDN, pipelined: 'NOOP' });
    const completed = await client.send('');
    assert.equal(line(completed), '500 Error: command not recognized');
    await client.quit();
  });

  test('STARTTLS with an argument: 501; STARTTLS again inside TLS: 503', async () => {
    const client = await session();
    assert.equal(line(await client.send('STARTTLS now')), '501 Error: syntax: STARTTLS');
    await client.startTls({ ca: certs?.ca.cert, servername: FQDN });
    assert.equal((await client.send('EHLO abuse.example.test')).code, 250);
    assert.equal(line(await client.send('STARTTLS')), '503 Error: TLS already active');
    await client.quit();
  });
});

describe('lines and sizes past the limits', () => {
  test('a 600-byte MAIL FROM with a 580-octet local part (RFC 5321: 512 and 64): 501, the session goes on', async () => {
    const client = await session();
    const reply = await client.send(`MAIL FROM:<${'a'.repeat(580)}@fabrikam.test>`);
    assert.equal(line(reply), '501 Error: Bad sender address syntax');
    assert.equal(line(await client.send('MAIL FROM:<short@fabrikam.test>')), '250 Accepted');
    await client.quit();
  });

  test('a command line of 64 KiB without a line end: 421 and the connection is closed, the hub keeps serving', async () => {
    const client = await session();
    client.write(`MAIL FROM:<${'a'.repeat(64 * 1024)}`);
    const reply = await client.reply();
    assert.equal(line(reply), '421 Error: Command line too long');
    await client.closed;
    const next = await session();
    await next.quit();
  });

  test('a 5000-byte text line (RFC 5322: 998) is accepted with 250, as Postfix does', async () => {
    const client = await session();
    await client.envelope('longline@fabrikam.test', ['x@tailspin.test']);
    const reply = await client.data(testMessage({ from: 'longline@fabrikam.test', to: 'x@tailspin.test', token: 'longline', body: 'x'.repeat(5000) }));
    assert.match(line(reply), /^250 2\.6\.0 /);
    await client.quit();
  });

  test('a header block past maxHeaderSize (8 KiB): 552 5.3.4 after the final dot, logged as headerTooLarge', async () => {
    const client = await session();
    await client.envelope('bighead@fabrikam.test', ['x@tailspin.test']);
    const headers = Array.from({ length: 200 }, (_, i) => `X-Filler-${i}: ${'y'.repeat(60)}`);
    const reply = await client.data(testMessage({ from: 'bighead@fabrikam.test', to: 'x@tailspin.test', token: 'bighead', extraHeaders: headers }));
    assert.equal(line(reply), '552 5.3.4 Message header size exceeds fixed maximum size');
    await client.quit();
    assert.ok(logOf(client).some((l) => l.context === 'headerTooLarge'));
  });

  test('the sixth recipient (maxRecipientsPerMessage 5): 452 4.5.3, the five are kept', async () => {
    const client = await session();
    const replies = await client.envelope('many@fabrikam.test', Array.from({ length: 6 }, (_, i) => `r${i}@tailspin.test`));
    assert.deepEqual(replies.map(line).slice(1, 6), Array.from({ length: 5 }, () => '250 Accepted'));
    assert.equal(line(replies[6] ?? { code: 0, lines: [] }), '452 4.5.3 Too many recipients');
    assert.match(line(await client.data(testMessage({ from: 'many@fabrikam.test', to: 'r0@tailspin.test', token: 'many' }))), /^250 2\.6\.0 /);
    await client.quit();
    assert.ok(logOf(client).some((l) => l.context === 'tooManyRecipients'));
  });
});

describe('pipelining', () => {
  test('two whole transactions and QUIT in one write: 250 for each message, then 221 (found by the fuzz suite)', async () => {
    const client = await session();
    const transaction = (token: string): string => `MAIL FROM:<${token}@fabrikam.test>\r\nRCPT TO:<x@tailspin.test>\r\nDATA\r\n${testMessage({ from: `${token}@fabrikam.test`, to: 'x@tailspin.test', token })}.\r\n`;
    client.write(`${transaction('pipe1')}${transaction('pipe2')}NOOP\r\nQUIT\r\n`);
    const codes: number[] = [];
    for (let i = 0; i < 10; i++) codes.push((await client.reply(5000)).code);
    assert.deepEqual(codes, [250, 250, 354, 250, 250, 250, 354, 250, 250, 221]);
    await client.closed;
  });
});

describe('identity claims and slow clients', () => {
  for (const command of ['XCLIENT ADDR=10.0.0.1 NAME=trusted.example', 'XFORWARD ADDR=10.0.0.1 NAME=trusted.example']) {
    test(`${command.split(' ')[0]} from a client: 550, and the session keeps the socket address`, async () => {
      const client = await session();
      assert.equal(line(await client.send(command)), '550 Error: Not allowed');
      const [mail] = await client.envelope('xclient@fabrikam.test', []);
      assert.equal(line(mail ?? { code: 0, lines: [] }), '250 Accepted');
      await client.quit();
      assert.ok(logOf(client).some((l) => String(l.data).includes('refused: 550 Error: Not allowed')), 'logged');
      assert.ok(!relay().logs.some((l) => l.log === 'protocol' && String(l['remote-endpoint']).startsWith('10.0.0.1')));
    });
  }

  test('a client that stays busy past connectionTimeout (2s) gets 421 4.4.2 and is closed', async () => {
    const client = await session();
    const started = performance.now();
    let reply = await client.send('NOOP');
    while (reply.code === 250 && performance.now() - started < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      reply = await client.send('NOOP');
    }
    assert.equal(line(reply), '421 4.4.2 Connection timeout, closing transmission channel');
    assert.ok(performance.now() - started >= 1900);
    await client.closed;
  });
});

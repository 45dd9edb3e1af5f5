/*
 * test/relay/limits-connections - connector limits as a client meets them: connections per
 * source, message rate, tarpit, protocol errors, inactivity, greet delay, hop count, EHLO.
 *
 * One listener on 127.0.0.35; the client address picks the connector. All connectors are
 * AnonymousUsers with the relay right and tarpitInterval 0s, except where a limit is tested.
 * Times are asserted only from below (a limit that waits must wait at least so long).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  freePort, fromClient, plainMessage, protocolLines, queuedMessages, sendMessage, startRelay, stopRelay, waitForRefusal, type ConnectorManifest, type HubProcess, type ProtocolLine,
} from './support-policy.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const IP = '127.0.0.35';
let hub: HubProcess | undefined;
let port = 0;

function relay(): HubProcess {
  assert.ok(hub, 'hub not started');
  return hub;
}

const open = (localAddress: string): Promise<SmtpClient> => SmtpClient.open({ host: IP, port, localAddress });

async function session(localAddress: string, ehlo = 'limits.client.example.test'): Promise<SmtpClient> {
  const client = await SmtpClient.connect({ host: IP, port, localAddress });
  const greeting = client.greeting;
  assert.equal(greeting.code, 220, greeting.line);
  assert.equal((await client.send(`EHLO ${ehlo}`)).code, 250);
  return client;
}

/** The protocol log's disconnect line of this client connection (written after its slot is released). */
async function disconnected(client: SmtpClient, ip: string): Promise<ProtocolLine> {
  const endpoint = `${ip}:${client.localPort}`;
  return (await relay().waitForLog((l) => l.log === 'protocol' && l.event === '-' && l['remote-endpoint'] === endpoint)) as ProtocolLine;
}

function receivedHeaders(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `Received: from hop${i}.fabrikam.test by hop${i + 1}.fabrikam.test; Mon, 1 Jan 2024 00:00:0${i % 10} +0000`);
}

before(async () => {
  port = await freePort(IP);
  const binding = `${IP}:${port}`;
  const relayRight = { principal: 'Anonymous', allow: ['AcceptAnyRecipient'] };
  const connector = (name: string, ranges: string[], limits: Record<string, unknown>, extra: Record<string, unknown> = {}): ConnectorManifest => ({
    name,
    spec: { usage: 'Custom', bindings: [binding], remoteIPRanges: ranges, permissionGroups: ['AnonymousUsers'], permissions: [relayRight], limits: { tarpitInterval: '0s', ...limits }, ...extra },
  });
  hub = await startRelay({
    connectors: [
      connector('per-source', ['127.0.7.0/29'], { maxInboundConnectionsPerSource: 3 }),
      connector('rate', ['127.0.7.16/29'], { messageRateLimit: 2 }),
      connector('tarpit', ['127.0.7.32'], { tarpitInterval: '1s' }, { permissions: [] }),
      connector('errors', ['127.0.7.40'], { maxProtocolErrors: 2 }, { permissions: [] }),
      connector('idle', ['127.0.7.48'], { connectionInactivityTimeout: '2s' }),
      connector('greet', ['127.0.7.56/29'], { greetDelay: '1s', maxInboundConnectionsPerSource: 2 }, { banner: '220 greet.limits.example.test slow' }),
      connector('prompt', ['127.0.7.64'], {}, { banner: '220 prompt.limits.example.test' }),
      connector('hops', ['127.0.7.72'], { maxHopCount: 3 }),
      connector('hops-strict', ['127.0.7.73'], { maxHopCount: 3 }, { permissions: [{ ...relayRight, deny: ['AcceptRoutingHeaders'] }] }),
      connector('ehlo', ['127.0.7.80'], {}, { requireEHLODomain: true }),
    ],
  });
});

after(() => stopRelay(hub));

describe('connections per source', () => {
  test('maxInboundConnectionsPerSource 3: the fourth connection from one address gets 421 4.7.0 and is closed', async () => {
    const held = [await session('127.0.7.1'), await session('127.0.7.1'), await session('127.0.7.1')];
    const fourth = await open('127.0.7.1');
    assert.equal((await fourth.reply()).line, '421 4.7.0 Too many connections from your IP');
    await fourth.waitClosed();
    assert.equal(fourth.replies.length, 1);
    const logged = await waitForRefusal(relay(), 'maxInboundConnectionsPerSource', '127.0.7.1');
    assert.equal(logged.data, '421 4.7.0 Too many connections from your IP');

    // another address of the same connector is not affected
    const other = await session('127.0.7.2');
    await other.quit();

    // a slot comes back when one of the three leaves
    const leaving = held.pop() as SmtpClient;
    await leaving.quit();
    await disconnected(leaving, '127.0.7.1');
    const again = await session('127.0.7.1');
    await again.quit();
    for (const c of held) await c.quit();
  });
});

describe('message rate', () => {
  test('messageRateLimit 2 per minute: the third message from one address gets 451 4.7.0, in this session and the next', async () => {
    const client = await session('127.0.7.17');
    for (const n of [1, 2]) {
      const replies = await sendMessage(client, `rate${n}@fabrikam.test`, ['x@tailspin.test'], plainMessage(`rate${n}@fabrikam.test`, 'x@tailspin.test', `rate ${n}`));
      assert.match(replies.at(-1)?.line ?? '', /^250 2\.6\.0 .*Queued/, `message ${n}`);
    }
    assert.equal((await client.send('MAIL FROM:<rate3@fabrikam.test>')).line, '451 4.7.0 Message rate limit exceeded');
    await client.quit();
    const logged = await waitForRefusal(relay(), 'messageRateLimit:ip', '127.0.7.17');
    assert.equal(logged.data, 'MAIL refused: 451 4.7.0 Message rate limit exceeded');

    const next = await session('127.0.7.17');
    assert.equal((await next.send('MAIL FROM:<rate4@fabrikam.test>')).line, '451 4.7.0 Message rate limit exceeded');
    await next.quit();
    assert.equal(queuedMessages(relay(), 'rate3@fabrikam.test').length + queuedMessages(relay(), 'rate4@fabrikam.test').length, 0);

    const neighbour = await session('127.0.7.18');
    assert.equal((await neighbour.send('MAIL FROM:<rate5@fabrikam.test>')).line, '250 Accepted');
    await neighbour.quit();
  });
});

describe('refusals', () => {
  test('tarpitInterval 1s: a refusal is answered no sooner than 1 s after the command', async () => {
    const client = await session('127.0.7.32');
    assert.equal((await client.send('MAIL FROM:<slow@fabrikam.test>')).code, 250);
    const sent = performance.now() - client.started;
    const reply = await client.send('RCPT TO:<x@tailspin.test>');
    assert.equal(reply.line, '550 5.7.54 Unable to relay recipient in non-accepted domain');
    assert.ok(reply.at - sent >= 950, `answered after ${Math.round(reply.at - sent)} ms`);
    await client.quit();
  });

  test('maxProtocolErrors 2: after two refusals the next one is 421 4.7.0 and the connection is closed', async () => {
    const client = await session('127.0.7.40');
    assert.equal((await client.send('MAIL FROM:<errors@fabrikam.test>')).code, 250);
    assert.equal((await client.send('RCPT TO:<a@tailspin.test>')).line, '550 5.7.54 Unable to relay recipient in non-accepted domain');
    assert.equal((await client.send('RCPT TO:<b@tailspin.test>')).line, '550 5.7.54 Unable to relay recipient in non-accepted domain');
    assert.equal((await client.send('RCPT TO:<c@tailspin.test>')).line, '421 4.7.0 Too many errors on this connection, closing transmission channel');
    await client.waitClosed();
    const logged = await waitForRefusal(relay(), 'maxProtocolErrors', '127.0.7.40');
    assert.equal(logged.data, 'too many errors, closing');
  });
});

describe('timeouts and greeting', () => {
  test('connectionInactivityTimeout 2s: an idle session gets 421 and is closed', async () => {
    const client = await session('127.0.7.48');
    const idleSince = performance.now() - client.started;
    const reply = await client.reply(10_000);
    assert.equal(reply.code, 421, reply.line);
    await client.waitClosed();
    assert.ok(reply.at - idleSince >= 1900, `closed after ${Math.round(reply.at - idleSince)} ms idle`);
  });

  test('connectionInactivityTimeout: the idle disconnect is in the protocol log with its reason',
    {},
    async () => {
      const client = await session('127.0.7.48');
      await client.waitClosed(10_000);
      const endpoint = `127.0.7.48:${client.localPort}`;
      const line = await relay().waitForLog((l) => l.log === 'protocol' && l['remote-endpoint'] === endpoint && l.event === '*' && /timeout|inactiv/i.test(String(l.context)), 3000);
      assert.match(String(line.data), /^421 /);
    });

  test('greetDelay 1s: the greeting comes after the delay', async () => {
    const client = await open('127.0.7.57');
    const greeting = await client.reply();
    assert.equal(greeting.line, '220 greet.limits.example.test slow');
    assert.ok(greeting.at >= 950, `greeting after ${Math.round(greeting.at)} ms`);
    await client.send('EHLO patient.example.test');
    await client.quit();
  });

  test('greetDelay 1s: a client that talks before the greeting is refused with 421 and never greeted', async () => {
    const client = await open('127.0.7.58');
    client.write('EHLO early.example.test\r\n');
    const reply = await client.reply();
    assert.equal(reply.code, 421, reply.line);
    assert.match(reply.line, /too soon/i);
    await client.waitClosed();
    assert.deepEqual(client.replies.map((r) => r.code), [421]);
  });

  test('greetDelay 1s: the early-talker refusal is in the protocol log with its reason',
    {},
    async () => {
      const client = await open('127.0.7.60');
      client.write('EHLO early.example.test\r\n');
      await client.waitClosed();
      const endpoint = `127.0.7.60:${client.localPort}`;
      const line = await relay().waitForLog((l) => l.log === 'protocol' && l['remote-endpoint'] === endpoint && l.event === '*' && String(l.data).startsWith('421'), 3000);
      assert.notEqual(line.context, '');
    });

  test('greetDelay 1s: connections that end before the greeting give their slot back (maxInboundConnectionsPerSource 2)',
    {},
    async () => {
      for (let i = 0; i < 2; i++) {
        const early = await open('127.0.7.59');
        early.write('EHLO early.example.test\r\n');
        await early.waitClosed();
      }
      const hangUp = await open('127.0.7.59');
      hangUp.close();
      await hangUp.closed;
      await new Promise((resolve) => setTimeout(resolve, 1500)); // past the greet delay of all three
      const client = await open('127.0.7.59');
      const greeting = await client.reply();
      client.close();
      assert.equal(greeting.line, '220 greet.limits.example.test slow');
    });

  test('greetDelay 0 (default): the greeting comes without any client byte, and a client that talks at once is served', async () => {
    const waiting = await open('127.0.7.64');
    const greeting = await waiting.reply();
    assert.equal(greeting.line, '220 prompt.limits.example.test');
    assert.equal(waiting.socket.bytesWritten, 0);
    await waiting.quit();

    const eager = await open('127.0.7.64');
    eager.write('EHLO eager.example.test\r\n');
    assert.equal((await eager.reply()).line, '220 prompt.limits.example.test');
    assert.equal((await eager.reply()).code, 250);
    await eager.quit();
  });
});

describe('message checks', () => {
  test('maxHopCount 3: two Received headers pass; four get 554 5.4.6 and nothing is queued', async () => {
    const client = await session('127.0.7.72');
    const ok = await sendMessage(client, 'hops2@fabrikam.test', ['x@tailspin.test'], plainMessage('hops2@fabrikam.test', 'x@tailspin.test', 'two hops', 'body', receivedHeaders(2)));
    assert.match(ok.at(-1)?.line ?? '', /^250 2\.6\.0 .*Queued/);
    const loop = await sendMessage(client, 'hops4@fabrikam.test', ['x@tailspin.test'], plainMessage('hops4@fabrikam.test', 'x@tailspin.test', 'four hops', 'body', receivedHeaders(4)));
    assert.equal(loop.at(-1)?.line, '554 5.4.6 Hop count exceeded - possible mail loop');
    await client.quit();
    assert.equal(queuedMessages(relay(), 'hops2@fabrikam.test').length, 1);
    assert.equal(queuedMessages(relay(), 'hops4@fabrikam.test').length, 0);
    const logged = await waitForRefusal(relay(), 'hopCountExceeded', '127.0.7.72');
    assert.equal(logged.data, 'DATA refused: 554 5.4.6 Hop count exceeded - possible mail loop');
  });

  test('maxHopCount counts the Received headers the header firewall would strip', async () => {
    const client = await session('127.0.7.73');
    const loop = await sendMessage(client, 'hops-strict@fabrikam.test', ['x@tailspin.test'], plainMessage('hops-strict@fabrikam.test', 'x@tailspin.test', 'stripped hops', 'body', receivedHeaders(4)));
    assert.equal(loop.at(-1)?.line, '554 5.4.6 Hop count exceeded - possible mail loop');
    await client.quit();
    assert.equal(queuedMessages(relay(), 'hops-strict@fabrikam.test').length, 0);
  });

  test('requireEHLODomain: EHLO/HELO with a bare word is refused at once (501 5.5.4) and no mail is taken; a domain or an address literal is fine', async () => {
    for (const [verb, helo] of [['EHLO', 'localhost'], ['HELO', 'workstation']] as const) {
      const client = await SmtpClient.connect({ host: IP, port, localAddress: '127.0.7.80' });
      assert.equal((await client.send(`${verb} ${helo}`)).line, '501 5.5.4 Invalid domain name', helo);
      assert.equal((await client.send('MAIL FROM:<ehlo@fabrikam.test>')).code, 503, 'no MAIL before a good EHLO');
      assert.equal((await client.send('EHLO client.example.test')).code, 250, 'the client may try again');
      await client.quit();
    }
    const logged = (): number => protocolLines(relay()).filter((l) => l.context === 'invalidHeloDomain' && fromClient(l, '127.0.7.80')).length;
    for (let i = 0; i < 40 && logged() < 2; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(logged(), 2, 'each refusal logged with its reason');
    for (const helo of ['[127.0.7.80]', 'client.example.test']) {
      const client = await session('127.0.7.80', helo);
      assert.equal((await client.send('MAIL FROM:<ehlo@fabrikam.test>')).line, '250 Accepted', helo);
      await client.quit();
    }
  });
});

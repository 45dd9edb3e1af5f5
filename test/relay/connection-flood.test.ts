/*
 * test/relay/connection-flood - a connection flood above the connector's limits.
 *
 * Limits: maxInboundConnections 60, maxInboundConnectionsPerSource 20 (percentage 100, so the
 * per-source number is the one that counts). Two flooding addresses open 300 connections each
 * and hold every one that is greeted (40 slots held). A user would notice three things, and
 * each is asserted: every connection past the limits gets `421` at once (the slowest within
 * 2 s, under a loaded machine) and is closed; a client within its limits, from a third address,
 * is greeted and has its message accepted promptly during the flood; and the hub's memory stays
 * bounded (RSS growth under the flood below 64 MiB: refused connections are closed, not kept).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { SmtpClient } from '../support/smtp-client.ts';
import { relayingConnector, freePort, plainMessage, queuedMessages, sendMessage, startRelay, stopRelay, type HubProcess } from './support-policy.ts';

const IP = '127.0.0.98';
const FLOODERS = ['127.0.9.1', '127.0.9.2'];
const LEGIT = '127.0.9.10';
const PER_FLOODER = 300;
const PER_SOURCE = 20;
const RSS_GROWTH_BOUND = 64 * 1024 * 1024;

let hub: HubProcess | undefined;
let port = 0;

function relay(): HubProcess {
  assert.ok(hub, 'hub not started');
  return hub;
}

const rss = (pid: number): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

interface FirstReply { code: number; ms: number; socket: Socket }

/** One flood connection: the first reply line and how long it took; the socket stays open. */
function floodConnection(localAddress: string): Promise<FirstReply> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect({ host: IP, port, localAddress });
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n')) resolve({ code: Number(text.slice(0, 3)), ms: performance.now() - started, socket });
    });
    socket.on('error', reject);
    socket.setTimeout(10_000, () => reject(new Error(`${localAddress}: no reply in 10 s`)));
  });
}

before(async () => {
  port = await freePort(IP);
  hub = await startRelay({
    connectors: [relayingConnector(`${IP}:${port}`, ['127.0.9.0/24'], { maxInboundConnections: 60, maxInboundConnectionsPerSource: PER_SOURCE, maxInboundConnectionPercentagePerSource: 100 })],
  });
});

after(() => stopRelay(hub));

describe('connection flood above the limits', { timeout: 60_000 }, () => {
  test('the flood gets 421 at once, a client within its limits is served, memory stays bounded', async (t) => {
    const pid = relay().child.pid;
    assert.ok(pid);
    const rssBefore = rss(pid);

    const flood = Promise.all(FLOODERS.flatMap((address) => Array.from({ length: PER_FLOODER }, () => floodConnection(address))));
    // the legitimate client starts while the flood is being answered
    const legitStarted = performance.now();
    const client = await SmtpClient.connect({ host: IP, port, localAddress: LEGIT });
    assert.equal(client.greeting.code, 220, client.greeting.line);
    assert.equal((await client.send('EHLO app.flood.test')).code, 250);
    const replies = await sendMessage(client, 'app@apps.test', ['someone@elsewhere.test'], plainMessage('app@apps.test', 'someone@elsewhere.test', 'during-the-flood'));
    const legitMs = performance.now() - legitStarted;
    await client.quit();
    client.close();

    const results = await flood;
    const rssDuring = rss(pid);
    for (const r of results) r.socket.destroy();

    const greeted = results.filter((r) => r.code === 220).length;
    const refused = results.filter((r) => r.code === 421);
    const slowest421 = Math.max(...refused.map((r) => r.ms));
    t.diagnostic(`${greeted} greeted, ${refused.length} got 421 (slowest ${slowest421.toFixed(0)} ms); legitimate message in ${legitMs.toFixed(0)} ms; RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssDuring / 2 ** 20).toFixed(0)} MiB`);

    assert.equal(greeted, PER_SOURCE * FLOODERS.length, 'each flooding address holds exactly its per-source limit');
    assert.equal(refused.length, results.length - greeted, 'every other flood connection got 421');
    assert.ok(slowest421 < 2000, `421 comes at once (slowest ${slowest421.toFixed(0)} ms)`);
    assert.equal(replies.at(-1)?.code, 250, `the legitimate message is accepted: ${replies.at(-1)?.line}`);
    assert.ok(legitMs < 3000, `the legitimate client is served promptly (${legitMs.toFixed(0)} ms)`);
    assert.equal(queuedMessages(relay(), 'app@apps.test').length, 1);
    assert.ok(rssDuring - rssBefore < RSS_GROWTH_BOUND, `RSS grew ${((rssDuring - rssBefore) / 2 ** 20).toFixed(0)} MiB under the flood (bound 64 MiB)`);
  });
});

/*
 * bench/latency-client against real servers on loopback (issue 14 item 8): Postfix's smtp-sink,
 * made to answer the end-of-data dot 1 s late (or some other command late, or with a refusal),
 * and a real hub with --hold-delivery. The latency measured must be the DATA-to-250 interval
 * and nothing else, every accepted message must be one sample, and a refusal must be reported.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLatencyClient, type LatencyResult } from '../../bench/latency-client.ts';
import { freePort } from '../controlplane/controlplane.ts';
import { smtpSinkFor } from '../support/smtp-peers.ts';
import { anonymousRelayConnector, removeHubDir, startHubProcess, type HubProcess } from '../support/hub-process.ts';

const HUB_IP = '127.0.0.186';
const probe = { size: 2048, from: 'probe@bench.test', to: 'rcpt@remote.test', helo: 'bench.test' };

async function runFor(host: string, port: number, sessions: number, ms: number): Promise<LatencyResult> {
  const client = startLatencyClient({ host, port, sessions, ...probe });
  await client.ready;
  await sleep(ms);
  return client.stop();
}

test('smtp-sink answering the final dot 1 s late: each sample is that second, one sample per accepted message', async (t) => {
  const sink = await smtpSinkFor(t, ['-W', '.:1']);
  const result = await runFor('127.0.0.1', sink.port, 2, 1500);
  assert.deepEqual(result.errors, []);
  assert.equal(result.samples.length, result.accepted);
  assert.ok(result.accepted >= 2 && result.accepted <= 6, `2 sessions over ~2.5 s at 1 s per message: ${result.accepted} messages`);
  for (const s of result.samples) assert.ok(s.ms >= 990 && s.ms < 2000, `DATA-to-250 ${s.ms.toFixed(0)} ms, expected about 1000`);
});

test('smtp-sink answering MAIL 1 s late: that wait is not DATA-to-250', async (t) => {
  const sink = await smtpSinkFor(t, ['-W', 'MAIL:1']);
  const result = await runFor('127.0.0.1', sink.port, 1, 1500);
  assert.deepEqual(result.errors, []);
  assert.ok(result.accepted >= 1, 'at least one message in 1.5 s');
  for (const s of result.samples) assert.ok(s.ms < 500, `DATA-to-250 ${s.ms.toFixed(0)} ms though only MAIL was delayed`);
});

test('smtp-sink refusing the final dot: the session ends with the reply in errors, no sample', async (t) => {
  const sink = await smtpSinkFor(t, ['-f', '.']);
  const result = await runFor('127.0.0.1', sink.port, 1, 300);
  assert.equal(result.accepted, 0);
  assert.equal(result.samples.length, 0);
  assert.equal(result.errors.length, 1);
  assert.match(result.errors[0] ?? '', /end of data \(\.\): expected 250, got 5\d\d/);
});

test('nothing listening: the error names the address, ready still resolves', async () => {
  const port = await freePort();
  const result = await runFor('127.0.0.1', port, 2, 0);
  assert.equal(result.accepted, 0);
  assert.equal(result.errors.length, 2);
  assert.match(result.errors[0] ?? '', new RegExp(`127\\.0\\.0\\.1:${port}: greeting: .*ECONNREFUSED`));
});

let hub: HubProcess | undefined;
after(async () => {
  await hub?.stop();
  if (hub) removeHubDir(hub);
});

test('a real hub (--hold-delivery): every 250 is a sample, and the hub received exactly that many messages', async () => {
  const port = await freePort(HUB_IP);
  hub = await startHubProcess({
    hub: 'latency',
    extraArgs: ['--hold-delivery'],
    manifests: `apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: latency, namespace: bench}
spec: {fqdn: latency.relay.test, antiSpam: {spf: false}}
---
${anonymousRelayConnector({ namespace: 'bench', hub: 'latency', binding: `${HUB_IP}:${port}` })}`,
  });
  const result = await runFor(HUB_IP, port, 3, 1000);
  assert.deepEqual(result.errors, []);
  assert.ok(result.accepted >= 3, `3 sessions for 1 s: ${result.accepted} messages`);
  assert.equal(result.samples.length, result.accepted);
  for (const s of result.samples) assert.ok(s.ms > 0 && s.ms < 5000, `DATA-to-250 ${s.ms} ms`);
  // the protocol log's reply to each final dot: "250 2.6.0 ... Queued", context "queued <id> ..."
  const received = (): number => hub?.logs.filter((l) => l.log === 'protocol' && l.event === '>' && String(l.context).startsWith('queued ')).length ?? 0;
  const deadline = Date.now() + 5000;
  while (received() < result.accepted && Date.now() < deadline) await sleep(50);
  assert.equal(received(), result.accepted, 'messages the hub queued = messages the latency client counted');
});

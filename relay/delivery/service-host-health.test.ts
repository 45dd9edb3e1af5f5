/*
 * DeliveryService and a smart host that cannot take sessions (it greets with 421): the first
 * message finds out and fails over to the second smart host; while the first host is marked
 * down (the queue's minBackoff) later messages go straight to the second one without
 * connecting to it; after the period it is tried again. The hub says so in its app log.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../test/controlplane/controlplane.ts';
import { smartHostWithDsnDrop } from './fixtures.ts';
import { harness, testBodyText } from './service-harness.ts';
import { hasSmtpSink, smtpSinkFor, until } from './test-peers.ts';

const skip = hasSmtpSink() ? false : 'smtp-sink (postfix) is not installed';
const DOWN_MS = 3000; // = minBackoff: how long the busy host is skipped

/** A host that answers every connection with a 421 greeting and hangs up; counts connections. */
async function busyHost(t: TestContext): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    socket.on('error', () => undefined);
    socket.end('421 4.3.2 busy.example.test too busy, try later\r\n');
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port, connections: () => connections };
}

void test('a smart host that could not be reached is skipped by later messages until minBackoff has passed', { skip }, async (t) => {
  const h = await harness(t);
  const busy = await busyHost(t);
  const sink = await smtpSinkFor(t);
  const config = smartHostWithDsnDrop([`127.0.0.1:${busy.port}`, `127.0.0.1:${sink.port}`], path.join(h.dir, 'drop'), { minBackoffMs: DOWN_MS, maxBackoffMs: DOWN_MS });
  const service = await h.start(config);
  const downLines = (): Array<Record<string, unknown>> => h.lines.filter((l) => l.log === 'app' && String(l.message).includes(`next hop 127.0.0.1:${busy.port} marked down`));
  const delivered = (n: number) => async (): Promise<boolean> => h.tracking('SEND').length >= n && (await h.queueEmpty());

  const started = Date.now();
  await h.commit({ to: ['a@remote.test'], body: testBodyText('first') });
  service.kick();
  await until(delivered(1), 'the first message, after failing over');
  assert.equal(busy.connections(), 1, 'the first message tried the busy host');
  assert.equal(downLines().length, 1, 'the hub logs that it marked the host down');
  assert.equal(downLines()[0]?.reason, '421 4.3.2 busy.example.test too busy, try later');

  for (const token of ['second', 'third']) await h.commit({ to: ['b@remote.test'], body: testBodyText(token) });
  service.kick();
  await until(delivered(3), 'two more messages');
  assert.ok(Date.now() - started < DOWN_MS, 'still inside the down period (the machine was too slow to tell otherwise)');
  assert.equal(busy.connections(), 1, 'no connection to a host marked down');
  assert.deepEqual(h.tracking('SEND').map((e) => e['server-hostname']), Array.from({ length: 3 }, () => `127.0.0.1:${sink.port}`));
  assert.equal(h.tracking('DEFER').length, 0, 'skipping a host is failover, not a deferral');
  assert.match(await h.registry.metrics(), /^relay_next_hops_down 1$/m, 'the metric counts the host while it is down');

  await sleep(DOWN_MS - (Date.now() - started) + 100);
  await h.commit({ to: ['c@remote.test'], body: testBodyText('fourth') });
  service.kick();
  await until(delivered(4), 'a message after the down period');
  assert.equal(busy.connections(), 2, 'after minBackoff the host is tried again');
  assert.equal(downLines().length, 2, 'and marked down again, logged again');
  await sleep(DOWN_MS + 100);
  assert.match(await h.registry.metrics(), /^relay_next_hops_down 0$/m, 'once the period is over the host is no longer counted');
});

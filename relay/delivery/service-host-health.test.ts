/*
 * DeliveryService and a smart host that cannot take sessions (it greets with 421): the first
 * two messages find out and fail over to the second smart host; the second failure in a row
 * marks the host down (for the queue's minBackoff less its jitter), so later messages go
 * straight to the second one without connecting to it; after the period it is tried again.
 * The hub says so in its app log and in relay_next_hops_down.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../test/controlplane/controlplane.ts';
import { smartHostWithDsnDrop } from '../../test/support/rendered-config.ts';
import { harness, testBodyText } from '../../test/support/delivery-harness.ts';
import { hasSmtpSink, smtpSinkFor, until } from '../../test/support/smtp-peers.ts';

const skip = hasSmtpSink() ? false : 'smtp-sink (postfix) is not installed';
const DOWN_MS = 3000; // how long the busy host is skipped

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

void test('a smart host that failed twice in a row is skipped by later messages until the period is over', { skip }, async (t) => {
  const h = await harness(t);
  const busy = await busyHost(t);
  const sink = await smtpSinkFor(t);
  // the period is minBackoff less its jitter (0.8 x)
  const config = smartHostWithDsnDrop([`127.0.0.1:${busy.port}`, `127.0.0.1:${sink.port}`], path.join(h.dir, 'drop'), { minBackoffMs: DOWN_MS / 0.8, maxBackoffMs: DOWN_MS / 0.8 });
  const service = await h.start(config);
  const downLines = (): Array<Record<string, unknown>> => h.lines.filter((l) => l.log === 'app' && String(l.message).includes(`next hop 127.0.0.1:${busy.port} marked down`));
  const delivered = (n: number) => async (): Promise<boolean> => h.tracking('SEND').length >= n && (await h.queueEmpty());
  const send = async (n: number, token: string): Promise<void> => {
    await h.commit({ to: [`${token}@remote.test`], body: testBodyText(token) });
    service.kick();
    await until(delivered(n), `message ${n} (${token})`);
  };

  await send(1, 'first');
  assert.equal(busy.connections(), 1, 'the first message tried the busy host, then failed over');
  assert.equal(downLines().length, 0, 'one failure among others is not a host down');
  const markedAt = Date.now();
  await send(2, 'second');
  assert.equal(busy.connections(), 2);
  assert.equal(downLines().length, 1, 'the second failure in a row marks it down, and the hub says so');
  assert.equal(downLines()[0]?.reason, '421 4.3.2 busy.example.test too busy, try later');

  await send(3, 'third');
  await send(4, 'fourth');
  assert.ok(Date.now() - markedAt < DOWN_MS, 'still inside the down period (the machine was too slow to tell otherwise)');
  assert.equal(busy.connections(), 2, 'no connection to a host marked down');
  assert.deepEqual(h.tracking('SEND').map((e) => e['server-hostname']), Array.from({ length: 4 }, () => `127.0.0.1:${sink.port}`));
  assert.equal(h.tracking('DEFER').length, 0, 'skipping a host is failover, not a deferral');
  assert.match(await h.registry.metrics(), /^relay_next_hops_down 1$/m, 'the metric counts the host while it is down');

  await sleep(DOWN_MS - (Date.now() - markedAt) + 100);
  assert.match(await h.registry.metrics(), /^relay_next_hops_down 0$/m, 'once the period is over the host is no longer counted');
  await send(5, 'fifth');
  assert.equal(busy.connections(), 3, 'after the period the host is tried again');
});

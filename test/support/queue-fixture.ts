/*
 * test/support/queue-fixture - the queue manager's tests run against the real spool: a temp
 * spool, its delivery states, a commit helper, and QueueManagers that are stopped after the test.
 */
import type { TestContext } from 'node:test';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MessageEnvelope } from '../../relay/delivery/envelope.ts';
import { QueueManager, type QueueLogEvent, type QueueManagerOptions } from '../../relay/queue/queue-manager.ts';
import { Spool } from '../../relay/spool/spool.ts';

export const RETRY = { minBackoffMs: 20, maxBackoffMs: 40, maxAgeMs: 60_000, delayNotificationMs: 0 };

function envelope(size: number, rcpts = ['a@example.com', 'b@example.com'], receivedAt = new Date().toISOString()): MessageEnvelope {
  return { mailFrom: 's@example.org', rcptTo: rcpts.map((address) => ({ address })), receivedAt, connectorId: 'ns/rc', sessionId: 's1', clientAddress: '127.0.0.1', size };
}

/** queueFixture - a temp spool, its delivery states, a commit helper and QueueManagers that stop after the test. */
export async function queueFixture(t: TestContext) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-queue-'));
  const spool = await Spool.open(dir, { minFreeBytes: 0 });
  const store = await spool.openDeliveryStates();
  const managers: QueueManager[] = [];
  t.after(async () => {
    for (const m of managers) await m.stop(0);
    await spool.close();
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const body = Buffer.from('Subject: q\r\n\r\nhello\r\n');
  const commit = (rcpts?: string[], receivedAt?: string): Promise<string> => spool.commitMessage(envelope(body.length, rcpts, receivedAt), body);
  const log: QueueLogEvent[] = [];
  const manager = (o: Partial<QueueManagerOptions> & Pick<QueueManagerOptions, 'run'>): QueueManager => {
    const m = new QueueManager({ spool, store, retry: () => RETRY, maxActive: 10, pollIntervalMs: 50, log: (e) => log.push(e), random: () => 0.5, ...o });
    managers.push(m);
    return m;
  };
  return { dir, spool, store, commit, manager, log };
}


import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QueueJob, RecipientOutcome } from '../delivery/job.ts';
import { queueFixture as setup, RETRY } from '../../test/support/queue-fixture.ts';

async function until(check: () => Promise<boolean> | boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const outcome = (index: number, result: RecipientOutcome['result']): RecipientOutcome => ({
  index, result, dsnStatus: result === 'delivered' ? '2.0.0' : result === 'failed' ? '5.1.1' : '4.4.1', reply: `${result} reply`,
});

void test('a delivered message is removed with its state; the runner sees a fresh state once', async (t) => {
  const { spool, store, commit, manager } = await setup(t);
  const jobs: QueueJob[] = [];
  const id = await commit();
  const m = manager({ run: (job) => (jobs.push(job), Promise.resolve(job.pending.map((i) => outcome(i, 'delivered')))) });
  await m.start();
  await until(async () => (await spool.listMessages('incoming')).length + (await spool.listMessages('active')).length === 0 && jobs.length === 1, 'delivery');
  assert.equal(jobs[0]?.id, id);
  assert.equal(jobs[0]?.firstAttempt, true);
  assert.deepEqual(jobs[0]?.pending, [0, 1]);
  assert.deepEqual(await store.read(id), { ok: true, state: null });
});

void test('partial delivery: the state survives in deferred/, and only pending recipients are retried', async (t) => {
  const { spool, store, commit, manager, log } = await setup(t);
  const id = await commit(['a@example.com', 'b@example.com', 'c@example.com']);
  const seen: number[][] = [];
  const reported: string[][] = [];
  let onDisk: Awaited<ReturnType<typeof store.read>> | null = null;
  let retried: QueueJob | null = null;
  const m = manager({
    run: async (job) => {
      seen.push([...job.pending]);
      if (seen.length === 1) return [outcome(0, 'delivered'), outcome(1, 'deferred'), outcome(2, 'failed')];
      retried = job;
      onDisk = await store.read(id); // the state written before the move to deferred/
      return job.pending.map((i) => outcome(i, 'delivered'));
    },
    report: (_job, outcomes) => (reported.push(outcomes.map((o) => o.result)), Promise.resolve()),
  });
  await m.start();
  await until(async () => seen.length === 2 && (await spool.listMessages('active')).length === 0 && log.some((e) => e.event === 'messageDone'), 'retry');
  assert.deepEqual(seen, [[0, 1, 2], [1]]);
  assert.deepEqual(reported, [['delivered', 'deferred', 'failed'], ['delivered']]);
  const job = retried as QueueJob | null;
  assert.equal(job?.attempts, 1);
  assert.equal(job?.firstAttempt, false);
  const read = onDisk as Awaited<ReturnType<typeof store.read>> | null;
  assert.ok(read?.ok && read.state);
  assert.equal(read.state.attempts, 1);
  assert.deepEqual(read.state.recipients.map((r) => r.status), ['delivered', 'pending', 'failed']);
  assert.equal(read.state.recipients[2]?.dsnStatus, '5.1.1');
  assert.deepEqual(await spool.listMessages('deferred'), []);
  assert.ok(log.some((e) => e.event === 'messageDone' && e.delivered === 2 && e.failed === 1));
});

void test('expiry: the final attempt turns deferrals into failures (4.4.7) and removes the message', async (t) => {
  const { spool, commit, manager } = await setup(t);
  const receivedAt = new Date(Date.now() - 59_900).toISOString(); // expires 100 ms from now
  await commit(['a@example.com'], receivedAt);
  const reports: RecipientOutcome[][] = [];
  const attempts: boolean[] = [];
  const noticeDue: boolean[] = [];
  const m = manager({
    retry: () => ({ ...RETRY, delayNotificationMs: 1000 }), // long past: due on every attempt but the expired one
    run: (job) => (attempts.push(job.expired), noticeDue.push(job.delayNoticeDue), Promise.resolve(job.pending.map((i) => outcome(i, 'deferred')))),
    report: (_job, outcomes) => (reports.push([...outcomes]), Promise.resolve()),
  });
  await m.start();
  await until(async () => reports.some((r) => r[0]?.result === 'failed') && (await spool.listMessages('deferred')).length === 0 && (await spool.listMessages('active')).length === 0, 'expiry');
  assert.equal(attempts.at(-1), true);
  assert.ok(attempts.slice(0, -1).every((e) => !e));
  assert.equal(noticeDue.at(-1), false, 'no delay notice on the final attempt: it fails instead');
  assert.ok(noticeDue.slice(0, -1).every((d) => d), `due before expiry: ${noticeDue.join(',')}`);
  const last = reports.at(-1)?.[0];
  assert.equal(last?.dsnStatus, '4.4.7');
  assert.match(last?.reply ?? '', /expired.*deferred reply/);
});

void test('delay notice: due from delayNotification on; a deferred recipient is marked delayNotified once, on disk, across a restart', async (t) => {
  const { spool, store, commit, manager, log } = await setup(t);
  const DELAY_MS = 250;
  const id = await commit(['slow@example.com', 'soon@example.com']);
  const seen: Array<{ due: boolean; notified: Array<boolean | undefined>; pending: number[] }> = [];
  const reported: Array<Array<boolean | undefined>> = [];
  // slow@ is always deferred; soon@ is deferred until the notice is due, then delivered
  const run = (job: QueueJob): Promise<RecipientOutcome[]> => {
    seen.push({ due: job.delayNoticeDue, notified: job.recipients.map((r) => r.delayNotified), pending: [...job.pending] });
    return Promise.resolve(job.pending.map((i) => outcome(i, i === 1 && job.delayNoticeDue ? 'delivered' : 'deferred')));
  };
  const first = manager({
    retry: () => ({ ...RETRY, delayNotificationMs: DELAY_MS }),
    run,
    report: (job) => (reported.push(job.recipients.map((r) => r.delayNotified)), Promise.resolve()),
  });
  await first.start();
  const deferredAfterDue = (): boolean => {
    const dueAt = seen.findIndex((s) => s.due);
    return dueAt >= 0 && log.filter((e) => e.event === 'messageDeferred').length > dueAt;
  };
  await until(deferredAfterDue, 'a deferral while the notice was due');
  await first.stop(1000);
  const dueAt = seen.findIndex((s) => s.due);
  assert.ok(dueAt > 0, `not due at first: ${seen.map((s) => s.due).join(',')}`);
  assert.ok(seen.slice(0, dueAt).every((s) => !s.due && s.notified.every((n) => n === undefined)), 'nothing marked before the threshold');
  assert.deepEqual(seen[dueAt]?.notified, [undefined, undefined], 'the first due attempt finds nobody told yet');
  assert.deepEqual(reported[dueAt], [undefined, undefined], 'the reporter sees the states before the attempt');
  for (const later of seen.slice(dueAt + 1)) assert.deepEqual(later.notified, [true, undefined], 'marked once; a delivered recipient is not');
  const read = await store.read(id);
  assert.ok(read.ok && read.state);
  assert.deepEqual(read.state.recipients.map((r) => [r.status, r.delayNotified]), [['pending', true], ['delivered', undefined]]);

  const before = seen.length;
  const second = manager({ retry: () => ({ ...RETRY, delayNotificationMs: DELAY_MS }), run: (job) => run(job).then((o) => o.map((x) => ({ ...x, result: 'delivered' as const }))) });
  await second.start();
  await until(async () => seen.length > before && (await spool.listMessages('deferred')).length === 0 && (await spool.listMessages('active')).length === 0, 'delivery after the restart');
  assert.deepEqual(seen[before], { due: true, notified: [true, undefined], pending: [0] }, 'the mark survives a restart');
});

void test('recovery: active/ goes back to incoming/ or deferred/, orphan states are pruned', async (t) => {
  const { spool, store, commit, manager, log } = await setup(t);
  const fresh = await commit();
  const tried = await commit();
  await spool.moveMessage(fresh, 'incoming', 'active');
  await spool.moveMessage(tried, 'incoming', 'active');
  const now = new Date().toISOString();
  const recipients = [{ address: 'a@example.com', status: 'delivered' as const, attempts: 1 }, { address: 'b@example.com', status: 'pending' as const, attempts: 1 }];
  await store.write({ version: 1, id: tried, attempts: 1, firstAttemptAt: now, lastAttemptAt: now, nextAttemptAt: now, recipients });
  const orphan = '0000000000000000000000000001';
  await store.write({ version: 1, id: orphan, attempts: 1, firstAttemptAt: now, lastAttemptAt: now, nextAttemptAt: now, recipients });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const jobs: QueueJob[] = [];
  const m = manager({ run: async (job) => (jobs.push(job), await gate, job.pending.map((i) => outcome(i, 'delivered'))) });
  const report = await m.start();
  assert.deepEqual({ ...report, unreadableStates: report.unreadableStates.length }, { activeToIncoming: 1, activeToDeferred: 1, deferredScheduled: 0, orphanStates: 1, unreadableStates: 0 });
  assert.ok(log.some((e) => e.event === 'queueRecovered'));
  await until(() => jobs.length === 2, 'both picked up');
  const byId = new Map(jobs.map((j) => [j.id, j]));
  assert.deepEqual(byId.get(tried)?.pending, [1]);
  assert.equal(byId.get(tried)?.firstAttempt, false);
  assert.deepEqual(byId.get(fresh)?.pending, [0, 1]);
  release();
  await until(async () => (await spool.listMessages('active')).length === 0, 'done');
});

void test('the active set is bounded by maxActive', async (t) => {
  const { spool, commit, manager } = await setup(t);
  for (let i = 0; i < 6; i += 1) await commit();
  let running = 0;
  let peak = 0;
  let done = 0;
  const m = manager({
    maxActive: 2,
    run: async (job) => {
      running += 1;
      peak = Math.max(peak, running);
      assert.ok((await spool.listMessages('active')).length <= 2);
      await sleep(20);
      running -= 1;
      done += 1;
      return job.pending.map((i) => outcome(i, 'delivered'));
    },
  });
  await m.start();
  await until(() => done === 6, 'all six');
  assert.equal(peak, 2);
});

void test('stop abandons attempts in flight: the message stays in active/ untouched', async (t) => {
  const { spool, store, commit, manager, log } = await setup(t);
  const id = await commit();
  let started = false;
  const m = manager({
    run: (job) => new Promise((_resolve, reject) => {
      started = true;
      job.signal.addEventListener('abort', () => reject(new Error('aborted')));
    }),
  });
  await m.start();
  await until(() => started, 'attempt started');
  await m.stop(30);
  assert.deepEqual(await spool.listMessages('active'), [id]);
  assert.deepEqual(await store.read(id), { ok: true, state: null });
  assert.ok(log.some((e) => e.event === 'abandoned' && e.ids.includes(id)));
});

void test('a corrupt message goes to corrupt/; a throwing runner defers with 4.3.0', async (t) => {
  const { dir, spool, store, commit, manager, log } = await setup(t);
  const bad = '0000000000010000000000000002';
  await fs.writeFile(path.join(dir, 'incoming', bad), 'garbage');
  const id = await commit(['a@example.com']);
  const m = manager({ run: () => Promise.reject(new Error('boom')) });
  await m.start();
  await until(async () => (await spool.listMessages('corrupt')).includes(bad) && (await spool.listMessages('deferred')).includes(id), 'corrupt + deferred');
  await m.stop(0);
  const read = await store.read(id);
  assert.ok(read.ok && read.state);
  assert.equal(read.state.recipients[0]?.dsnStatus, '4.3.0');
  assert.match(read.state.recipients[0]?.reply ?? '', /boom/);
  assert.ok(log.some((e) => e.event === 'messageCorrupt' && e.id === bad));
});

void test('a next hop back while an attempt is in flight: if that attempt defers, the message is due at once, not after the backoff', async (t) => {
  const { commit, manager } = await setup(t);
  await commit(['a@example.com']);
  await commit(['b@example.com']);
  const gates: Array<PromiseWithResolvers<void>> = [];
  const attempts = new Map<string, number>();
  const m = manager({
    retry: () => ({ ...RETRY, minBackoffMs: 60_000, maxBackoffMs: 120_000 }), // a whole minute if nothing says otherwise
    run: async (job) => {
      attempts.set(job.id, (attempts.get(job.id) ?? 0) + 1);
      if (attempts.get(job.id) === 1) {
        const gate = Promise.withResolvers<void>();
        gates.push(gate);
        await gate.promise;
        return job.pending.map((i) => outcome(i, 'deferred')); // decided on the host's old down mark
      }
      return job.pending.map((i) => outcome(i, 'delivered'));
    },
  });
  await m.start();
  await until(() => gates.length === 2, 'both attempts in flight');
  m.retryInFlightIfDeferred(); // the host answers again now
  for (const gate of gates) gate.resolve();
  await until(() => [...attempts.values()].every((n) => n === 2) && attempts.size === 2, 'both attempted again at once', 3000);
  assert.deepEqual([...attempts.values()], [2, 2]);
});

/*
 * relay/queue/queue-manager - the queue as an on-disk state machine (Postfix's qmgr).
 *
 * JOB       Feed messages from incoming/ and due ones from deferred/ into active/, at most
 *           maxActive at a time, alternating between the two so neither starves; run one
 *           delivery attempt per active message (QueueJobRunner); then, from the outcomes:
 *             every recipient final  -> remove the message, then its delivery state;
 *             some still pending     -> write the delivery state (next attempt time), then
 *                                       move active/ -> deferred/ and schedule it.
 *           An expired message (older than retry.maxAge) gets one final attempt, and what it
 *           does not deliver fails (4.4.7). One older than retry.delayNotification (and not
 *           expired) is delayNoticeDue: a recipient it defers is marked delayNotified in its
 *           state, so the reporter's delay notice goes out once per recipient, across restarts.
 *           The reporter (DSNs) runs before anything is persisted, so a DSN is in the spool
 *           before the state that caused it moves on.
 * STATES    incoming -> active -> (removed) | deferred -> active ... ; hold/ and corrupt/
 *           are never touched here (an administrator's, through queue-actions.ts, which also
 *           calls retryNow and forget); an unreadable message goes to corrupt/.
 *           Every transition is QueueStore.moveMessage (the spool, wired by the hub: the
 *           queue writes nothing itself, queue-store.ts); no message lives only in memory: the
 *           in-memory schedule is rebuilt from delivery-state/ at start (queue-recovery.ts).
 * WAKE-UPS  kick() (after each commit: the log's incoming messages, from memory), a poll every
 *           pollIntervalMs (incoming/ and deferred/ read from disk, so messages released from
 *           hold/ are found), and a timer for the earliest deferred message.
 * FAILURES  A runner that throws defers all pending recipients ("4.3.0 internal error"); a
 *           spool or state write error leaves the message in active/, resumed at next start.
 *           stop(graceMs) waits for attempts in flight, then aborts them: their messages stay
 *           in active/ untouched, and the next start puts them back (a duplicate at worst).
 */
import type { QueuedMessage, QueueJob, QueueJobReporter, QueueJobRunner, RecipientDeliveryState, RecipientOutcome } from '../delivery/job.ts';
import { MESSAGE_CORRUPT_CODE, type DeliveryStates, type MessageDeliveryState, type QueueState, type QueueStore } from './queue-store.ts';
import { QueueArgumentError } from './errors.ts';
import { applyExpiry, mergeOutcomes } from './attempt-result.ts';
import { dueTime, recoverQueue, type QueueRecoveryReport } from './queue-recovery.ts';
import type { RetryConfig } from '../config/schema.ts';
import { expiresAtMs, isDelayNoticeDue, isExpired, nextAttemptAtMs } from './retry-schedule.ts';
import { queueDepth, type QueueDepth } from './queue-depth.ts';

export type QueueLogEvent =
  | { event: 'queueRecovered'; report: QueueRecoveryReport }
  | { event: 'messageCorrupt'; id: string; reason: string }
  | { event: 'stateUnreadable'; id: string; reason: string }
  | { event: 'messageDeferred'; id: string; pending: number; nextAttemptAt: string }
  | { event: 'messageDone'; id: string; delivered: number; failed: number }
  | { event: 'attemptFailed'; id: string; message: string }
  | { event: 'persistFailed'; id: string; message: string }
  | { event: 'abandoned'; ids: string[] };

export interface QueueManagerOptions {
  /** The messages (the spool, through the interface it implements). */
  spool: QueueStore;
  /** Their delivery states (the spool's DeliveryStateStore). */
  store: DeliveryStates;
  run: QueueJobRunner;
  report?: QueueJobReporter;
  /** Read at every decision, so a config reload applies to the next attempt; normalised at config load. */
  retry: () => RetryConfig;
  maxActive: number;
  pollIntervalMs: number;
  now?: () => number;
  random?: () => number;
  log?: (event: QueueLogEvent) => void;
  onDepth?: (depth: QueueDepth) => void;
  /** Called once when stop() abandons attempts in flight (close their connections). */
  onAbandon?: () => void;
}

const ABANDON_WAIT_MS = 5000;

/** QueueManager - see the manual above. */
export class QueueManager {
  readonly #o: QueueManagerOptions;
  readonly #now: () => number;
  readonly #schedule = new Map<string, number>();
  readonly #inFlight = new Map<string, Promise<void>>();
  /** In flight when a next hop came back (retryInFlightIfDeferred): due at once if deferred. */
  readonly #dueOnDeferral = new Set<string>();
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | null = null;
  #pumping: Promise<void> | null = null;
  #again = false;
  #preferDeferred = false;
  #stopping = false;
  /** Read incoming/ at the next pump: at start and at every poll. A kick after a commit only
   *  needs the log (in memory); files reach incoming/ from outside the log rarely (moved out
   *  of an old segment, put back at start, released by an administrator). */
  #scanFiles = true;

  constructor(options: QueueManagerOptions) {
    for (const key of ['maxActive', 'pollIntervalMs'] as const) {
      if (!Number.isSafeInteger(options[key]) || options[key] < 1) throw new QueueArgumentError(`${key} must be a positive integer`);
    }
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Ids of the messages being delivered now. */
  get activeIds(): string[] {
    return [...this.#inFlight.keys()];
  }

  /** start - resume every state (queue-recovery.ts), then begin feeding. */
  async start(): Promise<QueueRecoveryReport> {
    const { schedule, report } = await recoverQueue(this.#o.spool, this.#o.store, this.#now());
    for (const [id, due] of schedule) this.#schedule.set(id, due);
    this.#log({ event: 'queueRecovered', report });
    this.kick();
    return report;
  }

  /** kick - look at incoming/ (and due deferred mail) now rather than at the next poll. */
  kick(): void {
    if (this.#stopping) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = this.#pump().finally(() => {
      this.#pumping = null;
      if (this.#again) {
        this.#again = false;
        this.kick();
      } else {
        this.#arm();
      }
    });
  }

  /** retryNow - deferred messages due at once (an administrator's retry, a next hop back), and
   *  incoming/ read from disk (a message released there); in flight ones are left alone. */
  retryNow(ids: readonly string[]): void {
    const now = this.#now();
    for (const id of ids) if (!this.#inFlight.has(id)) this.#schedule.set(id, now);
    this.#scanFiles = true;
    this.kick();
  }

  /** retryInFlightIfDeferred - each message being attempted now is due at once if this attempt defers it. */
  retryInFlightIfDeferred(): void {
    for (const id of this.#inFlight.keys()) this.#dueOnDeferral.add(id);
  }

  /** forget - stop scheduling a message that left deferred/ by another hand (held, removed). */
  forget(id: string): void {
    this.#schedule.delete(id);
  }

  /** stop - no new attempts; wait graceMs for those in flight, then abandon them (left in active/). */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#pumping;
    const settled = Promise.allSettled([...this.#inFlight.values()]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      settled.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), Math.max(0, graceMs)))),
    ]);
    clearTimeout(timer);
    if (!timedOut) return;
    this.#log({ event: 'abandoned', ids: [...this.#inFlight.keys()] });
    this.#abort.abort();
    this.#o.onAbandon?.();
    // aborted attempts settle at once; the bound only guards against an agent that ignores the signal
    await Promise.race([Promise.allSettled([...this.#inFlight.values()]), new Promise((resolve) => setTimeout(resolve, ABANDON_WAIT_MS).unref())]);
  }

  #log(event: QueueLogEvent): void {
    this.#o.log?.(event);
  }

  #arm(): void {
    if (this.#stopping) return;
    if (this.#timer) clearTimeout(this.#timer);
    let wait = this.#o.pollIntervalMs;
    const now = this.#now();
    // with the active set full, a finishing attempt kicks; only the poll is needed meanwhile
    if (this.#inFlight.size < this.#o.maxActive) for (const due of this.#schedule.values()) wait = Math.min(wait, Math.max(0, due - now));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#poll();
    }, wait);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    try {
      const depth = await queueDepth(this.#o.spool, this.#now());
      this.#o.onDepth?.(depth);
      for (const id of depth.ids.deferred) {
        if (!this.#schedule.has(id) && !this.#inFlight.has(id)) this.#schedule.set(id, await dueTime(this.#o.store, id, this.#now()));
      }
    } catch {
      // the spool is closing; the next start rescans
    }
    this.#scanFiles = true;
    this.kick();
  }

  async #pump(): Promise<void> {
    const free = (): number => this.#o.maxActive - this.#inFlight.size;
    if (this.#stopping || free() <= 0) return;
    let incoming: string[];
    try {
      incoming = this.#scanFiles ? await this.#o.spool.listMessages('incoming') : this.#o.spool.loggedMessages('incoming');
      this.#scanFiles = false;
    } catch {
      return;
    }
    const now = this.#now();
    const due = [...this.#schedule].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1]).map(([id]) => id);
    while (free() > 0 && !this.#stopping && (incoming.length > 0 || due.length > 0)) {
      const fromDeferred = due.length > 0 && (this.#preferDeferred || incoming.length === 0);
      this.#preferDeferred = !fromDeferred;
      const id = (fromDeferred ? due.shift() : incoming.shift()) as string;
      const from: QueueState = fromDeferred ? 'deferred' : 'incoming';
      if (fromDeferred) this.#schedule.delete(id);
      if (this.#inFlight.has(id)) continue;
      try {
        await this.#o.spool.moveMessage(id, from, 'active');
      } catch {
        continue; // gone (held, removed) or the spool is closing
      }
      const job = this.#attempt(id).finally(() => {
        this.#inFlight.delete(id);
        this.#dueOnDeferral.delete(id);
        this.kick();
      });
      this.#inFlight.set(id, job);
    }
  }

  async #attempt(id: string): Promise<void> {
    const spool = this.#o.spool;
    let message: QueuedMessage;
    try {
      message = await spool.readMessage('active', id);
    } catch (err) {
      const { code, reason } = err as { code?: unknown; reason?: unknown };
      if (code === MESSAGE_CORRUPT_CODE) {
        this.#log({ event: 'messageCorrupt', id, reason: String(reason) });
        await spool.moveMessage(id, 'active', 'corrupt').catch(() => {});
      } else {
        this.#log({ event: 'persistFailed', id, message: (err as Error).message });
        await this.#salvage(id);
      }
      return;
    }
    const read = await this.#o.store.read(id);
    if (!read.ok) this.#log({ event: 'stateUnreadable', id, reason: read.reason });
    const previous = read.ok ? read.state : null;
    const fresh = previous === null || previous.recipients.length !== message.envelope.rcptTo.length;
    const recipients: RecipientDeliveryState[] = fresh
      ? message.envelope.rcptTo.map((r) => ({ address: r.address, status: 'pending', attempts: 0 }))
      : previous.recipients.map((r) => ({ ...r }));
    const nowMs = this.#now();
    const retry = this.#o.retry();
    const job: QueueJob = {
      id,
      message,
      recipients,
      pending: recipients.flatMap((r, i) => (r.status === 'pending' ? [i] : [])),
      attempts: fresh ? 0 : previous.attempts,
      firstAttempt: previous === null,
      expired: isExpired(message.envelope.receivedAt, nowMs, retry),
      delayNoticeDue: isDelayNoticeDue(message.envelope.receivedAt, nowMs, retry),
      expiresAtMs: expiresAtMs(message.envelope.receivedAt, retry),
      signal: this.#abort.signal,
    };
    let outcomes: RecipientOutcome[];
    try {
      outcomes = job.pending.length > 0 ? await this.#o.run(job) : [];
    } catch (err) {
      if (this.#abort.signal.aborted) return;
      this.#log({ event: 'attemptFailed', id, message: (err as Error).message });
      outcomes = job.pending.map((index) => ({ index, result: 'deferred', dsnStatus: '4.3.0', reply: `internal error: ${(err as Error).message}` }));
    }
    if (this.#abort.signal.aborted) return; // abandoned: left in active/ for the next start
    try {
      await this.#finish(job, applyExpiry(job, outcomes), previous?.firstAttemptAt);
    } catch (err) {
      this.#log({ event: 'persistFailed', id, message: (err as Error).message });
      await this.#salvage(id);
    }
  }

  /** #salvage - after a failed read or write, retry later from deferred/ (state unchanged). */
  async #salvage(id: string): Promise<void> {
    if (this.#stopping) return; // active/ is put back at the next start
    try {
      await this.#o.spool.moveMessage(id, 'active', 'deferred');
      this.#schedule.set(id, this.#now() + this.#o.retry().minBackoffMs);
    } catch {
      // still in active/ (or gone): the next start resumes it
    }
  }

  async #finish(job: QueueJob, outcomes: RecipientOutcome[], firstAttemptAt: string | undefined): Promise<void> {
    const nowIso = new Date(this.#now()).toISOString();
    const recipients = mergeOutcomes(job, outcomes, nowIso);
    await this.#o.report?.(job, outcomes);
    const { spool, store } = this.#o;
    const pending = recipients.filter((r) => r.status === 'pending').length;
    if (pending === 0) {
      await spool.removeMessage('active', job.id);
      await store.remove(job.id);
      const delivered = recipients.filter((r) => r.status === 'delivered').length;
      this.#log({ event: 'messageDone', id: job.id, delivered, failed: recipients.length - delivered });
      return;
    }
    const attempts = job.attempts + 1;
    const next = nextAttemptAtMs(this.#now(), attempts, job.message.envelope.receivedAt, this.#o.retry(), this.#o.random);
    const state: MessageDeliveryState = {
      version: 1,
      id: job.id,
      attempts,
      firstAttemptAt: firstAttemptAt ?? nowIso,
      lastAttemptAt: nowIso,
      nextAttemptAt: new Date(next).toISOString(),
      recipients,
    };
    await store.write(state);
    await spool.moveMessage(job.id, 'active', 'deferred');
    this.#schedule.set(job.id, this.#dueOnDeferral.delete(job.id) ? this.#now() : next);
    this.#log({ event: 'messageDeferred', id: job.id, pending, nextAttemptAt: state.nextAttemptAt as string });
  }
}

/*
 * relay/queue/queue-actions - what an administrator does to the queue: retry a next hop or a
 * message now, hold and release, remove with or without an NDR (Exchange's Retry-Queue,
 * Suspend-Message, Resume-Message, Remove-Message [-WithNDR]; Postfix's postqueue -f,
 * postsuper -h / -H / -d).
 *
 * STATES    hold:    incoming/ or deferred/ -> hold/ (the queue manager stops scheduling it);
 *           release: hold/ -> deferred/ (it has a delivery state) or incoming/, due at once;
 *           retry:   a deferred message due at once; a next hop: every deferred message with
 *                    a pending recipient on it, and every next host's down mark forgotten, so
 *                    the attempt really goes out rather than being skipped;
 *           remove:  from any state but active/, its delivery state with it; withNdr first
 *                    fails the pending recipients through the delivery reporter (tracking FAIL,
 *                    and a DSN where NOTIFY asks for one, as a bounce would).
 *           A message being delivered (active/) is refused with the reason: try again when
 *           the attempt ends (a second or so), as Exchange refuses to suspend one in delivery.
 * AUDIT     Every action is one tracking-log line (the log's existing events: DEFER for one
 *           that keeps the message queued, FAIL for a removal) whose source-context says
 *           `queue <action> by <who>`, and one app-log line.
 */
import type { QueueJob, QueueJobReporter, RecipientOutcome } from '../delivery/job.ts';
import { networkMessageId } from '../delivery/delivery-attempt.ts';
import type { TrackingLog } from '../log/tracking-log.ts';
import { appLog, type LogSink } from '../log/protocol-log.ts';
import { MESSAGE_NOT_FOUND_CODE, type DeliveryStates, type QueueState, type QueueStore } from './queue-store.ts';
import { QueueActionRefusedError } from './errors.ts';
import type { LoadedMessage, QueueView } from './queue-view.ts';

export const REMOVED_DSN_STATUS = '5.3.0';

/** What the actions need of the queue manager. */
export interface QueueScheduler {
  retryNow(ids: readonly string[]): void;
  /** The messages being attempted now are due again at once should this attempt defer them. */
  retryInFlightIfDeferred(): void;
  forget(id: string): void;
}

export interface QueueActionsOptions {
  spool: QueueStore;
  store: DeliveryStates;
  view: QueueView;
  scheduler: QueueScheduler;
  /** The delivery reporter: tracking FAIL and DSNs for a removal with NDR. */
  report: QueueJobReporter;
  tracking: TrackingLog;
  /** Forget every next host's down mark (the agent's). */
  tryEveryHostNow: () => void;
  now: () => number;
  logSink?: LogSink;
}

export type QueueAction = 'retry' | 'hold' | 'release' | 'remove';

export interface ActionResult {
  id: string;
  action: QueueAction;
  /** Where the message is now (null: removed). */
  state: QueueState | null;
  /** What happened, in words. */
  detail: string;
}

const isNotFound = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === MESSAGE_NOT_FOUND_CODE;

export class QueueActions {
  readonly #o: QueueActionsOptions;

  constructor(options: QueueActionsOptions) {
    this.#o = options;
  }

  /** retryMessage - deliver a deferred message now. */
  async retryMessage(id: string, who: string): Promise<ActionResult> {
    const loaded = await this.#o.view.load(id);
    if (loaded.state === 'hold') throw new QueueActionRefusedError(`message ${id} is held: release it to deliver it`);
    if (loaded.state === 'deferred') {
      this.#o.tryEveryHostNow();
      this.#o.scheduler.retryNow([id]);
    }
    const detail = loaded.state === 'deferred' ? 'due now' : `already ${loaded.state === 'active' ? 'being delivered' : 'waiting for its first attempt'}`;
    return this.#done(loaded, 'retry', who, loaded.state, detail);
  }

  /** retryNextHop - every deferred message with a pending recipient on that next hop, now. */
  async retryNextHop(nextHop: string, who: string): Promise<{ nextHop: string; retried: string[] }> {
    const retried: string[] = [];
    for await (const m of this.#o.view.each('deferred')) if (m.nextHops.includes(nextHop)) retried.push(m.id);
    this.#o.tryEveryHostNow();
    this.#o.scheduler.retryNow(retried);
    appLog('info', `queue retry of next hop ${nextHop} by ${who}: ${retried.length} messages due now`, { nextHop, who, messages: retried.length }, this.#o.logSink);
    return { nextHop, retried };
  }

  /** retryWaitingOn - a next host answers again: the deferred messages whose last reply came from it, now. */
  async retryWaitingOn(hostName: string): Promise<string[]> {
    // An attempt in flight now may still defer on the host's old down mark, or reach deferred/
    // after the listing below has passed it: it must not wait out a whole backoff either.
    this.#o.scheduler.retryInFlightIfDeferred();
    const ids: string[] = [];
    for await (const m of this.#o.view.each('deferred')) {
      if (m.recipientStates.some((r) => r.status === 'pending' && r.remoteMta === hostName)) ids.push(m.id);
    }
    this.#o.scheduler.retryNow(ids);
    return ids;
  }

  /** hold - keep the message queued, undelivered, until released. */
  async hold(id: string, who: string): Promise<ActionResult> {
    const loaded = await this.#o.view.load(id);
    if (loaded.state === 'hold') return this.#done(loaded, 'hold', who, 'hold', 'already held');
    this.#refuseActive(loaded, 'hold');
    await this.#move(loaded, 'hold');
    this.#o.scheduler.forget(id);
    return this.#done(loaded, 'hold', who, 'hold', 'held');
  }

  /** release - a held message goes back to the queue, due at once. */
  async release(id: string, who: string): Promise<ActionResult> {
    const loaded = await this.#o.view.load(id);
    if (loaded.state !== 'hold') throw new QueueActionRefusedError(`message ${id} is not held (it is ${loaded.state})`);
    const to: QueueState = loaded.delivery ? 'deferred' : 'incoming';
    await this.#move(loaded, to);
    this.#o.scheduler.retryNow(to === 'deferred' ? [id] : []);
    return this.#done(loaded, 'release', who, to, 'released, due now');
  }

  /** remove - delete the message; withNdr: its pending recipients fail first, with DSNs as a bounce. */
  async remove(id: string, who: string, withNdr: boolean): Promise<ActionResult> {
    const loaded = await this.#o.view.load(id);
    this.#refuseActive(loaded, 'remove');
    if (withNdr) await this.#o.report(this.#jobOf(loaded), this.#failedOutcomes(loaded, who));
    try {
      await this.#o.spool.removeMessage(loaded.state, id);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      throw new QueueActionRefusedError(`message ${id} left ${loaded.state} while it was being removed (a delivery attempt began): try again`);
    }
    this.#o.scheduler.forget(id);
    await this.#o.store.remove(id);
    return this.#done(loaded, 'remove', who, null, withNdr ? 'removed, non-delivery reports sent' : 'removed without a non-delivery report');
  }

  #refuseActive(loaded: LoadedMessage, action: QueueAction): void {
    if (loaded.state === 'active') throw new QueueActionRefusedError(`message ${loaded.id} is being delivered now: ${action} it when the attempt ends (try again in a moment)`);
  }

  async #move(loaded: LoadedMessage, to: QueueState): Promise<void> {
    try {
      await this.#o.spool.moveMessage(loaded.id, loaded.state, to);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      throw new QueueActionRefusedError(`message ${loaded.id} left ${loaded.state} meanwhile (a delivery attempt began, or it was delivered): try again`);
    }
  }

  #failedOutcomes(loaded: LoadedMessage, who: string): RecipientOutcome[] {
    const states = loaded.delivery?.recipients;
    return loaded.message.envelope.rcptTo.flatMap((_r, index) =>
      (states?.[index]?.status ?? 'pending') === 'pending'
        ? [{ index, result: 'failed' as const, dsnStatus: REMOVED_DSN_STATUS, reply: `removed from the queue by an administrator (${who})` }]
        : [],
    );
  }

  #jobOf(loaded: LoadedMessage): QueueJob {
    const recipients = loaded.delivery?.recipients ?? loaded.message.envelope.rcptTo.map((r) => ({ address: r.address, status: 'pending' as const, attempts: 0 }));
    return {
      id: loaded.id,
      message: loaded.message,
      recipients,
      pending: recipients.flatMap((r, i) => (r.status === 'pending' ? [i] : [])),
      attempts: loaded.delivery?.attempts ?? 0,
      firstAttempt: false,
      expired: false,
      delayNoticeDue: false,
      expiresAtMs: this.#o.now(),
      signal: new AbortController().signal,
    };
  }

  #done(loaded: LoadedMessage, action: QueueAction, who: string, state: QueueState | null, detail: string): ActionResult {
    const env = loaded.message.envelope;
    const recipients = env.rcptTo.map((r) => r.address);
    this.#o.tracking.write({
      'event-id': action === 'remove' ? 'FAIL' : 'DEFER',
      source: 'QUEUE',
      'connector-id': env.connectorId,
      'internal-message-id': loaded.id,
      'network-message-id': networkMessageId(loaded.message.body),
      'sender-address': env.mailFrom,
      'recipient-address': recipients,
      'recipient-status': recipients.map(() => `queue ${action}: ${detail}`),
      'recipient-count': recipients.length,
      'total-bytes': env.size,
      'source-context': `queue ${action} by ${who}`,
    });
    appLog('info', `queue ${action} of ${loaded.id} by ${who}: ${detail}`, { id: loaded.id, action, who, state }, this.#o.logSink);
    return { id: loaded.id, action, state, detail };
  }
}

/*
 * relay/queue/job - what the queue manager hands a delivery agent, and what it gets back.
 *
 * One QueueJob is one delivery attempt of one message over its still-pending recipients.
 * The agent answers with one RecipientOutcome per recipient it tried; the queue manager
 * merges them into the message's delivery state (delivery-state.ts), turns deferrals into
 * failures once the message has expired, marks the recipients it deferred while a delay
 * notice was due (delayNotified: told once, never again), and persists the result.
 */
import type { SpoolMessage } from '../spool/spool.ts';
import type { RecipientDeliveryState } from '../spool/delivery-state.ts';

export type RecipientResult = 'delivered' | 'failed' | 'deferred';

export interface RecipientOutcome {
  /** Index into the envelope's rcptTo (and the state's recipients). */
  index: number;
  result: RecipientResult;
  /** RFC 3463 status: 2.x.x delivered, 4.x.x deferred, 5.x.x failed. */
  dsnStatus: string;
  /** SMTP reply or reason in words. */
  reply: string;
  /** Host that answered, when one did. */
  remoteMta?: string;
  /** Next hop label for metrics and logs (smart host, `mx:domain`, `drop:connector`). */
  nextHop?: string;
  /** Send connector that carried (or refused) the recipient. */
  connectorId?: string;
  /** Delivered to a next hop that took the DSN parameters (it reports success itself). */
  dsnPassedOn?: boolean;
}

export interface QueueJob {
  id: string;
  message: SpoolMessage;
  /** The recipients' states before this attempt; indexes line up with envelope.rcptTo. */
  recipients: readonly RecipientDeliveryState[];
  /** Indexes of the recipients to try now (status pending). */
  pending: readonly number[];
  /** Attempts made before this one. */
  attempts: number;
  /** True when the message had no delivery state yet: the first time the queue sees it. */
  firstAttempt: boolean;
  /** True when this is the final attempt: what does not get through now fails. */
  expired: boolean;
  /** True when the message is old enough for a delay notice (retry.delayNotification) and not
   *  expired: a recipient deferred now whose state lacks delayNotified gets one. */
  delayNoticeDue: boolean;
  /** Aborted when stop() abandons in-flight work: close connections, return quickly. */
  signal: AbortSignal;
}

/** QueueJobRunner - one delivery attempt; must not throw for ordinary delivery failures. */
export type QueueJobRunner = (job: QueueJob) => Promise<RecipientOutcome[]>;

/**
 * QueueJobReporter - told the final outcomes of an attempt (expiry applied) before they are
 * persisted: the place to commit DSNs (so they are durable before the state moves on).
 */
export type QueueJobReporter = (job: QueueJob, outcomes: readonly RecipientOutcome[]) => Promise<void>;

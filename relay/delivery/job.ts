/*
 * relay/delivery/job - what the queue manager hands a delivery agent, what it gets back, and
 * the one vocabulary for a recipient's outcome.
 *
 * One QueueJob is one delivery attempt of one message over its still-pending recipients.
 * The agent answers with one RecipientOutcome per recipient it tried; the queue manager
 * merges them into the message's delivery state (relay/spool/delivery-state.ts), turns
 * deferrals into failures once the message has expired, marks the recipients it deferred
 * while a delay notice was due (delayNotified: told once, never again), and persists the result.
 * Words: an attempt ends a recipient `delivered`, `failed` (final: bounced) or `deferred`
 * (tried again later); between attempts a deferred recipient's state is `pending`. The
 * failure policy, the queue, the metrics and the tracking log use these words; a DSN's Action
 * field (RFC 3464: delivered, relayed, failed, delayed) is derived from them in one place
 * (delivery-report.ts).
 */
import type { MessageEnvelope } from './envelope.ts';

export const RECIPIENT_RESULTS = ['delivered', 'failed', 'deferred'] as const;
/** How one attempt ended for a recipient. */
export type RecipientResult = (typeof RECIPIENT_RESULTS)[number];

/** A recipient's state between attempts: `pending` until a result is final (a deferral keeps it pending). */
export const RECIPIENT_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

export interface RecipientDeliveryState {
  address: string;
  /** pending: not done yet (never tried, or deferred); delivered and failed are final. */
  status: RecipientStatus;
  attempts: number;
  lastAttemptAt?: string;
  /** RFC 3463 status of the last result (`2.0.0`, `4.4.1`, `5.1.1`). */
  dsnStatus?: string;
  /** The last SMTP reply or the reason in words (for DSNs and logs). */
  reply?: string;
  /** The host that gave the reply (`dns; mx.example.com`-style name, no prefix). */
  remoteMta?: string;
  /** True once the recipient was deferred while a delay notice was due: the sender has been
   *  told (or NOTIFY said not to), so no second notice. Absent in older sidecars: not yet. */
  delayNotified?: boolean;
}

/** A queued message as the agent gets it: the envelope as the session accepted it, and the body. */
export interface QueuedMessage {
  envelope: MessageEnvelope;
  body: Buffer;
}

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
  message: QueuedMessage;
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
  /** When undelivered recipients fail (receivedAt + retry.maxAge): the `will retry until` of a delay notice. */
  expiresAtMs: number;
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

/*
 * relay/queue/queue-store - what the queue manager needs from the spool, as interfaces.
 *
 * The queue manager owns the queue: it decides which message moves from which state to which
 * and when. The spool is the only writer of queue data: message files and their moves
 * (QueueStore, implemented by relay/spool/spool.ts) and the per-recipient delivery states
 * beside them (DeliveryStates, implemented by relay/spool/delivery-state.ts). The hub hands
 * the spool in; nothing here imports it, so the queue sits below the spool.
 * The queue states are named here, once; each one is a directory of the spool.
 */
import type { QueuedMessage, RecipientDeliveryState } from '../delivery/job.ts';

import type { ErrorCode } from '../common/error-codes.ts';

export const QUEUE_STATES = ['incoming', 'active', 'deferred', 'hold', 'corrupt'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** The error code of a read or move of a message that is not (or no longer) there. */
export const MESSAGE_NOT_FOUND_CODE: ErrorCode = 'RELAY_ERR_SPOOL_NOT_FOUND';
/** The error code of a read of a message file that does not decode; the error carries `reason`. */
export const MESSAGE_CORRUPT_CODE: ErrorCode = 'RELAY_ERR_SPOOL_CORRUPT';

/** QueueStore - the messages in their states (Spool). */
export interface QueueStore {
  /** Ids in `state`, oldest first, as the directory (and the commit log) hold them now. */
  listMessages(state: QueueState): Promise<string[]>;
  /** Ids in `state` that are still in the commit log: known from memory, no directory read. */
  loggedMessages(state: 'incoming' | 'active'): string[];
  /** One atomic transition; throws with code MESSAGE_NOT_FOUND_CODE when the message is gone. */
  moveMessage(id: string, from: QueueState, to: QueueState): Promise<void>;
  /** Throws with code MESSAGE_CORRUPT_CODE (and a reason) when the file does not decode. */
  readMessage(state: QueueState, id: string): Promise<QueuedMessage>;
  removeMessage(state: QueueState, id: string): Promise<void>;
  /** The delivery states beside the messages, opened once by the queue's owner at start. */
  openDeliveryStates(): Promise<DeliveryStates>;
}

export interface MessageDeliveryState {
  version: 1;
  id: string;
  attempts: number;
  firstAttemptAt: string;
  lastAttemptAt: string;
  /** When the message is due again (deferred); null while it is not deferred. */
  nextAttemptAt: string | null;
  /** Same order and length as the envelope's rcptTo. */
  recipients: RecipientDeliveryState[];
}

export type DeliveryStateRead = { ok: true; state: MessageDeliveryState | null } | { ok: false; reason: string };

/** DeliveryStates - what changes between attempts, one record per queued message (DeliveryStateStore). */
export interface DeliveryStates {
  /** `{ ok: true, state: null }` when the message has none yet; `{ ok: false }` when unreadable. */
  read(id: string): Promise<DeliveryStateRead>;
  /** Durable before it resolves. */
  write(state: MessageDeliveryState): Promise<void>;
  remove(id: string): Promise<void>;
  /** Delete the states of messages not in `queued`; returns their ids. */
  prune(queued: ReadonlySet<string>): Promise<string[]>;
  close(): Promise<void>;
}

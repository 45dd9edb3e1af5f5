/*
 * relay/queue/errors - the errors the queue manager throws, one class per code.
 *
 * Callers match on `code`. None of them loses mail: a failed state write leaves the message
 * in the state it was in (active/ is resumed at the next start), and a stopped queue
 * manager leaves everything on disk.
 */
import { RelayError } from '../common/errors.ts';

/** QueueStateWriteError - a delivery-state file could not be written or removed durably. */
export class QueueStateWriteError extends RelayError {
  constructor(message: string, cause: unknown) {
    super('RELAY_ERR_QUEUE_STATE_WRITE', message, { cause });
  }
}

/** QueueArgumentError - a bad tuning value or message id; the message names it. */
export class QueueArgumentError extends RelayError {
  constructor(message: string) {
    super('RELAY_ERR_QUEUE_INVALID_ARGUMENT', message);
  }
}

/** QueueStoppedError - the queue manager was stopped; the job was abandoned, not lost. */
export class QueueStoppedError extends RelayError {
  constructor() {
    super('RELAY_ERR_QUEUE_STOPPED', 'queue manager stopped; the message stays queued on disk');
  }
}

/** QueueMessageNotFoundError - no queued message with that id (delivered, removed, or never there). */
export class QueueMessageNotFoundError extends RelayError {
  constructor(id: string) {
    super('RELAY_ERR_QUEUE_MESSAGE_NOT_FOUND', `message ${id} is not in the queue (delivered, removed, or never queued here)`);
  }
}

/** QueueActionRefusedError - an action that does not apply to the message in its state now; the message says why. */
export class QueueActionRefusedError extends RelayError {
  constructor(message: string) {
    super('RELAY_ERR_QUEUE_ACTION_REFUSED', message);
  }
}

/*
 * relay/common/error-codes - the one registry of error codes, relay and operator alike.
 *
 * A code is stable once released: callers (the session's reply mapping, the queue's recovery,
 * tests, people grepping logs) match on it, never on a message. Each code names the room that
 * throws it; RelayError (errors.ts) accepts only a code listed here, and
 * relay/common/error-codes.test.ts fails when one is missing from docs/errors.md.
 */

/** ERROR_CODES - every code thrown on purpose, mapped to the folder that throws it. */
export const ERROR_CODES = {
  RELAY_ERR_CONFIG: 'relay/config',
  RELAY_ERR_RANGE_SYNTAX: 'relay/common',
  RELAY_ERR_SPOOL_FULL: 'relay/spool',
  RELAY_ERR_SPOOL_WRITE: 'relay/spool',
  RELAY_ERR_SPOOL_ENVELOPE: 'relay/spool',
  RELAY_ERR_SPOOL_BODY_NOT_CANONICAL: 'relay/spool',
  RELAY_ERR_SPOOL_NOT_FOUND: 'relay/spool',
  RELAY_ERR_SPOOL_CORRUPT: 'relay/spool',
  RELAY_ERR_SPOOL_INVALID_ARGUMENT: 'relay/spool',
  RELAY_ERR_SPOOL_CLOSED: 'relay/spool',
  RELAY_ERR_SPOOL_LOCKED: 'relay/spool',
  RELAY_ERR_QUEUE_STATE_WRITE: 'relay/queue',
  RELAY_ERR_QUEUE_INVALID_ARGUMENT: 'relay/queue',
  RELAY_ERR_QUEUE_STOPPED: 'relay/queue',
  RELAY_ERR_QUEUE_MESSAGE_NOT_FOUND: 'relay/queue',
  RELAY_ERR_QUEUE_ACTION_REFUSED: 'relay/queue',
  RELAY_ERR_QUEUE_API_ACCESS: 'relay/process',
  RELAY_ERR_TRACK_INVALID_ARGUMENT: 'relay/process',
  RELAY_ERR_DELIVERY_INVALID_ARGUMENT: 'relay/delivery',
  RELAY_ERR_DELIVERY_CREDENTIALS: 'relay/delivery',
  RELAY_ERR_DELIVERY_STOPPED: 'relay/delivery',
  RELAY_ERR_RUNTIME_TERMINAL: 'operator/runtime',
  RELAY_ERR_RUNTIME_INVALID_ARGUMENT: 'operator/runtime',
  RELAY_ERR_RUNTIME_STOPPED: 'operator/runtime',
  RELAY_ERR_RUNTIME_CONDITION: 'operator/runtime',
  RELAY_ERR_FLAG: 'operator/cli',
  RELAY_ERR_MANIFEST: 'operator/cli',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/*
 * relay/common/errors - the base class of every error the relay throws on purpose.
 *
 * Callers match on `code` (stable, prefixed by room: RELAY_ERR_SPOOL_*, ...), never on the
 * message text. Wrapping errors pass `{ cause }`. Subclasses live with the room that
 * throws them (relay/spool/errors.ts, ...); this file knows nothing of mail. Every code is
 * one of the registry's (error-codes.ts), so a new code cannot go undocumented.
 */
import type { ErrorCode } from './error-codes.ts';

export type { ErrorCode } from './error-codes.ts';

/** RelayError - an error with a stable, documented `code`. */
export class RelayError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

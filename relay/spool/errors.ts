/*
 * relay/spool/errors - the errors the spool throws, one class per code.
 *
 * Callers match on `code`. The session maps RELAY_ERR_SPOOL_FULL, and a SpoolWriteError whose
 * cause is the disk itself being full (ENOSPC, EDQUOT: isSpoolFull), to `452 4.3.1` (RFC 3463
 * "mail system full"), and any other RELAY_ERR_SPOOL_WRITE to `451 4.3.0`; either way the client
 * keeps the message and retries.
 */
import { RelayError } from '../common/errors.ts';

/** SpoolFullError - free space minus this message would fall below minFreeBytes. */
export class SpoolFullError extends RelayError {
  readonly freeBytes: number;
  readonly neededBytes: number;
  readonly minFreeBytes: number;

  constructor(freeBytes: number, neededBytes: number, minFreeBytes: number) {
    super(
      'RELAY_ERR_SPOOL_FULL',
      `spool full: ${freeBytes} bytes free, message needs ${neededBytes}, minFreeBytes is ${minFreeBytes}`,
    );
    this.freeBytes = freeBytes;
    this.neededBytes = neededBytes;
    this.minFreeBytes = minFreeBytes;
  }
}

/** SpoolWriteError - a write, fsync or rename failed; nothing of the message was kept. */
export class SpoolWriteError extends RelayError {
  constructor(message: string, cause: unknown) {
    super('RELAY_ERR_SPOOL_WRITE', message, { cause });
  }
}

/** SpoolEnvelopeError - the envelope handed to commitMessage is malformed (caller bug). */
export class SpoolEnvelopeError extends RelayError {
  readonly reason: string;

  constructor(reason: string) {
    super('RELAY_ERR_SPOOL_ENVELOPE', `invalid spool envelope: ${reason}`);
    this.reason = reason;
  }
}

/** SpoolBodyError - assertCanonical is on and the body has a bare CR or LF. */
export class SpoolBodyError extends RelayError {
  readonly offset: number;

  constructor(offset: number) {
    super('RELAY_ERR_SPOOL_BODY_NOT_CANONICAL', `body has a bare CR or LF at byte ${offset}`);
    this.offset = offset;
  }
}

/** SpoolNotFoundError - no message with that id in that queue state. */
export class SpoolNotFoundError extends RelayError {
  constructor(id: string, state: string, cause?: unknown) {
    super('RELAY_ERR_SPOOL_NOT_FOUND', `${id}: not found in ${state}`, { cause });
  }
}

/** SpoolCorruptError - a queue file failed validation; the caller moves it to corrupt/. */
export class SpoolCorruptError extends RelayError {
  readonly reason: string;

  constructor(id: string, state: string, reason: string) {
    super('RELAY_ERR_SPOOL_CORRUPT', `${id}: corrupt queue file in ${state}: ${reason}`);
    this.reason = reason;
  }
}

/** SpoolArgumentError - a bad option, queue state or message id; the message names it. */
export class SpoolArgumentError extends RelayError {
  constructor(message: string) {
    super('RELAY_ERR_SPOOL_INVALID_ARGUMENT', message);
  }
}

/** SpoolClosedError - the spool was closed; no new work is accepted. */
export class SpoolClosedError extends RelayError {
  constructor() {
    super('RELAY_ERR_SPOOL_CLOSED', 'spool is closed');
  }
}

/** SpoolLockedError - another running hub holds the spool's lock (spool-lock.ts). */
export class SpoolLockedError extends RelayError {
  readonly holderPid: number | null;

  constructor(root: string, lockFile: string, holderPid: number | null) {
    const holder = holderPid === null ? 'another hub that is starting' : `another running hub (pid ${holderPid})`;
    super('RELAY_ERR_SPOOL_LOCKED', `spool ${root} is in use by ${holder}: one spool serves one hub; stop that hub or give this one its own spool directory (lock file ${lockFile})`);
    this.holderPid = holderPid;
  }
}

/** Errnos that mean the volume (or the quota on it) has no room: the disk is full, not broken. */
const NO_SPACE_ERRNOS = new Set(['ENOSPC', 'EDQUOT']);

/**
 * isSpoolFull - the spool refused for want of space: its own reserve (SpoolFullError), or a
 * write the kernel answered with ENOSPC/EDQUOT (another writer filled the volume between two
 * free-space samples), found through the error's `cause` chain.
 */
export function isSpoolFull(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== null && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'RELAY_ERR_SPOOL_FULL' || (typeof code === 'string' && NO_SPACE_ERRNOS.has(code))) return true;
  }
  return false;
}

/*
 * relay/spool/spool - the durable message store: the only writer of queue files.
 *
 * JOB       commitMessage turns (envelope, body) into one queue file in incoming/ and
 *           resolves only when it survives a crash; the queue manager then moves files
 *           between states (moveMessage), reads (readMessage) and removes them.
 * STATES    incoming/ active/ deferred/ hold/ corrupt/ (queue-state.ts), plus tmp/.
 * DURABILITY  write tmp/<id> -> fdatasync -> rename to incoming/<id> -> fsync incoming/
 *           (shared by concurrent commits, group-commit.ts) -> only then resolve, so the
 *           session says 250 only for mail that is on disk. A crash before the directory
 *           fsync leaves a torn file in tmp/ or an unacked file in incoming/: the client got
 *           no 250 and retries (a duplicate at worst, never a loss). Records are typed and
 *           length-prefixed and end with an END record + crc32 (record-format.ts); startup
 *           recovery (recovery.ts) deletes torn writes and quarantines damaged files.
 * FAILURES  SpoolFullError (452 4.3.1) before writing when free space - message <
 *           minFreeBytes; SpoolWriteError (451 4.3.0) on any write/fsync/rename error, after
 *           removing what was written; a failed directory fsync fails its whole batch.
 * SECURITY  message ids and states are validated before they touch a path; files are 0600,
 *           directories 0700. One process per spool directory.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { findBareLineEnd } from './canonical.ts';
import { syncDirectory, writeSyncedFile } from './durable-file.ts';
import { checkSpoolEnvelope } from './envelope.ts';
import { SpoolArgumentError, SpoolBodyError, SpoolClosedError, SpoolCorruptError, SpoolEnvelopeError, SpoolNotFoundError, SpoolWriteError } from './errors.ts';
import { committedChannel, dirSyncedChannel, fileSyncedChannel } from './events.ts';
import { FreeSpaceGuard } from './free-space.ts';
import { DirectorySyncer } from './group-commit.ts';
import { assertSpoolMessageId, createMessageId, isSpoolMessageId } from './message-id.ts';
import { assertQueueState, QUEUE_STATES, spoolPaths } from './queue-state.ts';
import { decodeSpoolFile, encodeSpoolFile } from './record-format.ts';
import { recoverSpool } from './recovery.ts';
import { resolveSpoolOptions } from './options.ts';
import type { SpoolEnvelope } from './envelope.ts';
import type { ResolvedSpoolOptions, SpoolOptions } from './options.ts';
import type { QueueState, SpoolPaths } from './queue-state.ts';
import type { SpoolRecoveryReport } from './recovery.ts';

export type { SpoolEnvelope, SpoolRecipient, DsnNotify, DsnRet } from './envelope.ts';
export type { SpoolLogEvent, SpoolCommittedMessage, SpoolDirSyncedMessage } from './events.ts';
export type { SpoolOptions } from './options.ts';
export type { QueueState } from './queue-state.ts';
export type { SpoolRecoveryReport } from './recovery.ts';
export { QUEUE_STATES } from './queue-state.ts';
export * from './errors.ts';

export interface SpoolStats {
  /** Commits acknowledged (resolved). */
  commits: number;
  /** Queue files fdatasynced. */
  fileSyncs: number;
  /** Directory fsyncs (group commits, moves). */
  dirSyncs: number;
  /** Commits that failed after the free-space check (write, fsync or rename errors). */
  failures: number;
}

export interface SpoolMessage {
  id: string;
  state: QueueState;
  envelope: SpoolEnvelope;
  body: Buffer;
}

interface SpoolParts {
  paths: SpoolPaths;
  options: ResolvedSpoolOptions;
  recovery: SpoolRecoveryReport;
  handles: fs.FileHandle[];
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/** Spool - see the manual above. Create with Spool.open. */
export class Spool {
  readonly #paths: SpoolPaths;
  readonly #options: ResolvedSpoolOptions;
  readonly #recovery: SpoolRecoveryReport;
  readonly #handles: fs.FileHandle[];
  readonly #syncers: Record<QueueState, DirectorySyncer>;
  readonly #space: FreeSpaceGuard;
  readonly #stats: SpoolStats = { commits: 0, fileSyncs: 0, dirSyncs: 0, failures: 0 };
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;

  private constructor(parts: SpoolParts) {
    this.#paths = parts.paths;
    this.#options = parts.options;
    this.#recovery = Object.freeze({ ...parts.recovery });
    this.#handles = parts.handles;
    this.#space = new FreeSpaceGuard(parts.paths.root, parts.options.minFreeBytes);
    const entries = QUEUE_STATES.map((state, i) => {
      const dir = parts.paths.states[state];
      const syncer = new DirectorySyncer(parts.handles[i] as fs.FileHandle, parts.options.groupCommitWindowMs, (r) => {
        this.#stats.dirSyncs += 1;
        if (dirSyncedChannel.hasSubscribers) dirSyncedChannel.publish({ dir, ...r });
      });
      return [state, syncer] as const;
    });
    this.#syncers = Object.fromEntries(entries) as Record<QueueState, DirectorySyncer>;
  }

  /** Spool.open - create the directories, recover, and return a spool ready for commits. */
  static async open(dir: string, options?: SpoolOptions): Promise<Spool> {
    const resolved = resolveSpoolOptions(options);
    const paths = spoolPaths(dir);
    await fs.mkdir(paths.root, { recursive: true, mode: 0o700 });
    for (const sub of [paths.tmp, ...QUEUE_STATES.map((s) => paths.states[s])]) await fs.mkdir(sub, { recursive: true, mode: 0o700 });
    await syncDirectory(paths.root);
    const recovery = await recoverSpool(paths, resolved.log);
    const handles: fs.FileHandle[] = [];
    try {
      for (const state of QUEUE_STATES) handles.push(await fs.open(paths.states[state], 'r'));
    } catch (err) {
      await Promise.all(handles.map((h) => h.close()));
      throw err;
    }
    return new Spool({ paths, options: resolved, recovery, handles });
  }

  /** What startup recovery found. */
  get recovery(): SpoolRecoveryReport {
    return this.#recovery;
  }

  /** A snapshot of the counters. */
  get stats(): SpoolStats {
    return { ...this.#stats };
  }

  /** Absolute spool root. */
  get directory(): string {
    return this.#paths.root;
  }

  /** commitMessage - store one message durably; resolves with its queue id (then say 250). */
  commitMessage(envelope: SpoolEnvelope, body: Buffer | Buffer[]): Promise<string> {
    return this.#track(() => this.#commit(envelope, Array.isArray(body) ? body : [body]));
  }

  async #commit(input: SpoolEnvelope, body: Buffer[]): Promise<string> {
    const started = performance.now();
    if (!body.every((c) => Buffer.isBuffer(c))) throw new SpoolArgumentError('body must be a Buffer or an array of Buffers');
    const checked = checkSpoolEnvelope(input);
    if (!checked.ok) throw new SpoolEnvelopeError(checked.reason);
    const bodyBytes = body.reduce((n, c) => n + c.length, 0);
    if (checked.envelope.size !== bodyBytes) throw new SpoolEnvelopeError(`size ${checked.envelope.size} does not match body length ${bodyBytes}`);
    if (this.#options.assertCanonical) {
      const bad = findBareLineEnd(body);
      if (bad !== -1) throw new SpoolBodyError(bad);
    }
    const id = createMessageId();
    const file = encodeSpoolFile(checked.envelope, body);
    await this.#space.reserve(file.bytes);
    let kept = false;
    try {
      await this.#writeAndRename(id, file.buffers, file.bytes);
      kept = true;
    } finally {
      this.#space.release(file.bytes, kept);
    }
    const durationMs = performance.now() - started;
    this.#stats.commits += 1;
    if (committedChannel.hasSubscribers) committedChannel.publish({ id, bytes: file.bytes, durationMs });
    return id;
  }

  async #writeAndRename(id: string, buffers: Buffer[], bytes: number): Promise<void> {
    const tmpFile = path.join(this.#paths.tmp, id);
    const finalFile = path.join(this.#paths.states.incoming, id);
    let step = 'write';
    try {
      const syncStarted = performance.now();
      await writeSyncedFile(tmpFile, buffers, bytes);
      this.#stats.fileSyncs += 1;
      if (fileSyncedChannel.hasSubscribers) fileSyncedChannel.publish({ id, bytes, durationMs: performance.now() - syncStarted });
      step = 'rename';
      await fs.rename(tmpFile, finalFile);
      step = 'fsync incoming/';
      await this.#syncers.incoming.sync();
    } catch (err) {
      // Nothing half-done may stay: a later 4xx makes the client resend, so remove both.
      await Promise.all([fs.rm(tmpFile, { force: true }), fs.rm(finalFile, { force: true })]).catch(() => {});
      this.#stats.failures += 1;
      const error = new SpoolWriteError(`${id}: spool ${step} failed: ${(err as Error).message}`, err);
      this.#options.log({ event: 'commitFailed', id, code: error.code, message: error.message });
      throw error;
    }
  }

  /** moveMessage - rename a message from one state to another; durable when it resolves. */
  moveMessage(id: string, from: QueueState, to: QueueState): Promise<void> {
    return this.#track(() => this.#move(id, from, to));
  }

  async #move(id: string, from: QueueState, to: QueueState): Promise<void> {
    assertSpoolMessageId(id);
    assertQueueState(from, 'from');
    assertQueueState(to, 'to');
    if (from === to) throw new SpoolArgumentError(`moveMessage: from and to are both ${from}`);
    try {
      await fs.rename(path.join(this.#paths.states[from], id), path.join(this.#paths.states[to], id));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new SpoolNotFoundError(id, from, err);
      throw new SpoolWriteError(`${id}: rename from ${from} to ${to} failed: ${(err as Error).message}`, err);
    }
    try {
      await Promise.all([this.#syncers[to].sync(), this.#syncers[from].sync()]);
    } catch (err) {
      throw new SpoolWriteError(`${id}: fsync after rename from ${from} to ${to} failed: ${(err as Error).message}`, err);
    }
    this.#options.log({ event: 'messageMoved', id, from, to });
  }

  /** listMessages - queue ids in a state, oldest first. */
  async listMessages(state: QueueState): Promise<string[]> {
    this.#assertOpen();
    assertQueueState(state, 'state');
    const entries = await fs.readdir(this.#paths.states[state], { withFileTypes: true });
    return entries.filter((e) => e.isFile() && isSpoolMessageId(e.name)).map((e) => e.name).sort();
  }

  /** readMessage - decode and verify one message; SpoolCorruptError if it fails the checks. */
  async readMessage(state: QueueState, id: string): Promise<SpoolMessage> {
    this.#assertOpen();
    assertQueueState(state, 'state');
    assertSpoolMessageId(id);
    let file: Buffer;
    try {
      file = await fs.readFile(path.join(this.#paths.states[state], id));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new SpoolNotFoundError(id, state, err);
      throw err;
    }
    const decoded = decodeSpoolFile(file);
    if (!decoded.ok) throw new SpoolCorruptError(id, state, decoded.reason);
    return { id, state, envelope: decoded.envelope, body: decoded.body };
  }

  /** removeMessage - delete a message (delivered or bounced); durable when it resolves. */
  removeMessage(state: QueueState, id: string): Promise<void> {
    return this.#track(() => this.#remove(state, id));
  }

  async #remove(state: QueueState, id: string): Promise<void> {
    assertQueueState(state, 'state');
    assertSpoolMessageId(id);
    try {
      await fs.unlink(path.join(this.#paths.states[state], id));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new SpoolNotFoundError(id, state, err);
      throw new SpoolWriteError(`${id}: unlink in ${state} failed: ${(err as Error).message}`, err);
    }
    await this.#syncers[state].sync();
    this.#options.log({ event: 'messageRemoved', id, state });
  }

  /** close - refuse new work, wait for work in flight, release directory handles. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
    await Promise.all(this.#handles.map((h) => h.close()));
  }

  #assertOpen(): void {
    if (this.#closed) throw new SpoolClosedError();
  }

  /** #track - start work unless closed, and remember it until it settles (for close). */
  #track<T>(start: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new SpoolClosedError());
    const work = start();
    this.#inFlight.add(work);
    const forget = (): void => void this.#inFlight.delete(work);
    work.then(forget, forget);
    return work;
  }
}

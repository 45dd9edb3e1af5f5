/*
 * relay/spool/spool - the durable message store: the only writer of queue data.
 *
 * JOB       commitMessage makes (envelope, body) durable and resolves with a queue id only
 *           when it survives a crash; the queue manager then moves messages between states
 *           (moveMessage), reads (readMessage) and removes them (removeMessage).
 * WHERE     A new message is an M frame in the commit log (log/, log-format.ts): appended
 *           together with the frames of concurrent commits, one write and one fdatasync per
 *           batch (log-appender.ts), so the session says 250 only for mail that is on disk.
 *           While in the log a message is `incoming` or `active`; that difference is kept in
 *           memory only, because recovery treats both alike (queue-recovery.ts resumes an
 *           interrupted attempt as a new one, with the delivery state it left). Delivered or
 *           bounced: a D frame. Moved to deferred/, hold/ or corrupt/: written as a queue
 *           file there (tmp/ -> fdatasync -> rename -> directory fsync), then an O frame.
 *           Messages still queued when their segment is among the oldest beyond maxSegments
 *           are moved out to files in their state directory (incoming/ or active/), so old
 *           segments can be deleted; a segment is deleted once no message in it is queued
 *           and every older one is gone (log-recovery.ts says why only a prefix).
 *           Queue files (record-format.ts) are the same bytes in a frame or a file.
 * STATES    incoming/ active/ deferred/ hold/ corrupt/ (queue-state.ts), plus tmp/ and log/.
 * SPILLED   A body the session wrote to a spill in tmp/ while it arrived (body-spill.ts,
 *           past the session's memory threshold) is committed as a queue file instead of a
 *           frame: copied from the spill, fdatasynced, renamed into incoming/, directory
 *           fsynced, then acknowledged (#commitFile). Group commit is for small messages; a
 *           large one would hold every other session's 250 behind its copy. Such files are
 *           listed with the log's incoming messages (loggedMessages) until moved, so the
 *           queue manager's kick after the commit finds them without reading the directory.
 * RECOVERY  Spool.open: tmp/ and state files first (recovery.ts), then the log
 *           (log-recovery.ts); messages from the log come back as incoming.
 * QUEUE     Spool implements the queue manager's QueueStore (relay/queue/queue-store.ts) and
 *           opens the delivery states beside the messages (delivery-state.ts); the queue
 *           decides, the spool writes. After each commit it calls options.onCommitted(id),
 *           where the hub wires the queue manager's wake-up; the relay:spool:* diagnostics
 *           channels (events.ts) are for logs, metrics and tests only.
 * FAILURES  SpoolFullError (452 4.3.1) before writing when free space - message <
 *           minFreeBytes; SpoolWriteError (451 4.3.0; 452 4.3.1 when its cause is ENOSPC,
 *           isSpoolFull) on any write/fsync/rename error;
 *           a failed log write or fdatasync fails its whole batch.
 * SECURITY  message ids and states are validated before they touch a path; files are 0600,
 *           directories 0700. One process per spool directory: Spool.open takes LOCK in the
 *           root before recovery and refuses a spool another live hub holds (spool-lock.ts).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { BodySpill, SPILL_PREFIX } from './body-spill.ts';
import { CanonicalScanner, findBareLineEnd } from '../common/line-endings.ts';
import { syncDirectory, writeSyncedFile } from '../common/durable-file.ts';
import { checkEnvelope } from '../delivery/envelope.ts';
import { SpoolArgumentError, SpoolBodyError, SpoolClosedError, SpoolCorruptError, SpoolEnvelopeError, SpoolNotFoundError, SpoolWriteError } from './errors.ts';
import { committedChannel, dirSyncedChannel, fileSyncedChannel, logSyncedChannel, spoolEventLevel } from './events.ts';
import { DeliveryStateStore } from './delivery-state.ts';
import { FreeSpaceGuard } from './free-space.ts';
import { DirectorySyncer } from '../common/group-commit.ts';
import { LogAppender } from './log-appender.ts';
import { decodeMessageFrame, FRAME_DONE, FRAME_HEADER_BYTES, FRAME_MESSAGE, FRAME_OUT, frameHeader, ID_BYTES, markerFrame, segmentName } from './log-format.ts';
import { recoverLog } from './log-recovery.ts';
import { assertSpoolMessageId, createMessageId, isSpoolMessageId } from './message-id.ts';
import { QUEUE_STATES, type QueueState, type QueueStore } from '../queue/queue-store.ts';
import { assertQueueState, spoolPaths } from './queue-state.ts';
import { decodeSpoolFile, encodeSpoolFile, encodeSpoolFileHead, encodeSpoolFileTail, MAX_SPOOL_BODY_BYTES, RECORD_HEADER_BYTES } from './record-format.ts';
import { recoverSpool } from './recovery.ts';
import { lockSpool, type SpoolLock } from './spool-lock.ts';
import { resolveSpoolOptions } from './options.ts';
import type { MessageEnvelope } from '../delivery/envelope.ts';
import type { QueuedMessage } from '../delivery/job.ts';
import type { ResolvedSpoolOptions, SpoolOptions } from './options.ts';
import type { SpoolPaths } from './queue-state.ts';
import type { SpoolDamageReport, SpoolRecoveryReport } from './recovery.ts';

export type { SpoolLogEvent, SpoolCommittedMessage, SpoolDirSyncedMessage } from './events.ts';
export type { SpoolOptions } from './options.ts';
export type { QueueState } from '../queue/queue-store.ts';
export type { SpoolDamageReport, SpoolRecoveryReport } from './recovery.ts';
export { QUEUE_STATES } from '../queue/queue-store.ts';
export { spoolEventLevel } from './events.ts';
export { BodySpill } from './body-spill.ts';
export { MAX_SPOOL_BODY_BYTES } from './record-format.ts';
export * from './errors.ts';

export interface SpoolStats {
  /** Commits acknowledged (resolved). */
  commits: number;
  /** Commit-log batches written and fdatasynced (group commits). */
  logSyncs: number;
  /** Queue files fdatasynced (messages leaving the log for a state directory). */
  fileSyncs: number;
  /** Directory fsyncs (renames into a state directory). */
  dirSyncs: number;
  /** Commits that failed after the free-space check (write or fsync errors). */
  failures: number;
}

/** A message read back: the envelope and body the queue manager hands on (QueuedMessage), where it is. */
export interface SpoolMessage extends QueuedMessage {
  id: string;
  state: QueueState;
}

/** Where a message in the log is, and its state there (incoming or active). */
interface LogEntry {
  state: 'incoming' | 'active';
  segment: number;
  offset: number;
  length: number;
}

interface Segment {
  /** Ids of the queued messages whose M frame is in this segment. */
  ids: Set<string>;
  reader: Promise<fs.FileHandle> | null;
}

interface CachedMessage {
  envelope: MessageEnvelope;
  /** The chunks as committed (joined at the first read, not at commit: most are never read
   *  while held, and a copy per commit was measurable on the session path). */
  body: Buffer[];
  bytes: number;
}

interface SpoolParts {
  paths: SpoolPaths;
  options: ResolvedSpoolOptions;
  recovery: SpoolRecoveryReport;
  damage: SpoolDamageReport;
  handles: fs.FileHandle[];
  logHandle: fs.FileHandle;
  /** LOCK in the root (spool-lock.ts), released by close. */
  lock: SpoolLock;
}

const LOG_STATES: readonly QueueState[] = ['incoming', 'active'];
/** Piece size when a spilled body is copied into its queue file. */
const SPILL_COPY_BYTES = 1024 * 1024;
const isLogState = (state: QueueState): state is LogEntry['state'] => LOG_STATES.includes(state);

/** joined - the cached body as one Buffer (joined once, then kept joined). */
function joined(cached: CachedMessage): Buffer {
  if (cached.body.length !== 1) cached.body = [Buffer.concat(cached.body, cached.bytes)];
  return cached.body[0] as Buffer;
}

async function closeReader(segment: Segment): Promise<void> {
  const reader = segment.reader;
  segment.reader = null;
  await reader?.then((h) => h.close()).catch(() => {});
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/** Spool - see the manual above. Create with Spool.open. */
export class Spool implements QueueStore {
  readonly #paths: SpoolPaths;
  readonly #options: ResolvedSpoolOptions;
  readonly #recovery: SpoolRecoveryReport;
  readonly #damage: SpoolDamageReport;
  readonly #handles: fs.FileHandle[];
  readonly #logHandle: fs.FileHandle;
  readonly #lock: SpoolLock;
  readonly #syncers: Record<QueueState, DirectorySyncer>;
  readonly #space: FreeSpaceGuard;
  readonly #stats: SpoolStats = { commits: 0, logSyncs: 0, fileSyncs: 0, dirSyncs: 0, failures: 0 };
  readonly #inFlight = new Set<Promise<unknown>>();
  /** Messages in the log, in commit order. */
  readonly #index = new Map<string, LogEntry>();
  /** Segments of the log, ascending (Map keeps insertion order). */
  readonly #segments = new Map<number, Segment>();
  /** Bodies of recent commits, oldest first, at most cacheBytes in all. */
  readonly #cache = new Map<string, CachedMessage>();
  #cacheBytes = 0;
  /** One operation at a time per logged message (queue manager vs. moving it out). */
  readonly #locks = new Map<string, Promise<unknown>>();
  #appender: LogAppender | null = null;
  /** Done/out markers: their own file and group commit (log-recovery.ts says why). */
  #markers: LogAppender | null = null;
  /** Segments to delete, oldest first, and whether a deletion is running. */
  readonly #doomed: Array<{ seq: number; segment: Segment }> = [];
  #deleting = false;
  #evicting = false;
  #closed = false;
  /** Queue files this process committed into incoming/ (spilled bodies) and not yet moved. */
  readonly #fileIncoming = new Set<string>();

  private constructor(parts: SpoolParts) {
    this.#paths = parts.paths;
    this.#options = parts.options;
    this.#recovery = Object.freeze({ ...parts.recovery });
    this.#damage = Object.freeze({ ...parts.damage });
    this.#handles = parts.handles;
    this.#logHandle = parts.logHandle;
    this.#lock = parts.lock;
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

  /** Spool.logLevel - the level to log a spool event at (events.ts spoolEventLevel). */
  static readonly logLevel = spoolEventLevel;

  /** Spool.open - create the directories, recover, and return a spool ready for commits. */
  static async open(dir: string, options?: SpoolOptions): Promise<Spool> {
    const resolved = resolveSpoolOptions(options);
    const paths = spoolPaths(dir);
    await fs.mkdir(paths.root, { recursive: true, mode: 0o700 });
    // before recovery: a second hub must not recover (move, discard) the first one's files
    const lock = await lockSpool(paths.root);
    try {
      return await Spool.#openLocked(paths, resolved, lock);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  static async #openLocked(paths: SpoolPaths, resolved: ResolvedSpoolOptions, lock: SpoolLock): Promise<Spool> {
    for (const sub of [paths.tmp, paths.log, ...QUEUE_STATES.map((s) => paths.states[s])]) await fs.mkdir(sub, { recursive: true, mode: 0o700 });
    await syncDirectory(paths.root);
    const files = await recoverSpool(paths, resolved.log);
    const fileIds = new Set<string>();
    for (const state of QUEUE_STATES) for (const name of await fs.readdir(paths.states[state])) fileIds.add(name);
    const logged = await recoverLog(paths.log, paths.states.corrupt, fileIds, resolved.log);
    resolved.log({ event: 'logRecovered', segments: logged.segments.length, messages: logged.messages.length });
    const recovery: SpoolRecoveryReport = { kept: files.kept + logged.messages.length, discarded: files.discarded + logged.discarded, corrupt: files.corrupt + logged.corrupt };
    const damage: SpoolDamageReport = { corruptBytes: files.corruptBytes + logged.corruptBytes, framesAfterDamage: logged.framesAfterDamage };
    resolved.log({ event: 'recovered', ...recovery });
    const handles: fs.FileHandle[] = [];
    let logHandle: fs.FileHandle | undefined;
    try {
      for (const state of QUEUE_STATES) handles.push(await fs.open(paths.states[state], 'r'));
      logHandle = await fs.open(paths.log, 'r');
    } catch (err) {
      await Promise.all(handles.map((h) => h.close()));
      throw err;
    }
    const spool = new Spool({ paths, options: resolved, recovery, damage, handles, logHandle, lock });
    for (const seq of logged.segments) spool.#segments.set(seq, { ids: new Set(), reader: null });
    for (const m of logged.messages) {
      spool.#index.set(m.id, { state: 'incoming', segment: m.segment, offset: m.offset, length: m.length });
      spool.#segments.get(m.segment)?.ids.add(m.id);
    }
    try {
      spool.#markers = await LogAppender.start(paths.log, logHandle, logged.nextSeq, {
        kind: 'done',
        segmentBytes: Number.POSITIVE_INFINITY, // follows the message segments (rotateTo)
        windowMs: resolved.groupCommitWindowMs,
        onSegment: () => {},
        onSynced: () => {},
      });
      spool.#appender = await LogAppender.start(paths.log, logHandle, logged.nextSeq, {
        kind: 'log',
        segmentBytes: resolved.segmentBytes,
        windowMs: resolved.groupCommitWindowMs,
        onSegment: (seq) => spool.#onSegment(seq),
        onSynced: (r) => {
          spool.#stats.logSyncs += 1;
          if (logSyncedChannel.hasSubscribers) logSyncedChannel.publish(r);
        },
      });
    } catch (err) {
      await spool.#closeHandles();
      throw err;
    }
    return spool;
  }

  /** What startup recovery found (files and log together). */
  get recovery(): SpoolRecoveryReport {
    return this.#recovery;
  }

  /** What startup recovery found damaged, in bytes and frames recovered past the damage (metrics). */
  get damage(): SpoolDamageReport {
    return this.#damage;
  }

  /** A snapshot of the counters. */
  get stats(): SpoolStats {
    return { ...this.#stats };
  }

  /** setMinFreeBytes - the free-space reserve below which commits get SpoolFullError (452 4.3.1), from a config reload. */
  setMinFreeBytes(bytes: number): void {
    this.#space.setMinFreeBytes(bytes);
  }

  /** Absolute spool root. */
  get directory(): string {
    return this.#paths.root;
  }

  /** openDeliveryStates - the per-recipient delivery states beside the messages (delivery-state.ts), for the queue manager. */
  openDeliveryStates(): Promise<DeliveryStateStore> {
    return DeliveryStateStore.open(this.#paths.root);
  }

  /**
   * commitMessage - store one message durably; resolves with its queue id (then say 250).
   * `intoReserve`: the hub's own messages (DSNs) may use the free-space reserve that client
   * messages may not (free-space.ts). `id`: a message handed off by another pod of the hub
   * keeps its queue id (relay/queue/hand-off.ts), so a hand-off repeated after a crash between
   * the receiver's 200 and the sender's delete finds it here and stores nothing twice.
   */
  commitMessage(envelope: MessageEnvelope, body: Buffer | Buffer[], options: { intoReserve?: boolean; spill?: BodySpill; id?: string } = {}): Promise<string> {
    const chunks = Array.isArray(body) ? body : [body];
    const intoReserve = options.intoReserve ?? false;
    if (options.id !== undefined) {
      const id = options.id;
      assertSpoolMessageId(id);
      return this.#track(async () => ((await this.#holds(id)) ? id : this.#commit(envelope, chunks, intoReserve, id)));
    }
    if (options.spill !== undefined && options.spill.bytes > 0) {
      const spill = options.spill;
      return this.#track(() => this.#commitFile(envelope, chunks, spill, intoReserve));
    }
    return this.#track(() => this.#commit(envelope, chunks, intoReserve));
  }

  /** #holds - whether a message with this id is queued here, in the log or in any state directory. */
  async #holds(id: string): Promise<boolean> {
    if (this.#index.has(id)) return true;
    for (const state of QUEUE_STATES) {
      try {
        await fs.access(path.join(this.#paths.states[state], id));
        return true;
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    return false;
  }

  /**
   * createBodySpill - a new spill file in tmp/ for a body that arrives in pieces (see
   * body-spill.ts); the caller discards it after commitMessage, or when the session ends.
   */
  createBodySpill(): BodySpill {
    this.#assertOpen();
    return new BodySpill(path.join(this.#paths.tmp, `${SPILL_PREFIX}${randomBytes(12).toString('hex')}`), this.#space);
  }

  /** #commitFile - a message whose body is `body` followed by the spill's bytes, as a queue file in incoming/. */
  async #commitFile(input: MessageEnvelope, body: Buffer[], spill: BodySpill, intoReserve: boolean): Promise<string> {
    const started = performance.now();
    if (!body.every((c) => Buffer.isBuffer(c))) throw new SpoolArgumentError('body must be a Buffer or an array of Buffers');
    if (spill.discarded) throw new SpoolArgumentError('the body spill was discarded');
    const checked = checkEnvelope(input);
    if (!checked.ok) throw new SpoolEnvelopeError(checked.reason);
    const spilled = spill.bytes;
    const bodyBytes = body.reduce((n, c) => n + c.length, 0) + spilled;
    if (checked.envelope.size !== bodyBytes) throw new SpoolEnvelopeError(`size ${checked.envelope.size} does not match body length ${bodyBytes}`);
    if (bodyBytes > MAX_SPOOL_BODY_BYTES) throw new SpoolArgumentError(`body of ${bodyBytes} bytes is over the queue file limit of ${MAX_SPOOL_BODY_BYTES}`);
    const scanner = this.#options.assertCanonical ? new CanonicalScanner() : null;
    const id = createMessageId();
    const head = encodeSpoolFileHead(checked.envelope, bodyBytes);
    const fileBytes = head.length + bodyBytes + RECORD_HEADER_BYTES + 4;
    await this.#space.reserve(fileBytes, intoReserve);
    const tmpFile = path.join(this.#paths.tmp, id);
    let kept = false;
    let handle: fs.FileHandle | undefined;
    try {
      handle = await fs.open(tmpFile, 'wx', 0o600);
      let crc = crc32(head);
      const first = [head, ...body.filter((c) => c.length > 0)];
      for (const chunk of body) {
        crc = crc32(chunk, crc);
        const bad = scanner?.push(chunk) ?? -1;
        if (bad !== -1) throw new SpoolBodyError(bad);
      }
      let position = 0;
      const { bytesWritten } = await handle.writev(first, 0);
      position += bytesWritten;
      if (position !== first.reduce((n, c) => n + c.length, 0)) throw new Error(`short write: ${position} bytes`);
      // copied in pieces: the spill may be far larger than what a session may hold in memory
      const buffer = Buffer.allocUnsafe(Math.min(SPILL_COPY_BYTES, spilled));
      for (let from = 0; from < spilled; ) {
        const read = await spill.read(buffer, from);
        if (read <= 0) throw new Error(`body spill ended at ${from} of ${spilled} bytes`);
        const piece = buffer.subarray(0, read);
        crc = crc32(piece, crc);
        const bad = scanner?.push(piece) ?? -1;
        if (bad !== -1) throw new SpoolBodyError(bad);
        const wrote = await handle.write(piece, 0, read, position);
        if (wrote.bytesWritten !== read) throw new Error(`short write: ${wrote.bytesWritten} of ${read} bytes`);
        position += read;
        from += read;
      }
      const last = scanner?.end() ?? -1;
      if (last !== -1) throw new SpoolBodyError(last);
      const tail = encodeSpoolFileTail(crc);
      await handle.write(tail, 0, tail.length, position);
      await handle.datasync();
      const closing = handle;
      handle = undefined;
      await closing.close();
      this.#stats.fileSyncs += 1;
      if (fileSyncedChannel.hasSubscribers) fileSyncedChannel.publish({ id, bytes: fileBytes, durationMs: performance.now() - started });
      await fs.rename(tmpFile, path.join(this.#paths.states.incoming, id));
      kept = true;
      await this.#syncers.incoming.sync();
    } catch (err) {
      await handle?.close().catch(() => {});
      if (kept) await fs.rm(path.join(this.#paths.states.incoming, id), { force: true }).catch(() => {});
      else await fs.rm(tmpFile, { force: true }).catch(() => {});
      kept = false;
      if (err instanceof SpoolBodyError) throw err;
      this.#stats.failures += 1;
      const error = new SpoolWriteError(`${id}: queue file write failed: ${(err as Error).message}`, err);
      this.#options.log({ event: 'commitFailed', id, code: error.code, message: error.message });
      throw error;
    } finally {
      this.#space.release(fileBytes, kept);
    }
    this.#fileIncoming.add(id);
    this.#stats.commits += 1;
    if (committedChannel.hasSubscribers) committedChannel.publish({ id, bytes: fileBytes, durationMs: performance.now() - started });
    this.#options.onCommitted(id);
    return id;
  }

  async #commit(input: MessageEnvelope, body: Buffer[], intoReserve: boolean, givenId?: string): Promise<string> {
    const started = performance.now();
    if (!body.every((c) => Buffer.isBuffer(c))) throw new SpoolArgumentError('body must be a Buffer or an array of Buffers');
    const checked = checkEnvelope(input);
    if (!checked.ok) throw new SpoolEnvelopeError(checked.reason);
    const bodyBytes = body.reduce((n, c) => n + c.length, 0);
    if (checked.envelope.size !== bodyBytes) throw new SpoolEnvelopeError(`size ${checked.envelope.size} does not match body length ${bodyBytes}`);
    if (this.#options.assertCanonical) {
      const bad = findBareLineEnd(body);
      if (bad !== -1) throw new SpoolBodyError(bad);
    }
    const id = givenId ?? createMessageId();
    const file = encodeSpoolFile(checked.envelope, body);
    const payloadBytes = ID_BYTES + file.bytes;
    const frameBytes = FRAME_HEADER_BYTES + payloadBytes;
    await this.#space.reserve(frameBytes, intoReserve);
    let kept = false;
    try {
      const placed = await (this.#appender as LogAppender).append([frameHeader(FRAME_MESSAGE, id, payloadBytes), ...file.buffers], frameBytes);
      this.#index.set(id, { state: 'incoming', segment: placed.segment, offset: placed.offset, length: placed.length });
      this.#segmentOf(placed.segment).ids.add(id);
      this.#remember(id, checked.envelope, body, bodyBytes);
      kept = true;
    } catch (err) {
      this.#stats.failures += 1;
      const error = new SpoolWriteError(`${id}: commit log write failed: ${(err as Error).message}`, err);
      this.#options.log({ event: 'commitFailed', id, code: error.code, message: error.message });
      throw error;
    } finally {
      this.#space.release(frameBytes, kept);
    }
    const durationMs = performance.now() - started;
    this.#stats.commits += 1;
    if (committedChannel.hasSubscribers) committedChannel.publish({ id, bytes: frameBytes, durationMs });
    this.#options.onCommitted(id);
    return id;
  }

  /** moveMessage - move a message from one state to another; durable when it resolves. */
  moveMessage(id: string, from: QueueState, to: QueueState): Promise<void> {
    return this.#track(async () => {
      assertSpoolMessageId(id);
      assertQueueState(from, 'from');
      assertQueueState(to, 'to');
      if (from === to) throw new SpoolArgumentError(`moveMessage: from and to are both ${from}`);
      await this.#locked(id, async () => {
        const entry = this.#index.get(id);
        if (entry === undefined) return this.#moveFile(id, from, to);
        if (entry.state !== from) throw new SpoolNotFoundError(id, from);
        if (isLogState(to)) entry.state = to; // memory only: see the manual (WHERE)
        else await this.#moveOutOfLog(id, entry, to);
      });
      this.#options.log({ event: 'messageMoved', id, from, to });
    });
  }

  async #moveFile(id: string, from: QueueState, to: QueueState): Promise<void> {
    try {
      await fs.rename(path.join(this.#paths.states[from], id), path.join(this.#paths.states[to], id));
      if (from === 'incoming') this.#fileIncoming.delete(id);
    } catch (err) {
      if (from === 'incoming') this.#fileIncoming.delete(id);
      if (isErrno(err, 'ENOENT')) throw new SpoolNotFoundError(id, from, err);
      throw new SpoolWriteError(`${id}: rename from ${from} to ${to} failed: ${(err as Error).message}`, err);
    }
    try {
      await Promise.all([this.#syncers[to].sync(), this.#syncers[from].sync()]);
    } catch (err) {
      throw new SpoolWriteError(`${id}: fsync after rename from ${from} to ${to} failed: ${(err as Error).message}`, err);
    }
  }

  /** #moveOutOfLog - write the message as a file in `to`/, then end it in the log. */
  async #moveOutOfLog(id: string, entry: LogEntry, to: QueueState): Promise<void> {
    const bytes = await this.#queueFileBytes(id, entry);
    const tmpFile = path.join(this.#paths.tmp, id);
    const finalFile = path.join(this.#paths.states[to], id);
    try {
      const started = performance.now();
      await writeSyncedFile(tmpFile, bytes, bytes.reduce((n, b) => n + b.length, 0));
      this.#stats.fileSyncs += 1;
      if (fileSyncedChannel.hasSubscribers) fileSyncedChannel.publish({ id, bytes: bytes.reduce((n, b) => n + b.length, 0), durationMs: performance.now() - started });
      await fs.rename(tmpFile, finalFile);
      await this.#syncers[to].sync();
    } catch (err) {
      await fs.rm(tmpFile, { force: true }).catch(() => {});
      throw new SpoolWriteError(`${id}: moving out of the commit log to ${to} failed: ${(err as Error).message}`, err);
    }
    // the file is durable and wins at recovery even if this frame is lost (log-recovery.ts)
    await this.#endInLog(id, entry, FRAME_OUT);
  }

  /** #endInLog - append a D or O frame for the message, then forget it. */
  async #endInLog(id: string, entry: LogEntry, marker: typeof FRAME_DONE | typeof FRAME_OUT): Promise<void> {
    const frame = markerFrame(marker, id);
    try {
      await (this.#markers as LogAppender).append([frame], frame.length);
    } catch (err) {
      throw new SpoolWriteError(`${id}: commit log write failed: ${(err as Error).message}`, err);
    }
    this.#index.delete(id);
    this.#forget(id);
    this.#segments.get(entry.segment)?.ids.delete(id);
    this.#collectSegments();
  }

  /** listMessages - queue ids in a state (log first, in commit order; then files, by id). */
  async listMessages(state: QueueState): Promise<string[]> {
    this.#assertOpen();
    assertQueueState(state, 'state');
    const entries = await fs.readdir(this.#paths.states[state], { withFileTypes: true });
    const files = entries.filter((e) => e.isFile() && isSpoolMessageId(e.name)).map((e) => e.name).sort();
    if (!isLogState(state)) return files;
    const logged = this.loggedMessages(state);
    // a message being moved out of the log can show in both for a moment
    return files.length === 0 ? logged : [...new Set([...logged, ...files])];
  }

  /** loggedMessages - ids of the messages in the commit log in a state, in commit order, then
   *  (incoming) the queue files this process committed there (spilled bodies); no disk access
   *  (the queue manager's pump after each commit; other files need listMessages). */
  loggedMessages(state: 'incoming' | 'active'): string[] {
    this.#assertOpen();
    const ids: string[] = [];
    for (const [id, entry] of this.#index) if (entry.state === state) ids.push(id);
    if (state === 'incoming') for (const id of this.#fileIncoming) ids.push(id);
    return ids;
  }

  /** readMessage - decode and verify one message; SpoolCorruptError if it fails the checks. */
  async readMessage(state: QueueState, id: string): Promise<SpoolMessage> {
    this.#assertOpen();
    assertQueueState(state, 'state');
    assertSpoolMessageId(id);
    const entry = this.#index.get(id);
    if (entry !== undefined) {
      if (entry.state !== state) throw new SpoolNotFoundError(id, state);
      const cached = this.#cache.get(id);
      if (cached !== undefined) return { id, state, envelope: cached.envelope, body: joined(cached) };
      try {
        const decoded = decodeMessageFrame(await this.#readFrame(entry), id);
        if (!decoded.ok) throw new SpoolCorruptError(id, state, decoded.reason);
        return { id, state, envelope: decoded.envelope, body: decoded.body };
      } catch (err) {
        if (this.#index.has(id)) throw err; // else it was moved out to a file meanwhile: read that
      }
    }
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
    return this.#track(async () => {
      assertQueueState(state, 'state');
      assertSpoolMessageId(id);
      await this.#locked(id, async () => {
        const entry = this.#index.get(id);
        if (entry === undefined) return this.#removeFile(state, id);
        if (entry.state !== state) throw new SpoolNotFoundError(id, state);
        await this.#endInLog(id, entry, FRAME_DONE);
      });
      this.#options.log({ event: 'messageRemoved', id, state });
    });
  }

  async #removeFile(state: QueueState, id: string): Promise<void> {
    if (state === 'incoming') this.#fileIncoming.delete(id);
    try {
      await fs.unlink(path.join(this.#paths.states[state], id));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new SpoolNotFoundError(id, state, err);
      throw new SpoolWriteError(`${id}: unlink in ${state} failed: ${(err as Error).message}`, err);
    }
    await this.#syncers[state].sync();
  }

  /** close - refuse new work, wait for work in flight, release every handle. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    await this.#closeHandles();
    await this.#lock.release();
  }

  async #closeHandles(): Promise<void> {
    await this.#appender?.close();
    await this.#markers?.close();
    for (const segment of this.#segments.values()) await closeReader(segment);
    await Promise.all([...this.#handles, this.#logHandle].map((h) => h.close()));
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

  /** #background - the spool's own work (moving out, deleting segments): close waits for it. */
  #background(start: () => Promise<void>): Promise<void> {
    const work = start().catch((err: unknown) => this.#options.log({ event: 'logWriteFailed', message: (err as Error).message }));
    this.#inFlight.add(work);
    void work.then(() => this.#inFlight.delete(work));
    return work;
  }

  /** #locked - run `work` after every earlier locked operation on the same message. */
  async #locked<T>(id: string, work: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(id);
    const mine = (before ?? Promise.resolve()).catch(() => {}).then(work);
    this.#locks.set(id, mine);
    try {
      return await mine;
    } finally {
      if (this.#locks.get(id) === mine) this.#locks.delete(id);
    }
  }

  #segmentOf(seq: number): Segment {
    let segment = this.#segments.get(seq);
    if (segment === undefined) {
      segment = { ids: new Set(), reader: null };
      this.#segments.set(seq, segment);
    }
    return segment;
  }

  #onSegment(seq: number): void {
    this.#markers?.rotateTo(seq); // markers written from now on may end messages of `seq`
    this.#segmentOf(seq);
    this.#collectSegments();
    this.#maybeEvict();
  }

  #maybeEvict(): void {
    if (this.#segments.size <= this.#options.maxSegments || this.#evicting || this.#closed) return;
    this.#evicting = true;
    void this.#background(() => this.#evictOldest()).finally(() => {
      this.#evicting = false;
      this.#maybeEvict(); // segments started meanwhile
    });
  }

  /** #evictOldest - move what is still queued in the oldest segments out to files. */
  async #evictOldest(): Promise<void> {
    for (const [seq, segment] of this.#segments) {
      if (this.#segments.size <= this.#options.maxSegments || this.#closed) return;
      for (const id of [...segment.ids]) {
        await this.#locked(id, async () => {
          const entry = this.#index.get(id);
          if (entry === undefined || entry.segment !== seq) return;
          try {
            await this.#moveOutOfLog(id, entry, entry.state);
            this.#options.log({ event: 'messageEvicted', id, state: entry.state, segment: seq });
          } catch (err) {
            this.#options.log({ event: 'logWriteFailed', message: (err as Error).message });
          }
        });
      }
      if (segment.ids.size > 0) return; // a write failed: try again at the next new segment
    }
  }

  /** #collectSegments - delete leading segments with nothing queued (never the current one). */
  #collectSegments(): void {
    // the newest segment is the one being appended to (or about to be)
    const newest = Math.max(this.#appender?.currentSegment ?? 0, ...this.#segments.keys());
    for (const [seq, segment] of this.#segments) {
      if (seq >= newest || segment.ids.size > 0) break;
      this.#segments.delete(seq);
      this.#doomed.push({ seq, segment });
    }
    if (this.#doomed.length > 0 && !this.#deleting) {
      this.#deleting = true;
      void this.#background(() => this.#deleteSegments()).finally(() => {
        this.#deleting = false;
      });
    }
  }

  /** #deleteSegments - unlink in order, oldest first: a later segment may hold the D frames
   *  that keep an earlier one's messages ended, so it must never be gone while that one is
   *  back after a crash. Unlinks are journaled in order, hence no directory fsync. */
  async #deleteSegments(): Promise<void> {
    for (let next = this.#doomed.shift(); next !== undefined; next = this.#doomed.shift()) {
      const name = segmentName(next.seq);
      await closeReader(next.segment);
      await fs.rm(path.join(this.#paths.log, name), { force: true });
      // the marker file of the same number can only end messages of segments up to it, all gone now
      if (next.seq < (this.#markers?.currentSegment ?? 0)) await fs.rm(path.join(this.#paths.log, segmentName(next.seq, 'done')), { force: true });
      this.#options.log({ event: 'segmentDeleted', file: name });
    }
  }

  async #readFrame(entry: LogEntry): Promise<Buffer> {
    const segment = this.#segmentOf(entry.segment);
    segment.reader ??= fs.open(path.join(this.#paths.log, segmentName(entry.segment)), 'r');
    const reader = await segment.reader;
    const frame = Buffer.allocUnsafe(entry.length);
    const { bytesRead } = await reader.read(frame, 0, entry.length, entry.offset);
    if (bytesRead !== entry.length) throw new SpoolWriteError(`short read in ${segmentName(entry.segment)} at ${entry.offset}`, null);
    return frame;
  }

  /** #queueFileBytes - the queue file of a logged message, as it is in its frame. */
  async #queueFileBytes(id: string, entry: LogEntry): Promise<Buffer[]> {
    const cached = this.#cache.get(id);
    if (cached !== undefined) return encodeSpoolFile(cached.envelope, cached.body).buffers;
    const frame = await this.#readFrame(entry);
    return [frame.subarray(FRAME_HEADER_BYTES + ID_BYTES)];
  }

  #remember(id: string, envelope: MessageEnvelope, body: Buffer[], bytes: number): void {
    if (bytes > this.#options.cacheBytes) return;
    this.#cache.set(id, { envelope, body, bytes });
    this.#cacheBytes += bytes;
    if (this.#cacheBytes <= this.#options.cacheBytes) return;
    for (const [oldId, old] of this.#cache) {
      if (this.#cacheBytes <= this.#options.cacheBytes) break;
      this.#cache.delete(oldId);
      this.#cacheBytes -= old.bytes;
    }
  }

  #forget(id: string): void {
    const cached = this.#cache.get(id);
    if (cached === undefined) return;
    this.#cache.delete(id);
    this.#cacheBytes -= cached.bytes;
  }
}

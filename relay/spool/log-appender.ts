/*
 * relay/spool/log-appender - group commit: many frames, one write, one fdatasync.
 *
 * append() queues a frame and resolves with where it landed, only after an fdatasync that
 * began after the frame was written. Frames arriving while a write+fdatasync runs wait
 * and go together in the next one, so 20 sessions finishing DATA at once cost one fsync,
 * not 20 (the LevelDB/RocksDB/PostgreSQL group commit). With windowMs = 0 the appender
 * yields one event-loop turn before a batch that starts from idle, so frames completing
 * together share it; under load the frames that queued during an fdatasync are the next batch.
 *
 * Segments: when the current segment has reached segmentBytes, the next batch goes to a
 * new one: created, header written and fdatasynced, and the log directory fsynced (so the
 * new file's name survives a crash) before any frame in it is acknowledged.
 *
 * One batch at a time: write, fdatasync, acknowledge. (Overlapping the fdatasyncs of
 * consecutive batches was measured: more, smaller fdatasyncs and no more messages per second.)
 * The spool runs two appenders: one for messages (log), one for done/out markers (done), so
 * a marker never waits behind a batch of message bodies (log-recovery.ts).
 *
 * Failure: a failed write or fdatasync rejects every frame of that batch and nobody is
 * acked (fsyncgate: never retry-and-ack); the next batch starts a fresh segment, since what
 * the kernel kept of the failed one is unknown. Frames of a failed batch that did reach the
 * disk are found again at the next start (the client got 4xx and retries: a duplicate at
 * worst, never a loss).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { setImmediate as yieldTurn, setTimeout as sleep } from 'node:timers/promises';
import { SEGMENT_HEADER, segmentName, type LogFileKind } from './log-format.ts';

export interface AppendedFrame {
  segment: number;
  offset: number;
  length: number;
}

export interface LogSyncReport {
  frames: number;
  bytes: number;
  durationMs: number;
}

export interface LogAppenderOptions {
  /** File kind (log-format.ts): `log` for messages, `done` for done/out markers. */
  kind: LogFileKind;
  segmentBytes: number;
  windowMs: number;
  /** A new segment exists and is durable (called before any frame in it is acked). */
  onSegment: (seq: number) => void;
  /** One batch was written and fdatasynced. */
  onSynced: (report: LogSyncReport) => void;
}

interface PendingFrame {
  buffers: Buffer[];
  bytes: number;
  done: PromiseWithResolvers<AppendedFrame>;
}

interface OpenSegment {
  seq: number;
  handle: fs.FileHandle;
  size: number;
}

/** LogAppender - see the manual above. Create with LogAppender.start. */
export class LogAppender {
  readonly #dir: string;
  readonly #dirHandle: fs.FileHandle;
  readonly #options: LogAppenderOptions;
  #segment: OpenSegment | null = null;
  #nextSeq: number;
  #pending: PendingFrame[] = [];
  #running: Promise<void> | null = null;
  /** rotateTo() was called: the next batch starts this segment. */
  #rotateTo: number | null = null;

  private constructor(dir: string, dirHandle: fs.FileHandle, firstSeq: number, options: LogAppenderOptions) {
    this.#dir = dir;
    this.#dirHandle = dirHandle;
    this.#nextSeq = firstSeq;
    this.#options = options;
  }

  /** start - open segment `firstSeq` (a new file) in `dir`, whose handle `dirHandle` is. */
  static async start(dir: string, dirHandle: fs.FileHandle, firstSeq: number, options: LogAppenderOptions): Promise<LogAppender> {
    const appender = new LogAppender(dir, dirHandle, firstSeq, options);
    await appender.#openSegment();
    return appender;
  }

  /** rotateTo - the next batch goes to a new file numbered `seq` (markers follow messages). */
  rotateTo(seq: number): void {
    if (this.#segment === null || seq > this.#segment.seq) this.#rotateTo = seq;
  }

  /** The segment new frames go to. */
  get currentSegment(): number {
    return this.#segment?.seq ?? this.#nextSeq;
  }

  /** append - write one frame (its buffers in order); resolves once it is on disk. */
  append(buffers: Buffer[], bytes: number): Promise<AppendedFrame> {
    const done = Promise.withResolvers<AppendedFrame>();
    this.#pending.push({ buffers, bytes, done });
    this.#running ??= this.#run().finally(() => {
      this.#running = null;
    });
    return done.promise;
  }

  /** close - wait for batches in flight, then close the segment. */
  async close(): Promise<void> {
    while (this.#running) await this.#running;
    await this.#segment?.handle.close();
    this.#segment = null;
  }

  async #run(): Promise<void> {
    let fromIdle = true;
    while (this.#pending.length > 0) {
      if (this.#options.windowMs > 0) await sleep(this.#options.windowMs);
      // from idle, one turn lets frames completing together share the batch; after a batch,
      // what arrived during its fdatasync is a batch already, and waiting would only add latency
      else if (fromIdle) await yieldTurn();
      fromIdle = false;
      const batch = this.#pending;
      this.#pending = [];
      try {
        if (this.#segment === null || this.#segment.size >= this.#options.segmentBytes || this.#rotateTo !== null) await this.#openSegment();
        const started = performance.now();
        const placed = await this.#write(batch);
        await (this.#segment as OpenSegment).handle.datasync();
        this.#options.onSynced({ frames: batch.length, bytes: placed.reduce((n, f) => n + f.length, 0), durationMs: performance.now() - started });
        batch.forEach((frame, i) => frame.done.resolve(placed[i] as AppendedFrame));
      } catch (err) {
        for (const frame of batch) frame.done.reject(err);
        await this.#abandonSegment(); // what the kernel kept of it is unknown: the next batch starts a new one
      }
    }
  }

  /** #write - the batch's frames at the end of the segment, in one positioned writev. */
  async #write(batch: PendingFrame[]): Promise<AppendedFrame[]> {
    const segment = this.#segment as OpenSegment;
    const buffers: Buffer[] = [];
    const placed: AppendedFrame[] = [];
    let offset = segment.size;
    for (const frame of batch) {
      placed.push({ segment: segment.seq, offset, length: frame.bytes });
      for (const b of frame.buffers) if (b.length > 0) buffers.push(b);
      offset += frame.bytes;
    }
    const total = offset - segment.size;
    let written = 0;
    while (written < total) {
      // writev may write less than asked (signals, very large batches): continue where it stopped
      const rest = skipBytes(buffers, written);
      const { bytesWritten } = await segment.handle.writev(rest, segment.size + written);
      if (bytesWritten <= 0) throw new Error(`short write: ${written} of ${total} bytes`);
      written += bytesWritten;
    }
    segment.size += total;
    return placed;
  }

  async #openSegment(): Promise<void> {
    await this.#abandonSegment();
    const seq = Math.max(this.#nextSeq, this.#rotateTo ?? 0);
    this.#nextSeq = seq + 1;
    this.#rotateTo = null;
    const file = path.join(this.#dir, segmentName(seq, this.#options.kind));
    const handle = await fs.open(file, 'wx', 0o600);
    try {
      await handle.write(SEGMENT_HEADER, 0, SEGMENT_HEADER.length, 0);
      await handle.datasync();
      await this.#dirHandle.sync();
    } catch (err) {
      await handle.close().catch(() => {});
      // Nothing in it was acknowledged: remove it, or a full disk leaves one empty segment per
      // failed batch (each holding an inode) until the next start.
      await fs.rm(file, { force: true }).catch(() => {});
      throw err;
    }
    this.#segment = { seq, handle, size: SEGMENT_HEADER.length };
    this.#options.onSegment(seq);
  }

  async #abandonSegment(): Promise<void> {
    const old = this.#segment;
    this.#segment = null;
    await old?.handle.close().catch(() => {});
  }
}

/** skipBytes - the buffers without their first `n` bytes (views, no copies). */
function skipBytes(buffers: Buffer[], n: number): Buffer[] {
  if (n === 0) return buffers;
  const out: Buffer[] = [];
  let skip = n;
  for (const b of buffers) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}

/*
 * relay/log/tracking-log-file - the tracking log's copy on the spool volume: `<spool>/tracking/`,
 * rotated and pruned, what `relay-operator track` searches (tracking-log-search.ts).
 *
 * Exchange keeps MSGTRK*.LOG files beside its queue for MessageTrackingLogMaxAge (30 days) and
 * within MessageTrackingLogMaxDirectorySize; this is the same, as JSON lines (the stdout lines of
 * tracking-log.ts, byte for byte) in files named by the time they were opened
 * (`tracking-2026-12-06T05-03-32.123Z.log`, so the name order is time order).
 *
 * Best-effort by design: the spool's fdatasync is what makes mail durable, and the accept path
 * must not wait for a log. Lines are collected in memory and written by one write in flight at a
 * time (each write takes every line that arrived meanwhile); never fsynced. A crash loses what
 * the kernel had not yet written back; a disk that stops answering makes lines wait, and past
 * MAX_PENDING_CHARS new lines are dropped and counted (`dropped`), so memory stays bounded. A
 * write error is reported once (onError) until a write succeeds again, and the lines are lost.
 *
 * Rotation: a new file when the current one would pass the file cap (an eighth of maxSizeBytes,
 * between 64 KiB and 64 MiB: retention by size then deletes in steps of about an eighth) or
 * when the UTC day changes. Retention: after each rotation, at open and hourly, files last
 * written more than maxAgeMs ago are deleted, then the oldest while all together pass
 * maxSizeBytes; the file being written is never deleted.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TrackingLogConfig } from '../config/schema.ts';

/** Lines waiting beyond this many characters are dropped (a disk that stopped answering). */
export const MAX_PENDING_CHARS = 16 * 1024 * 1024;
const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
const MIN_FILE_BYTES = 64 * 1024;
const MAX_FILE_BYTES = 64 * 1024 * 1024;
const FILE_NAME = /^tracking-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z)(?:-(\d+))?\.log$/;

/** isTrackingFileName - a file of the tracking folder (what retention and search look at). */
export function isTrackingFileName(name: string): boolean {
  return FILE_NAME.test(name);
}

/** trackingFileName - the name of a file opened at `ms` (`seq` > 0 when that name was taken). */
export function trackingFileName(ms: number, seq = 0): string {
  const stamp = new Date(ms).toISOString().replaceAll(':', '-');
  return seq > 0 ? `tracking-${stamp}-${seq}.log` : `tracking-${stamp}.log`;
}

/** fileCapBytes - the size at which the current file is rotated, for a folder cap of maxSizeBytes. */
export function fileCapBytes(maxSizeBytes: number): number {
  return Math.min(MAX_FILE_BYTES, Math.max(MIN_FILE_BYTES, Math.floor(maxSizeBytes / 8)));
}

export interface TrackingLogFileOptions {
  /** The folder (`<spool>/tracking`); created when missing. */
  dir: string;
  settings: TrackingLogConfig;
  now?: () => number;
  /** A write, open or delete that failed (reported once until a write succeeds again). */
  onError?: (error: Error) => void;
}

interface CurrentFile {
  name: string;
  handle: fs.FileHandle;
  bytes: number;
  day: string;
}

/** TrackingLogFile - see the manual above. */
export class TrackingLogFile {
  readonly #dir: string;
  readonly #now: () => number;
  readonly #onError: (error: Error) => void;
  #settings: TrackingLogConfig;
  #pending: string[] = [];
  #pendingChars = 0;
  #writing: Promise<void> | null = null;
  #current: CurrentFile | null = null;
  #retention: NodeJS.Timeout | null = null;
  #failing = false;
  #closed = false;
  /** Lines dropped because too many were waiting. */
  dropped = 0;

  private constructor(options: TrackingLogFileOptions) {
    this.#dir = options.dir;
    this.#settings = options.settings;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? (() => undefined);
  }

  /** open - the folder made, retention applied once, the hourly retention started. */
  static async open(options: TrackingLogFileOptions): Promise<TrackingLogFile> {
    const file = new TrackingLogFile(options);
    await fs.mkdir(options.dir, { recursive: true });
    await file.applyRetention();
    file.#retention = setInterval(() => void file.applyRetention(), RETENTION_INTERVAL_MS);
    file.#retention.unref();
    return file;
  }

  get dir(): string {
    return this.#dir;
  }

  /** update - new limits (a config reload); they apply from the next write and retention. */
  update(settings: TrackingLogConfig): void {
    this.#settings = settings;
  }

  /** append - one whole line (ending "\n"), written later; returns at once. */
  append(line: string): void {
    if (this.#closed) return;
    if (this.#pendingChars + line.length > MAX_PENDING_CHARS) {
      this.dropped += 1;
      return;
    }
    this.#pending.push(line);
    this.#pendingChars += line.length;
    this.#writing ??= this.#drain();
  }

  /** flushed - resolves once every line appended so far is written (or failed). */
  async flushed(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /** close - writes what waits, closes the file, stops retention; appends after it are ignored. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retention) clearInterval(this.#retention);
    this.#retention = null;
    await this.flushed();
    await this.#current?.handle.close().catch((error: Error) => this.#report(error));
    this.#current = null;
  }

  async #drain(): Promise<void> {
    // One turn's worth of lines go together: wait for the end of the turn before the first write.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#pending.length > 0) {
      const chunk = this.#pending.join('');
      this.#pending = [];
      this.#pendingChars = 0;
      try {
        await this.#write(chunk);
        this.#failing = false;
      } catch (error) {
        this.#report(error as Error);
      }
    }
    this.#writing = null;
  }

  async #write(chunk: string): Promise<void> {
    const data = Buffer.from(chunk);
    const now = this.#now();
    const day = new Date(now).toISOString().slice(0, 10);
    const current = this.#current;
    if (!current || current.day !== day || (current.bytes > 0 && current.bytes + data.length > fileCapBytes(this.#settings.maxSizeBytes))) {
      await this.#rotate(now, day);
    }
    const target = this.#current;
    if (!target) return;
    await target.handle.write(data);
    target.bytes += data.length;
  }

  async #rotate(now: number, day: string): Promise<void> {
    const previous = this.#current;
    this.#current = null;
    if (previous) await previous.handle.close().catch((error: Error) => this.#report(error));
    for (let seq = 0; ; seq += 1) {
      const name = trackingFileName(now, seq);
      try {
        const handle = await fs.open(path.join(this.#dir, name), 'wx');
        this.#current = { name, handle, bytes: 0, day };
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    if (previous) await this.applyRetention();
  }

  /**
   * applyRetention - deletes files last written before now - maxAgeMs, then the oldest while the
   * folder passes maxSizeBytes; never the file being written. Returns the names deleted.
   */
  async applyRetention(): Promise<string[]> {
    const deleted: string[] = [];
    try {
      const names = (await fs.readdir(this.#dir)).filter(isTrackingFileName).sort();
      const files: Array<{ name: string; bytes: number; mtimeMs: number }> = [];
      for (const name of names) {
        const stat = await fs.stat(path.join(this.#dir, name)).catch(() => null);
        if (stat) files.push({ name, bytes: stat.size, mtimeMs: stat.mtimeMs });
      }
      const oldest = this.#now() - this.#settings.maxAgeMs;
      let total = files.reduce((sum, f) => sum + f.bytes, 0);
      for (const file of files) {
        if (file.name === this.#current?.name) continue;
        if (file.mtimeMs >= oldest && total <= this.#settings.maxSizeBytes) continue;
        await fs.rm(path.join(this.#dir, file.name), { force: true });
        total -= file.bytes;
        deleted.push(file.name);
      }
    } catch (error) {
      this.#report(error as Error);
    }
    return deleted;
  }

  #report(error: Error): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#onError(error);
  }
}

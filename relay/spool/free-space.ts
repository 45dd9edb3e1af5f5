/*
 * relay/spool/free-space - refuse a message before writing it when the disk is nearly full.
 *
 * RFC 5321 §6.1 forbids losing accepted mail "because of a predictable resource shortage",
 * so the spool says 452 early instead of failing after 250. Free space comes from statfs
 * (blocks available to unprivileged users), sampled at most once per second; bytes of
 * writes in flight, and of writes finished since the sample, are subtracted so a burst
 * cannot overrun the margin between two samples.
 */
import fs from 'node:fs/promises';
import { SpoolFullError } from './errors.ts';

export const FREE_SPACE_SAMPLE_MS = 1000;

export type StatfsFn = (dir: string) => Promise<{ bavail: number; bsize: number }>;

/** FreeSpaceGuard - reserve bytes for a write, or throw SpoolFullError. */
export class FreeSpaceGuard {
  readonly #dir: string;
  #minFreeBytes: number;
  readonly #statfs: StatfsFn;
  #sampleAt = -Infinity;
  #sampleFree = 0;
  #sampling: Promise<number> | null = null;
  #inFlight = 0;
  #writtenSinceSample = 0;

  constructor(dir: string, minFreeBytes: number, statfs: StatfsFn = (d) => fs.statfs(d)) {
    this.#dir = dir;
    this.#minFreeBytes = minFreeBytes;
    this.#statfs = statfs;
  }

  /** The reserve commits may not eat into (bytes). */
  get minFreeBytes(): number {
    return this.#minFreeBytes;
  }

  /** setMinFreeBytes - a new reserve (a config reload); applies to the next reservation. */
  setMinFreeBytes(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`minFreeBytes must be a whole number of bytes >= 0, got ${bytes}`);
    this.#minFreeBytes = bytes;
  }

  /**
   * reserve - count `bytes` as in flight, or throw SpoolFullError. `intoReserve` lets a write
   * use the reserve itself (it still needs the bytes): the hub's own DSNs, which must not be
   * refused for the same reason clients are (Postfix applies queue_minfree to smtpd only).
   */
  async reserve(bytes: number, intoReserve = false): Promise<void> {
    const sampled = await this.#freeBytes();
    const free = sampled - this.#inFlight - this.#writtenSinceSample;
    const keep = intoReserve ? 0 : this.#minFreeBytes;
    if (free - bytes < keep) throw new SpoolFullError(Math.max(0, free), bytes, keep);
    this.#inFlight += bytes;
  }

  /** release - the write of `bytes` ended; `kept` says whether they stay on disk. */
  release(bytes: number, kept: boolean): void {
    this.#inFlight -= bytes;
    if (kept) this.#writtenSinceSample += bytes;
  }

  async #freeBytes(): Promise<number> {
    if (performance.now() - this.#sampleAt < FREE_SPACE_SAMPLE_MS) return this.#sampleFree;
    this.#sampling ??= this.#statfs(this.#dir)
      .then((s) => {
        this.#sampleAt = performance.now();
        this.#sampleFree = s.bavail * s.bsize;
        this.#writtenSinceSample = 0;
        return this.#sampleFree;
      })
      .finally(() => {
        this.#sampling = null;
      });
    return this.#sampling;
  }
}

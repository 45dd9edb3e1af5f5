/*
 * relay/spool/body-spill - a message body written to disk while it arrives, before it is a message.
 *
 * JOB       A session keeps a small body in memory and hands it to commitMessage; past a
 *           threshold it writes the body here instead (relay/session/data-sink.ts), so the
 *           memory a session holds is bounded whatever the client sends. A spill is a plain
 *           file in tmp/ (`spill-<random>`): not a queue file, not fsynced, never acknowledged.
 *           commitMessage(..., { spill }) copies it into a queue file that is fdatasynced and
 *           renamed into incoming/ (directory fsynced) before it resolves, so the 250 rule is
 *           the same as for a message in the commit log; the caller then discards the spill.
 * RECOVERY  A spill never outlives its process: anything left in tmp/ is deleted at start
 *           (recovery.ts, `tornWriteDiscarded`); nobody got a 250 for it.
 * SPACE     Every write reserves its bytes with the spool's FreeSpaceGuard first, so the
 *           spills of unfinished sessions cannot eat the reserve (SpoolFullError, 452 4.3.1).
 * FAILURES  write() rejects with the error of the reservation or of the write; the spill is
 *           then unusable and the caller discards it. discard() never throws.
 */
import fs from 'node:fs/promises';
import type { FreeSpaceGuard } from './free-space.ts';

/** Prefix of spill file names in tmp/ (queue files being written there are named by queue id). */
export const SPILL_PREFIX = 'spill-';

/** BodySpill - see the manual above; made by Spool.createBodySpill. */
export class BodySpill {
  readonly file: string;
  readonly #space: FreeSpaceGuard;
  #handle: Promise<fs.FileHandle> | null = null;
  #bytes = 0;
  /** The write in progress: writes are sequential, discard waits for it. */
  #writing: Promise<void> = Promise.resolve();
  #discarded = false;
  #discarding: Promise<void> | null = null;

  constructor(file: string, space: FreeSpaceGuard) {
    this.file = file;
    this.#space = space;
  }

  /** Bytes written so far (the body length the spill contributes). */
  get bytes(): number {
    return this.#bytes;
  }

  get discarded(): boolean {
    return this.#discarded;
  }

  /** write - append `buffers` (after the previous write); resolves when the kernel has them. */
  write(buffers: readonly Buffer[]): Promise<void> {
    const next = this.#writing.then(() => this.#append(buffers));
    // a failed write makes the spill unusable; later writes and discard must not see its rejection
    this.#writing = next.catch(() => {});
    return next;
  }

  async #append(buffers: readonly Buffer[]): Promise<void> {
    if (this.#discarded) throw new Error('body spill discarded');
    let bytes = 0;
    for (const b of buffers) bytes += b.length;
    if (bytes === 0) return;
    await this.#space.reserve(bytes);
    let kept = false;
    try {
      // read back at commit (the copy into the queue file), hence + (O_RDWR)
      this.#handle ??= fs.open(this.file, 'wx+', 0o600);
      const handle = await this.#handle;
      const { bytesWritten } = await handle.writev(buffers as Buffer[], this.#bytes);
      if (bytesWritten !== bytes) throw new Error(`short write to ${this.file}: ${bytesWritten} of ${bytes} bytes`);
      this.#bytes += bytes;
      kept = true;
    } finally {
      this.#space.release(bytes, kept);
    }
  }

  /** read - up to buffer.length bytes at `position`, after every write issued before. */
  async read(buffer: Buffer, position: number): Promise<number> {
    await this.#writing;
    if (this.#discarded || this.#handle === null) throw new Error('body spill has no file to read');
    const handle = await this.#handle;
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, this.#bytes - position), position);
    return bytesRead;
  }

  /** discard - close and delete the file (after a write in progress); idempotent (every caller waits for the deletion), never throws. */
  discard(): Promise<void> {
    this.#discarding ??= this.#delete();
    return this.#discarding;
  }

  async #delete(): Promise<void> {
    this.#discarded = true;
    await this.#writing;
    const handle = this.#handle;
    this.#handle = null;
    if (handle === null) return;
    await handle.then((h) => h.close()).catch(() => {});
    await fs.rm(this.file, { force: true }).catch(() => {});
  }
}

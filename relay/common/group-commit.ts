/*
 * relay/common/group-commit - directory fsyncs shared by concurrent commits.
 *
 * A rename is durable only once its directory is fsynced. Each commit renames its own file,
 * then calls sync(); callers that arrive while a directory fsync is running wait for the
 * next one, which then covers all of them. The invariant (LevelDB/RocksDB group commit):
 * a caller is acked only by an fsync that STARTED after its sync() call, hence after its
 * rename. windowMs > 0 delays each fsync to gather more callers; with 0 the syncer still
 * yields one event-loop turn (setImmediate) so renames completing together share a batch.
 *
 * Failure: if the fsync fails, every caller of that batch is rejected with the error and
 * nobody is acked (fsyncgate: never retry-and-ack); the next batch issues a fresh fsync.
 */
import { setImmediate as yieldTurn, setTimeout as sleep } from 'node:timers/promises';
import type { FileHandle } from 'node:fs/promises';

export interface DirSyncReport {
  waiters: number;
  durationMs: number;
}

/** DirectorySyncer - batches fsync of one open directory handle. */
export class DirectorySyncer {
  readonly #handle: Pick<FileHandle, 'sync'>;
  readonly #windowMs: number;
  readonly #onSynced: (report: DirSyncReport) => void;
  #pending: PromiseWithResolvers<void> | null = null;
  #pendingWaiters = 0;
  #running = false;

  constructor(handle: Pick<FileHandle, 'sync'>, windowMs: number, onSynced: (report: DirSyncReport) => void = () => {}) {
    this.#handle = handle;
    this.#windowMs = windowMs;
    this.#onSynced = onSynced;
  }

  /** sync - resolves after a directory fsync that began after this call. */
  sync(): Promise<void> {
    this.#pending ??= Promise.withResolvers<void>();
    this.#pendingWaiters += 1;
    const { promise } = this.#pending;
    if (!this.#running) void this.#run();
    return promise;
  }

  /** idle - true when no fsync is running or waiting to run. */
  get idle(): boolean {
    return !this.#running && this.#pending === null;
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#pending !== null) {
        if (this.#windowMs > 0) await sleep(this.#windowMs);
        else await yieldTurn();
        const batch = this.#pending;
        const waiters = this.#pendingWaiters;
        this.#pending = null; // from here on, new callers wait for the next fsync
        this.#pendingWaiters = 0;
        const started = performance.now();
        try {
          await this.#handle.sync();
          this.#onSynced({ waiters, durationMs: performance.now() - started });
          batch.resolve();
        } catch (err) {
          batch.reject(err);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}

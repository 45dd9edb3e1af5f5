/*
 * relay/spool/delivery-state - per-recipient delivery state and retry schedule, on disk.
 *
 * JOB       The spool's message file is immutable, so what changes between attempts (which
 *           recipients are done, the last reply for each, whether the sender was told of a
 *           delay, the attempt count, the next attempt time) lives in a small JSON sidecar, one
 *           per queued message: `<spool>/delivery-state/<id>.json`. It sits beside the state
 *           directories, not in them, because spool recovery quarantines any file in a state
 *           directory that is not a message. The sidecar follows its message through every
 *           state unchanged. Fields added later are optional, so older sidecars stay valid.
 * DURABILITY  write `<id>.json.<random>.tmp` -> fdatasync -> rename over `<id>.json` ->
 *           fsync the directory (batched, group-commit.ts) -> resolve. A reader sees the old
 *           or the new state, never a torn one. Order with the message file: the sidecar is
 *           written before the message moves to deferred/, and removed after the message is
 *           removed; an orphan sidecar (crash in between) is deleted by `prune` at start.
 * FAILURES  QueueStateWriteError on any write/rename/fsync error (the message stays where it
 *           was); an unreadable or invalid sidecar reads as `{ ok: false, reason }` and the
 *           caller starts the message over (a duplicate at worst, never a loss).
 * OWNER     The spool writes all queue data; the queue manager decides what this store
 *           holds through the DeliveryStates interface (relay/queue/queue-store.ts).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeSyncedFile } from '../common/durable-file.ts';
import { DirectorySyncer } from '../common/group-commit.ts';
import { isSpoolMessageId } from './message-id.ts';
import { RECIPIENT_STATUSES, type RecipientDeliveryState } from '../delivery/job.ts';
import { QueueArgumentError, QueueStateWriteError } from '../queue/errors.ts';
import type { DeliveryStateRead, DeliveryStates, MessageDeliveryState } from '../queue/queue-store.ts';

export const DELIVERY_STATE_DIR = 'delivery-state';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

function checkRecipient(value: unknown): value is RecipientDeliveryState {
  if (!isRecord(value)) return false;
  if (typeof value.address !== 'string' || !(RECIPIENT_STATUSES as readonly unknown[]).includes(value.status)) return false;
  if (!Number.isSafeInteger(value.attempts) || (value.attempts as number) < 0) return false;
  if (value.lastAttemptAt !== undefined && !isTime(value.lastAttemptAt)) return false;
  if (value.delayNotified !== undefined && typeof value.delayNotified !== 'boolean') return false;
  return ['dsnStatus', 'reply', 'remoteMta'].every((k) => value[k] === undefined || typeof value[k] === 'string');
}

/** checkDeliveryState - '' when the parsed value is a valid state for message `id`, else why not. */
export function checkDeliveryState(value: unknown, id: string): string {
  if (!isRecord(value) || value.version !== 1) return 'not a version 1 delivery state';
  if (value.id !== id) return `belongs to ${String(value.id)}`;
  if (!Number.isSafeInteger(value.attempts) || (value.attempts as number) < 0) return 'attempts is not a count';
  if (!isTime(value.firstAttemptAt) || !isTime(value.lastAttemptAt)) return 'attempt times are not times';
  if (value.nextAttemptAt !== null && !isTime(value.nextAttemptAt)) return 'nextAttemptAt is not a time';
  if (!Array.isArray(value.recipients) || !value.recipients.every(checkRecipient)) return 'recipients are malformed';
  return '';
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/** DeliveryStateStore - the sidecar directory of one spool. Create with open(). */
export class DeliveryStateStore implements DeliveryStates {
  readonly #dir: string;
  readonly #handle: fs.FileHandle;
  readonly #syncer: DirectorySyncer;
  /** Ids that have a state file: most messages never get one (delivered at the first attempt),
   *  so read and remove answer from memory instead of asking the disk. One process per spool. */
  readonly #known: Set<string>;
  #closed = false;

  private constructor(dir: string, handle: fs.FileHandle, known: Set<string>) {
    this.#dir = dir;
    this.#handle = handle;
    this.#syncer = new DirectorySyncer(handle, 0);
    this.#known = known;
  }

  /** open - create `<spoolRoot>/delivery-state/` and delete temp files left by a crash. */
  static async open(spoolRoot: string): Promise<DeliveryStateStore> {
    const dir = path.join(spoolRoot, DELIVERY_STATE_DIR);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const known = new Set<string>();
    for (const name of await fs.readdir(dir)) {
      if (name.endsWith('.tmp')) await fs.rm(path.join(dir, name), { force: true });
      else if (name.endsWith('.json')) known.add(name.slice(0, -5));
    }
    return new DeliveryStateStore(dir, await fs.open(dir, 'r'), known);
  }

  get directory(): string {
    return this.#dir;
  }

  #file(id: string): string {
    if (!isSpoolMessageId(id)) throw new QueueArgumentError(`message id must be a queue id, got ${JSON.stringify(id)}`);
    return path.join(this.#dir, `${id}.json`);
  }

  /** read - the state of message `id`; `{ ok: true, state: null }` when it has none yet. */
  async read(id: string): Promise<DeliveryStateRead> {
    const file = this.#file(id);
    if (!this.#known.has(id)) return { ok: true, state: null };
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return { ok: true, state: null };
      return { ok: false, reason: (err as Error).message };
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return { ok: false, reason: `not JSON: ${(err as Error).message}` };
    }
    const reason = checkDeliveryState(value, id);
    return reason === '' ? { ok: true, state: value as MessageDeliveryState } : { ok: false, reason };
  }

  /** write - replace the state of a message durably (atomic rename, then directory fsync). */
  async write(state: MessageDeliveryState): Promise<void> {
    const file = this.#file(state.id);
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    const data = Buffer.from(`${JSON.stringify(state)}\n`);
    try {
      await writeSyncedFile(tmp, [data], data.length);
      await fs.rename(tmp, file);
      this.#known.add(state.id);
      await this.#syncer.sync();
    } catch (err) {
      await fs.rm(tmp, { force: true }).catch(() => {});
      throw new QueueStateWriteError(`${state.id}: delivery state write failed: ${(err as Error).message}`, err);
    }
  }

  /** remove - delete the state of a finished message; absent is fine. */
  async remove(id: string): Promise<void> {
    const file = this.#file(id);
    if (!this.#known.has(id)) return;
    try {
      await fs.rm(file, { force: true });
      this.#known.delete(id);
      await this.#syncer.sync();
    } catch (err) {
      throw new QueueStateWriteError(`${id}: delivery state removal failed: ${(err as Error).message}`, err);
    }
  }

  /** prune - delete states whose message is no longer queued (crash after removal); returns them. */
  async prune(queued: ReadonlySet<string>): Promise<string[]> {
    const orphans: string[] = [];
    for (const name of await fs.readdir(this.#dir)) {
      const id = name.endsWith('.json') ? name.slice(0, -5) : '';
      if (isSpoolMessageId(id) && !queued.has(id)) orphans.push(id);
    }
    for (const id of orphans) {
      await fs.rm(this.#file(id), { force: true });
      this.#known.delete(id);
    }
    if (orphans.length > 0) await this.#syncer.sync();
    return orphans;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.close();
  }
}

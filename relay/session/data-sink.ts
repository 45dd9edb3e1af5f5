/*
 * relay/session/data-sink - where a session's DATA goes while it arrives: bounded memory.
 *
 * JOB       The body (what the data normalizer hands out after the header block) is kept in
 *           memory up to a small per-session threshold, which is all a typical message needs
 *           (it then goes to the commit log with group commit, as before). Past the threshold
 *           the body goes to a spill file in the spool's tmp/ (relay/spool/body-spill.ts) as
 *           it arrives, and the spool commits it as a queue file. A session therefore holds at
 *           most the threshold plus one batch being written, whatever the client sends and
 *           whatever its size limit (BypassMessageSizeLimit and maxMessageSize 0 included).
 * BUDGET    Every DATA byte a session holds in memory (the header block, the in-memory body,
 *           batches queued for or being written to the spill) is counted in the hub's
 *           DataMemoryBudget, one per spool (so per hub). A session whose next bytes would take
 *           the hub over its limit (RelayHub spec.queue.maxDataMemory, rendered as
 *           hub.spool.maxDataMemoryBytes) stops keeping its message, gives its memory back and gets
 *           451 4.3.1 after the final dot: memory is refused like disk space (452 4.3.1), and
 *           the client retries later. The limit is read at each DATA, so a reload applies.
 * FLOW      write() returns a promise when the caller should stop reading (pause the data
 *           stream) until it resolves: the spill writes are slower than the socket, and
 *           without backpressure the queue of batches would be the unbounded buffer again.
 * FAILURES  failure says why the message cannot be kept (memory budget, spool full, spool
 *           write error); release() must be called once the message is committed or refused,
 *           or the session ends, whatever happened: it gives the budget back and deletes the spill.
 */
import type { BodySpill, Spool } from '../spool/spool.ts';

/** Body bytes a session keeps in memory before it spills to disk. */
export const SESSION_MEMORY_THRESHOLD = 128 * 1024;
/** Bytes queued for the spill while a write runs before the caller is asked to pause. */
const SPILL_QUEUE_BYTES = 64 * 1024;

/** DataMemoryBudget - DATA bytes held in memory by all sessions of one hub. */
export class DataMemoryBudget {
  #used = 0;

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /** take - count `bytes`, or false (nothing counted) when that would exceed `limit`. */
  take(bytes: number, limit: number): boolean {
    if (bytes > 0 && this.#used + bytes > limit) return false;
    this.#used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#used -= bytes;
  }
}

const budgets = new WeakMap<Spool, DataMemoryBudget>();

/** dataMemoryBudget - the budget of the hub that owns this spool (one spool per hub). */
export function dataMemoryBudget(spool: Spool): DataMemoryBudget {
  let budget = budgets.get(spool);
  if (budget === undefined) {
    budget = new DataMemoryBudget();
    budgets.set(spool, budget);
  }
  return budget;
}

export type DataSinkFailure =
  | { kind: 'memory'; heldBytes: number; limitBytes: number }
  | { kind: 'spool'; error: Error };

export interface DataSinkOptions {
  spool: Pick<Spool, 'createBodySpill'>;
  budget: DataMemoryBudget;
  /** The hub's limit for the budget (bytes). */
  maxMemoryBytes: number;
  /** Body bytes kept in memory before spilling; default SESSION_MEMORY_THRESHOLD. */
  memoryThreshold?: number;
}

/** The body of a finished DATA: memory chunks, then (if any) the spill's bytes. */
export interface SunkBody {
  memory: Buffer[];
  spill: BodySpill | null;
  bytes: number;
}

/** DataSink - see the manual above; one per DATA. */
export class DataSink {
  readonly #o: Required<DataSinkOptions>;
  /** Bytes counted in the budget by this sink. */
  #held = 0;
  #headerBytes = 0;
  #memory: Buffer[] = [];
  #bodyBytes = 0;
  #spill: BodySpill | null = null;
  #queue: Buffer[] = [];
  #queueBytes = 0;
  #writing: Promise<void> | null = null;
  #failure: DataSinkFailure | null = null;
  /** Nothing more is kept (over the size limit, failed, or released). */
  #dropped = false;

  constructor(options: DataSinkOptions) {
    this.#o = { memoryThreshold: SESSION_MEMORY_THRESHOLD, ...options };
  }

  get failure(): DataSinkFailure | null {
    return this.#failure;
  }

  /** Whether the body went to a spill file. */
  get spilled(): boolean {
    return this.#spill !== null;
  }

  /** Body bytes kept. */
  get bodyBytes(): number {
    return this.#bodyBytes;
  }

  /** headerBytes - the header block held (by the normalizer, then as the finished block) is now `bytes`. */
  headerBytes(bytes: number): void {
    if (this.#dropped || bytes === this.#headerBytes) return;
    if (!this.#take(bytes - this.#headerBytes)) return;
    this.#headerBytes = bytes;
  }

  /** write - keep a body chunk; a promise means: read no more until it resolves. */
  write(chunk: Buffer): Promise<void> | null {
    if (this.#dropped || chunk.length === 0) return null;
    if (!this.#take(chunk.length)) return null;
    this.#bodyBytes += chunk.length;
    // with half the hub's budget in use, bodies spill from their first byte: what is left is
    // for header blocks and spill batches, so that 451 stays the last resort
    if (this.#spill === null && this.#bodyBytes <= this.#o.memoryThreshold && this.#o.budget.used <= this.#o.maxMemoryBytes / 2) {
      this.#memory.push(chunk);
      return null;
    }
    if (this.#spill === null) {
      try {
        this.#spill = this.#o.spool.createBodySpill();
      } catch (error) {
        this.#fail({ kind: 'spool', error: error as Error });
        return null;
      }
      // what was kept in memory goes first, and leaves memory with this first batch
      this.#queue = this.#memory;
      this.#queueBytes = this.#bodyBytes - chunk.length;
      this.#memory = [];
    }
    this.#queue.push(chunk);
    this.#queueBytes += chunk.length;
    this.#pump();
    return this.#queueBytes >= SPILL_QUEUE_BYTES && this.#writing ? this.#writing : null;
  }

  /** drop - keep nothing more and give everything back (the message is refused anyway, e.g. over its size limit). */
  drop(): void {
    if (this.#dropped) return;
    this.#dropped = true;
    this.#memory = [];
    this.#queue = [];
    this.#giveAll();
    void this.#spill?.discard();
  }

  /** finish - after the last write: the body, once every spill write is done; throws nothing, check failure. */
  async finish(): Promise<SunkBody> {
    while (this.#writing !== null) await this.#writing;
    return { memory: this.#memory, spill: this.#dropped ? null : this.#spill, bytes: this.#bodyBytes };
  }

  /** release - the message is committed or refused, or the session ended: memory back, spill deleted. */
  async release(): Promise<void> {
    this.#dropped = true;
    this.#memory = [];
    this.#queue = [];
    this.#giveAll();
    await this.#spill?.discard();
  }

  #take(bytes: number): boolean {
    if (bytes <= 0) {
      this.#give(-bytes);
      return true;
    }
    if (this.#o.budget.take(bytes, this.#o.maxMemoryBytes)) {
      this.#held += bytes;
      return true;
    }
    this.#fail({ kind: 'memory', heldBytes: this.#o.budget.used, limitBytes: this.#o.maxMemoryBytes });
    return false;
  }

  #give(bytes: number): void {
    const back = Math.min(bytes, this.#held);
    this.#held -= back;
    this.#o.budget.give(back);
  }

  #giveAll(): void {
    this.#o.budget.give(this.#held);
    this.#held = 0;
  }

  #fail(failure: DataSinkFailure): void {
    this.#failure ??= failure;
    this.drop();
  }

  #pump(): void {
    if (this.#writing !== null || this.#queue.length === 0 || this.#dropped || this.#spill === null) return;
    const batch = this.#queue;
    const bytes = this.#queueBytes;
    this.#queue = [];
    this.#queueBytes = 0;
    this.#writing = this.#spill.write(batch).then(
      () => this.#give(bytes),
      (error: unknown) => this.#fail({ kind: 'spool', error: error as Error }),
    ).finally(() => {
      this.#writing = null;
      this.#pump();
    });
  }
}

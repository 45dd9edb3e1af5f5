/*
 * relay/session/password-worker - bcrypt off the event loop: a small fixed pool of worker
 * threads with a bounded queue.
 *
 * Job: verify(password, hash, key) answers 'match' or 'mismatch' from a worker thread
 * (password-worker-thread.ts), or 'busy' at once when the hub has no room for it. bcrypt on the
 * main thread (about 65 ms per check at cost 10) let 20 guessing connections stall every other
 * session of the hub for a second (issue 17, item 10); here a guess costs the event loop one
 * postMessage.
 * Bounds, all fixed per process: `workers` threads (default 2, so bcrypt never takes more than
 * two cores whatever the load), at most `maxQueued` checks waiting (default 32) and at most
 * `maxPerKey` checks waiting or running per key (default 2; the key is the client's source, so
 * one address with many connections cannot fill the queue in front of everybody else). Checks
 * marked `low` (from a source that failed a logon lately) wait behind all others, so a client
 * that types its password right is not queued behind the guesses of many addresses. Past a
 * bound the answer is 'busy', which the session answers `454 4.7.0 Temporary authentication
 * failure` without counting a logon failure: the password was never looked at.
 * Failure modes: a worker that dies answers its check 'busy' and is replaced on the next
 * check. Idle workers are unref'd, so the pool never keeps a process alive by itself.
 */
import { Worker } from 'node:worker_threads';
import type { VerifyRequest, VerifyResponse } from './password-worker-thread.ts';

export type VerifyOutcome = 'match' | 'mismatch' | 'busy';

export interface PasswordPoolOptions {
  /** Worker threads; default 2. */
  workers?: number;
  /** Checks that may wait for a worker; default 32. */
  maxQueued?: number;
  /** Checks one key may have waiting or running; default 2; 0 = no per-key bound. */
  maxPerKey?: number;
}

export const PASSWORD_POOL_DEFAULTS = { workers: 2, maxQueued: 32, maxPerKey: 2 } as const;

export interface VerifyOptions {
  /** Serve after every check not so marked (a source with recent failures). */
  low?: boolean;
}

interface Task {
  password: string;
  hash: string;
  key: string | undefined;
  resolve: (outcome: VerifyOutcome) => void;
}

interface Slot {
  worker: Worker;
  task: Task | null;
  id: number;
}

export class PasswordPool {
  readonly #options: Required<PasswordPoolOptions>;
  readonly #slots: Array<Slot | null>;
  readonly #queue: Task[] = [];
  readonly #lowQueue: Task[] = [];
  readonly #perKey = new Map<string, number>();
  #nextId = 1;
  #closed = false;

  constructor(options: PasswordPoolOptions = {}) {
    this.#options = { ...PASSWORD_POOL_DEFAULTS, ...options };
    if (!(this.#options.workers >= 1)) throw new RangeError('a password pool needs at least one worker');
    // Started now, not at the first check: a worker takes tens of milliseconds to load, which
    // would otherwise land on the first client to authenticate.
    this.#slots = Array.from({ length: this.#options.workers }, () => this.#spawn());
  }

  /** Checks waiting for a worker (not counting those running). */
  get queued(): number {
    return this.#queue.length + this.#lowQueue.length;
  }
  /** Checks running in a worker now. */
  get running(): number {
    return this.#slots.filter((s) => s?.task).length;
  }

  /**
   * verify - 'match' or 'mismatch' from a worker, or 'busy' at once when a bound is reached.
   * Without a key the per-key bound does not apply.
   */
  verify(password: string, hash: string, key?: string, options: VerifyOptions = {}): Promise<VerifyOutcome> {
    if (this.#closed) return Promise.resolve('busy');
    const o = this.#options;
    const held = key === undefined ? 0 : (this.#perKey.get(key) ?? 0);
    if (key !== undefined && o.maxPerKey > 0 && held >= o.maxPerKey) return Promise.resolve('busy');
    const idle = this.#idleSlot();
    if (idle === null && this.queued >= o.maxQueued) return Promise.resolve('busy');
    if (key !== undefined) this.#perKey.set(key, held + 1);
    return new Promise<VerifyOutcome>((resolve) => {
      const task: Task = { password, hash, key, resolve };
      if (idle !== null) this.#run(idle, task);
      else (options.low ? this.#lowQueue : this.#queue).push(task);
    });
  }

  /** close - end the workers; checks still waiting or running answer 'busy'. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const task of [...this.#queue.splice(0), ...this.#lowQueue.splice(0)]) this.#finish(task, 'busy');
    await Promise.all(
      this.#slots.map(async (slot, index) => {
        if (!slot) return;
        this.#slots[index] = null;
        if (slot.task) this.#finish(slot.task, 'busy');
        await slot.worker.terminate();
      }),
    );
  }

  #spawn(): Slot {
    const worker = new Worker(new URL('./password-worker-thread.ts', import.meta.url));
    const slot: Slot = { worker, task: null, id: 0 };
    worker.unref();
    // Again once running: an unref() before the thread is online does not hold for its port.
    worker.once('online', () => {
      if (!slot.task) worker.unref();
    });
    worker.on('message', (response: VerifyResponse) => {
      const task = slot.task;
      if (!task || response.id !== slot.id) return;
      slot.task = null;
      worker.unref();
      this.#finish(task, response.match ? 'match' : 'mismatch');
      this.#next(slot);
    });
    const died = (): void => {
      const index = this.#slots.indexOf(slot);
      if (index >= 0) this.#slots[index] = null;
      const task = slot.task;
      slot.task = null;
      if (task) this.#finish(task, 'busy');
      // The queue moves on with a fresh worker rather than waiting for the next check.
      if (!this.#closed && index >= 0 && this.queued > 0) {
        const fresh = this.#spawn();
        this.#slots[index] = fresh;
        this.#next(fresh);
      }
    };
    worker.on('error', died);
    worker.on('exit', died);
    return slot;
  }

  #idleSlot(): Slot | null {
    for (let i = 0; i < this.#slots.length; i++) {
      let slot = this.#slots[i];
      if (slot === null) this.#slots[i] = slot = this.#spawn();
      if (slot && !slot.task) return slot;
    }
    return null;
  }

  #run(slot: Slot, task: Task): void {
    slot.task = task;
    slot.id = this.#nextId++;
    // Referenced while busy: a check in flight keeps the process alive until it is answered.
    slot.worker.ref();
    const request: VerifyRequest = { id: slot.id, password: task.password, hash: task.hash };
    slot.worker.postMessage(request);
  }

  #next(slot: Slot): void {
    const task = this.#queue.shift() ?? this.#lowQueue.shift();
    if (task) this.#run(slot, task);
  }

  #finish(task: Task, outcome: VerifyOutcome): void {
    if (task.key !== undefined) {
      const left = (this.#perKey.get(task.key) ?? 1) - 1;
      if (left > 0) this.#perKey.set(task.key, left);
      else this.#perKey.delete(task.key);
    }
    task.resolve(outcome);
  }
}

let shared: PasswordPool | null = null;

/** The process's pool, made at the first AUTH: every hub and connector in a process shares its cores. */
export function sharedPasswordPool(): PasswordPool {
  shared ??= new PasswordPool();
  return shared;
}

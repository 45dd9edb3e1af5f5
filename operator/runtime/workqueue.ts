/*
 * operator/runtime/workqueue - the de-duplicating, rate-limited queue of `namespace/name` keys
 * between informer handlers and reconcile workers (client-go's workqueue semantics).
 *
 * A key lives in at most one of: queued (dirty, waiting for a worker), processing, or both
 * dirty and processing (re-added while a worker holds it: it runs again after done(), never
 * concurrently). Adds of a queued key coalesce. addAfter keeps the earliest pending time per
 * key; addRateLimited asks the rate limiter (default: client-go's controller limiter) how long.
 * After shutdown() get() resolves undefined at once and adds are dropped; keys still queued are
 * abandoned (the next leader relists and reconciles everything anyway).
 * Metrics: workqueue_* {name, controller} as controller-runtime names them.
 */
import { defaultRegistry, workqueueMetrics, type Registry, type WorkqueueMetrics } from './metrics.ts';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.ts';

export interface WorkQueueOptions {
  /** Queue name, the `name` label of the workqueue_* metrics. */
  name: string;
  /** The `controller` label; defaults to name. */
  controller?: string;
  rateLimiter?: RateLimiter;
  registry?: Registry;
  /** How often workqueue_unfinished_work_seconds and _longest_running_ are refreshed (500 ms). */
  metricsIntervalMs?: number;
}

export class WorkQueue {
  readonly name: string;
  readonly #labels: { name: string; controller: string };
  readonly #limiter: RateLimiter;
  readonly #metrics: WorkqueueMetrics;
  #items: string[] = [];
  #head = 0;
  readonly #dirty = new Set<string>();
  readonly #processing = new Map<string, number>();
  readonly #addedAt = new Map<string, number>();
  readonly #waiters: Array<(key: string | undefined) => void> = [];
  readonly #delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #metricsTimer: NodeJS.Timeout;
  #shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.#labels = { name: options.name, controller: options.controller ?? options.name };
    this.#limiter = options.rateLimiter ?? defaultControllerRateLimiter();
    this.#metrics = workqueueMetrics(options.registry ?? defaultRegistry);
    this.#metrics.depth.set(this.#labels, 0);
    this.#metrics.adds.inc(this.#labels, 0);
    this.#metrics.retries.inc(this.#labels, 0);
    this.#metricsTimer = setInterval(() => this.#updateRunningMetrics(), options.metricsIntervalMs ?? 500);
    this.#metricsTimer.unref();
  }

  /** add - queue the key unless it is already queued; a key being processed runs again after done(). */
  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#metrics.adds.inc(this.#labels);
    this.#dirty.add(key);
    this.#addedAt.set(key, performance.now());
    this.#metrics.depth.set(this.#labels, this.#dirty.size);
    if (this.#processing.has(key)) return;
    this.#items.push(key);
    this.#dispatch();
  }

  /** addAfter - add the key once ms have passed; of several pending times the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const at = performance.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { at, timer });
  }

  /** addRateLimited - add the key after the rate limiter's delay for it (one more retry). */
  addRateLimited(key: string): void {
    if (this.#shuttingDown) return;
    this.#metrics.retries.inc(this.#labels);
    this.addAfter(key, this.#limiter.when(key));
  }

  /** forget - the key succeeded (or failed for good): clear its backoff history. */
  forget(key: string): void {
    this.#limiter.forget(key);
  }

  /** numRequeues - rate-limited retries of the key since its last forget. */
  numRequeues(key: string): number {
    return this.#limiter.retries(key);
  }

  /** get - the next key to process (marked processing until done), or undefined after shutdown. */
  get(): Promise<string | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    if (this.#head < this.#items.length) return Promise.resolve(this.#take());
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** done - processing of the key finished; if it was re-added meanwhile it is queued again. */
  done(key: string): void {
    const started = this.#processing.get(key);
    if (started === undefined) return;
    this.#processing.delete(key);
    this.#metrics.workDuration.observe(this.#labels, (performance.now() - started) / 1000);
    if (this.#dirty.has(key) && !this.#shuttingDown) {
      this.#items.push(key);
      this.#dispatch();
    }
  }

  /** len - keys waiting for a worker (not counting keys being processed). */
  len(): number {
    return this.#items.length - this.#head;
  }

  /** processing - keys held by workers right now. */
  processing(): string[] {
    return [...this.#processing.keys()];
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** shutdown - stop handing out keys: waiting and later get() calls resolve undefined. */
  shutdown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    clearInterval(this.#metricsTimer);
    for (const resolve of this.#waiters.splice(0)) resolve(undefined);
  }

  #take(): string {
    const key = this.#items[this.#head] as string;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    const now = performance.now();
    this.#dirty.delete(key);
    this.#processing.set(key, now);
    this.#metrics.depth.set(this.#labels, this.#dirty.size);
    const added = this.#addedAt.get(key);
    this.#addedAt.delete(key);
    if (added !== undefined) this.#metrics.queueDuration.observe(this.#labels, (now - added) / 1000);
    return key;
  }

  #dispatch(): void {
    while (this.#waiters.length > 0 && this.#head < this.#items.length) {
      const resolve = this.#waiters.shift() as (key: string | undefined) => void;
      resolve(this.#take());
    }
  }

  #updateRunningMetrics(): void {
    const now = performance.now();
    let total = 0;
    let longest = 0;
    for (const started of this.#processing.values()) {
      total += now - started;
      longest = Math.max(longest, now - started);
    }
    this.#metrics.unfinishedWork.set(this.#labels, total / 1000);
    this.#metrics.longestRunning.set(this.#labels, longest / 1000);
  }
}

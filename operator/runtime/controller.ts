/*
 * operator/runtime/controller - workers that take keys from a WorkQueue and reconcile them.
 *
 * The reconciler gets a key (`namespace/name`), reads what it needs from informer caches,
 * makes the world match and returns; retry semantics live in the outcome (controller-runtime):
 *   return / resolve void        success: the key's backoff is forgotten
 *   resolve { requeueAfter: ms } success, look again after ms (external state to poll)
 *   throw TerminalError          recorded, not retried until the object changes or resyncs
 *   throw anything else          requeued with the queue's rate limiter (5 ms .. 1000 s)
 * At most maxConcurrentReconciles keys run at once and one key never runs twice at a time.
 * stop() shuts the queue down and waits for running reconciles to finish.
 * Metrics: controller_runtime_* {controller}; diagnostics: relay:runtime:reconciled.
 */
import { TerminalError, requirePositive } from './errors.ts';
import { controllerMetrics, defaultRegistry, type ControllerMetrics, type Registry } from './metrics.ts';
import { publish, reconciledChannel, type ReconciledMessage } from './diagnostics.ts';
import type { WorkQueue } from './workqueue.ts';

export { TerminalError } from './errors.ts';

export interface ReconcileResult {
  /** Reconcile the key again after this many ms (0 or absent: not again unless it changes). */
  requeueAfter?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

export interface ControllerOptions {
  name: string;
  queue: WorkQueue;
  reconcile: Reconciler;
  /** Workers, each reconciling one key at a time (default 1). */
  maxConcurrentReconciles?: number;
  registry?: Registry;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly #reconcile: Reconciler;
  readonly #workers: number;
  readonly #metrics: ControllerMetrics;
  #running: Promise<void>[] = [];
  #active = 0;

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.queue = options.queue;
    this.#reconcile = options.reconcile;
    this.#workers = requirePositive('maxConcurrentReconciles', options.maxConcurrentReconciles ?? 1, true);
    this.#metrics = controllerMetrics(options.registry ?? defaultRegistry);
    const labels = { controller: this.name };
    this.#metrics.maxConcurrent.set(labels, this.#workers);
    this.#metrics.activeWorkers.set(labels, 0);
    for (const result of ['success', 'error', 'requeue_after']) this.#metrics.reconcileTotal.inc({ controller: this.name, result }, 0);
    this.#metrics.reconcileErrors.inc(labels, 0);
    this.#metrics.terminalErrors.inc(labels, 0);
  }

  /** start - launch the workers; they run until stop() (or the queue shuts down). */
  start(): void {
    if (this.#running.length > 0) return;
    for (let i = 0; i < this.#workers; i++) this.#running.push(this.#worker());
  }

  /** stop - shut the queue down and wait for reconciles in flight. */
  async stop(): Promise<void> {
    this.queue.shutdown();
    await Promise.all(this.#running);
  }

  /** activeWorkers - reconciles running right now. */
  get activeWorkers(): number {
    return this.#active;
  }

  async #worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.#active++;
      this.#metrics.activeWorkers.set({ controller: this.name }, this.#active);
      try {
        await this.#reconcileOne(key);
      } finally {
        this.#active--;
        this.#metrics.activeWorkers.set({ controller: this.name }, this.#active);
        this.queue.done(key);
      }
    }
  }

  async #reconcileOne(key: string): Promise<void> {
    const started = performance.now();
    const message: ReconciledMessage = { controller: this.name, key, result: 'success', terminal: false, durationMs: 0 };
    try {
      const result = await this.#reconcile(key);
      const after = result?.requeueAfter ?? 0;
      this.queue.forget(key);
      if (after > 0) {
        message.result = 'requeue_after';
        this.queue.addAfter(key, after);
      }
    } catch (error) {
      message.result = 'error';
      message.error = error;
      this.#metrics.reconcileErrors.inc({ controller: this.name });
      if (error instanceof TerminalError) {
        message.terminal = true;
        this.#metrics.terminalErrors.inc({ controller: this.name });
        this.queue.forget(key);
      } else {
        this.queue.addRateLimited(key);
      }
    }
    message.durationMs = performance.now() - started;
    this.#metrics.reconcileTime.observe({ controller: this.name }, message.durationMs / 1000);
    this.#metrics.reconcileTotal.inc({ controller: this.name, result: message.result });
    publish(reconciledChannel, message);
  }
}

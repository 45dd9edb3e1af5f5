/*
 * operator/runtime/informer - a read cache of one resource path plus change notifications.
 *
 * Wraps a Reflector (list-and-watch) and calls each handler with the object whenever it is
 * added, changed, deleted (last known state) or resynced, without saying which: handlers only
 * enqueue keys (level-triggered); the reconciler reads the cache to learn the current state.
 * A resync re-delivers every cached object every resyncMs (default 10 min, +-10% jitter).
 * hasSynced() turns true after the first complete LIST; /readyz waits for it.
 * Objects returned by get/list are shared and deep-frozen: never mutate, structuredClone().
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { Reflector, type ReflectorOptions } from './reflector.ts';
import { objectKey, type KubeObject } from './objects.ts';
import { publish, reflectorChannel, type ReflectorMessage } from './diagnostics.ts';
import { RuntimeStoppedError, requirePositive } from './errors.ts';

export interface InformerOptions {
  kubeConfig: KubeConfig;
  /** Collection path; build it with resourcePath(). */
  path: string;
  labelSelector?: string;
  /** Re-deliver every cached object this often (default 600000 = 10 min). */
  resyncMs?: number;
  watchdogMs?: number;
  backoff?: ReflectorOptions<KubeObject>['backoff'];
  pageSize?: number;
  /** See ReflectorOptions.transform: applied before an object is cached. */
  transform?: ReflectorOptions<KubeObject>['transform'];
}

export type ChangeHandler<T> = (obj: T) => void;

/** resourcePath - the collection path of a resource; namespace omitted = all namespaces. */
export function resourcePath(resource: { group: string; version: string; plural: string; namespace?: string }): string {
  const base = resource.group === '' ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`;
  const ns = resource.namespace ? `/namespaces/${encodeURIComponent(resource.namespace)}` : '';
  return `${base}${ns}/${resource.plural}`;
}

export class Informer<T extends KubeObject> {
  readonly path: string;
  readonly #reflector: Reflector<T>;
  readonly #handlers = new Set<ChangeHandler<T>>();
  readonly #resyncMs: number;
  #synced = false;
  #resyncTimer: NodeJS.Timeout | undefined;
  #waiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];

  constructor(options: InformerOptions) {
    this.path = options.path;
    this.#resyncMs = requirePositive('resyncMs', options.resyncMs ?? 600_000);
    this.#reflector = new Reflector<T>({
      kubeConfig: options.kubeConfig,
      path: options.path,
      labelSelector: options.labelSelector,
      watchdogMs: options.watchdogMs,
      backoff: options.backoff,
      pageSize: options.pageSize,
      // the transform keeps the kind it is given (the informer's T) while dropping fields of it
      ...(options.transform ? { transform: ((transform) => (obj: T): T => transform(obj) as T)(options.transform) } : {}),
      onDelta: (_type, obj) => this.#deliver(obj),
      onSynced: () => this.#markSynced(),
    });
  }

  /** onChange - call handler for every add/update/delete/resync; returns an unsubscribe. */
  onChange(handler: ChangeHandler<T>): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /** start - begin list-and-watch; resolves after the first complete LIST. */
  start(): Promise<void> {
    const synced = this.waitForSync();
    this.#reflector.start();
    this.#scheduleResync();
    return synced;
  }

  /** stop - end the watch and resyncs; cache kept. Pending start()/waitForSync() reject. */
  stop(): void {
    this.#reflector.stop();
    clearTimeout(this.#resyncTimer);
    this.#resyncTimer = undefined;
    for (const w of this.#waiters.splice(0)) w.reject(new RuntimeStoppedError(`informer ${this.path} stopped before it synced`));
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  /** waitForSync - resolves once the first LIST is complete (at once if it is). */
  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** get - the cached object; namespace '' or undefined for cluster-scoped resources. */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.#reflector.store.get(namespace ? `${namespace}/${name}` : name);
  }

  getByKey(key: string): T | undefined {
    return this.#reflector.store.get(key);
  }

  /** list - cached objects, of one namespace when given. */
  list(namespace?: string): T[] {
    const all = [...this.#reflector.store.values()];
    return namespace === undefined ? all : all.filter((o) => (o.metadata?.namespace ?? '') === namespace);
  }

  keys(): string[] {
    return [...this.#reflector.store.keys()];
  }

  /** resync - re-deliver every cached object now (the timer does this every resyncMs). */
  resync(): void {
    if (!this.#synced) return;
    publish<ReflectorMessage>(reflectorChannel, { path: this.path, event: 'resync', count: this.#reflector.store.size });
    for (const obj of [...this.#reflector.store.values()]) this.#deliver(obj);
  }

  /** The last resourceVersion the reflector saw (opaque). */
  get resourceVersion(): string {
    return this.#reflector.resourceVersion;
  }

  /** interruptWatch - see Reflector.interruptWatch (cut the watch; tests). */
  interruptWatch(resumeFrom?: string): void {
    this.#reflector.interruptWatch(resumeFrom);
  }

  #deliver(obj: T): void {
    for (const handler of this.#handlers) {
      try {
        handler(obj);
      } catch (error) {
        publish<ReflectorMessage>(reflectorChannel, { path: this.path, event: 'handlerError', error, key: objectKey(obj) });
      }
    }
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    for (const w of this.#waiters.splice(0)) w.resolve();
  }

  #scheduleResync(): void {
    clearTimeout(this.#resyncTimer);
    const delay = this.#resyncMs * (0.9 + Math.random() * 0.2);
    this.#resyncTimer = setTimeout(() => {
      this.resync();
      this.#scheduleResync();
    }, delay);
    this.#resyncTimer.unref();
  }
}

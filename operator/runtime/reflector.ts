/*
 * operator/runtime/reflector - keeps a local copy of one resource path in step with the API
 * server by list-then-watch (client-go's Reflector, minus WatchList).
 *
 * Loop: LIST (paged, consistent read) -> diff against the store (add/update/delete deltas,
 * deletes for objects that vanished) -> WATCH from the list's resourceVersion with
 * allowWatchBookmarks and a random timeoutSeconds (300-600) -> on a normal close resume from
 * the last RV seen (events and bookmarks both advance it); on 410 Gone (HTTP status or an
 * ERROR event) relist; on any other error wait (1 s doubling to 30 s) and resume.
 * A watchdog ends a watch that delivered nothing, not even a bookmark, for watchdogMs
 * (default 150 s: kube-apiserver 1.36 sends the first bookmark ~120 s into a quiet watch, then
 * one a minute), which catches half-open connections. RVs are opaque strings, only echoed back.
 * client-node's Watch has its own 30 s inactivity timeout; we raise it past the watchdog.
 * Store values are deep-frozen JSON as the server sent it. Deltas go to one callback.
 */
import http from 'node:http';
import https from 'node:https';
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { deepFreeze, objectKey, type KubeObject } from './objects.ts';
import { publish, reflectorChannel, type ReflectorMessage } from './diagnostics.ts';
import { requirePositive } from './errors.ts';

export type DeltaType = 'add' | 'update' | 'delete';
type Outcome = 'closed' | 'gone' | 'stalled' | 'interrupted' | 'stopped';

export interface ReflectorOptions<T extends KubeObject> {
  kubeConfig: KubeConfig;
  /** Collection path: /api/v1/namespaces/NS/configmaps, /apis/GROUP/VERSION/PLURAL, ... */
  path: string;
  labelSelector?: string;
  /** End a watch that delivered nothing for this long (default 150000). */
  watchdogMs?: number;
  /** Reconnect backoff after errors: initialMs doubling to maxMs (default 1000 -> 30000). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** LIST page size (default 500). */
  pageSize?: number;
  /**
   * Applied to every object as it arrives (LIST item or watch event), before it is frozen and
   * stored: what it drops is never kept (client-go's TransformFunc). Must keep metadata.name,
   * namespace and resourceVersion, which the store and the relist diff read.
   */
  transform?: (obj: T) => T;
  onDelta: (type: DeltaType, obj: T) => void;
  onSynced?: () => void;
}

interface HttpError extends Error { statusCode?: number }
interface ListPage<T> { apiVersion?: string; kind?: string; metadata?: { resourceVersion?: string; continue?: string }; items?: T[] }

export class Reflector<T extends KubeObject> {
  readonly path: string;
  readonly #o: ReflectorOptions<T>;
  readonly #watchdogMs: number;
  readonly #store = new Map<string, T>();
  #rv = '';
  #running = false;
  #generation = 0;
  #endWatch: ((outcome: Outcome) => void) | undefined;
  #wake: (() => void) | undefined;

  constructor(options: ReflectorOptions<T>) {
    this.#o = options;
    this.path = options.path;
    this.#watchdogMs = requirePositive('watchdogMs', options.watchdogMs ?? 150_000);
  }

  get store(): ReadonlyMap<string, T> {
    return this.#store;
  }

  /** The last resourceVersion seen ('' before the first list and after 410 Gone). */
  get resourceVersion(): string {
    return this.#rv;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#run(++this.#generation);
  }

  /** stop - end the watch; the store and RV are kept, so start() resumes where it stopped. */
  stop(): void {
    this.#running = false;
    this.#generation++;
    this.#endWatch?.('stopped');
    this.#wake?.();
  }

  /**
   * interruptWatch - cut the current watch as a dropped connection would; the next watch
   * resumes from the last RV, or from resumeFrom when given (tests pass an expired RV to get
   * a real 410 Gone), or relists when resumeFrom is ''.
   */
  interruptWatch(resumeFrom?: string): void {
    if (resumeFrom !== undefined) this.#rv = resumeFrom;
    this.#endWatch?.('interrupted');
  }

  async #run(generation: number): Promise<void> {
    const initialMs = this.#o.backoff?.initialMs ?? 1000;
    const maxMs = this.#o.backoff?.maxMs ?? 30_000;
    let backoffMs = initialMs;
    while (this.#running && generation === this.#generation) {
      try {
        if (this.#rv === '') await this.#relist(generation);
        if (generation !== this.#generation) return;
        const outcome = await this.#watch();
        if (outcome === 'gone') {
          publish<ReflectorMessage>(reflectorChannel, { path: this.path, event: 'gone', resourceVersion: this.#rv });
          this.#rv = '';
        }
        backoffMs = initialMs;
      } catch (error) {
        publish<ReflectorMessage>(reflectorChannel, { path: this.path, event: this.#rv === '' ? 'listError' : 'watchError', error, retryInMs: backoffMs });
        await this.#sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, maxMs);
      }
    }
  }

  async #relist(generation: number): Promise<void> {
    const items = new Map<string, T>();
    let rv: string;
    let next: string | undefined;
    do {
      const page = await getJson<ListPage<T>>(this.#o.kubeConfig, this.path, {
        limit: this.#o.pageSize ?? 500, continue: next, labelSelector: this.#o.labelSelector,
      });
      const kind = page.kind?.replace(/List$/, '');
      for (const item of page.items ?? []) {
        item.apiVersion ??= page.apiVersion;
        item.kind ??= kind;
        const kept = this.#transform(item);
        items.set(objectKey(kept), deepFreeze(kept));
      }
      rv = page.metadata?.resourceVersion ?? '';
      next = page.metadata?.continue || undefined;
    } while (next);
    if (generation !== this.#generation) return;
    for (const [key, obj] of items) {
      const old = this.#store.get(key);
      this.#store.set(key, obj);
      if (!old) this.#emit('add', obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.#emit('update', obj);
    }
    for (const [key, old] of this.#store) {
      if (items.has(key)) continue;
      this.#store.delete(key);
      this.#emit('delete', old);
    }
    this.#rv = rv;
    publish<ReflectorMessage>(reflectorChannel, { path: this.path, event: 'listed', resourceVersion: rv, count: items.size });
    this.#o.onSynced?.();
  }

  #watch(): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      const started = performance.now();
      let settled = false;
      let events = 0;
      let controller: AbortController | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      const finish = (settle: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        this.#endWatch = undefined;
        controller?.abort();
        settle();
      };
      const kick = (): void => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          publish<ReflectorMessage>(reflectorChannel, { path: this.path, event: 'stalled', resourceVersion: this.#rv });
          finish(() => resolve('stalled'));
        }, this.#watchdogMs);
      };
      this.#endWatch = (outcome) => finish(() => resolve(outcome));
      kick();
      const watch = new Watch(this.#o.kubeConfig);
      // The Watch's own inactivity timer (30 s) would cut quiet watches between bookmarks.
      (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = this.#watchdogMs + 30_000;
      const query = {
        allowWatchBookmarks: true, resourceVersion: this.#rv, labelSelector: this.#o.labelSelector,
        timeoutSeconds: 300 + Math.floor(Math.random() * 301),
      };
      publish<ReflectorMessage>(reflectorChannel, { path: this.path, event: 'watchStarted', resourceVersion: this.#rv });
      watch.watch(this.path, query, (type: string, obj: unknown) => {
        if (settled) return;
        events++;
        kick();
        if (type === 'ERROR') {
          const status = (obj ?? {}) as { code?: number; message?: string };
          if (status.code === 410) finish(() => resolve('gone'));
          else finish(() => reject(httpError(`watch ERROR event: ${status.message ?? 'unknown'}`, status.code)));
          return;
        }
        const object = obj as T;
        const rv = object.metadata?.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.#applyEvent(type, deepFreeze(this.#transform(object)));
        if (rv) this.#rv = rv;
      }, (error: unknown) => {
        if (settled) return;
        if (error && (error as HttpError).statusCode === 410) finish(() => resolve('gone'));
        else if (error) finish(() => reject(asError(error)));
        else if (events === 0 && performance.now() - started < 1000) finish(() => reject(new Error('watch closed at once without events')));
        else {
          publish<ReflectorMessage>(reflectorChannel, { path: this.path, event: 'watchClosed', resourceVersion: this.#rv });
          finish(() => resolve('closed'));
        }
      }).then((c) => {
        controller = c;
        if (settled) c.abort();
      }, (error: unknown) => finish(() => reject(asError(error))));
    });
  }

  #transform(obj: T): T {
    return this.#o.transform ? this.#o.transform(obj) : obj;
  }

  #applyEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T): void {
    const key = objectKey(obj);
    if (type === 'DELETED') {
      this.#store.delete(key);
      this.#emit('delete', obj);
      return;
    }
    const existed = this.#store.has(key);
    this.#store.set(key, obj);
    this.#emit(existed ? 'update' : 'add', obj);
  }

  #emit(type: DeltaType, obj: T): void {
    try {
      this.#o.onDelta(type, obj);
    } catch (error) {
      publish<ReflectorMessage>(reflectorChannel, { path: this.path, event: 'handlerError', error, key: objectKey(obj) });
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(JSON.stringify(error));
}

function httpError(message: string, statusCode?: number): HttpError {
  return Object.assign(new Error(message), { statusCode });
}

/** getJson - GET path?query from the current cluster, raw JSON (no model deserialization). */
export async function getJson<R>(kc: KubeConfig, path: string, query: Record<string, string | number | undefined>): Promise<R> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  const options: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' }, timeout: 60_000 };
  await kc.applyToHTTPSOptions(options);
  const client = url.protocol === 'http:' ? http : https;
  if (client === http) delete options.agent;
  return new Promise<R>((resolve, reject) => {
    const req = client.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) {
          try {
            resolve(JSON.parse(text) as R);
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        } else reject(httpError(`GET ${path}: HTTP ${res.statusCode ?? 0}: ${text.slice(0, 300)}`, res.statusCode));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

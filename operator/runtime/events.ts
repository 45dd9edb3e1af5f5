/*
 * operator/runtime/events - Kubernetes Events (events.k8s.io/v1) about our objects, aggregated
 * so that a reconcile loop can call record() every time without flooding the API server.
 *
 * The first (regarding, reason, note) creates an Event (reportingController relay-operator,
 * reportingInstance = $POD_NAME or the hostname, eventTime a V1MicroTime). Repeats within
 * windowMs (10 min) only count; at most once per seriesUpdateMs (5 min) the count is written
 * to the Event's series (merge patch). After the window the next repeat starts a new Event.
 * record() never rejects: Events are best-effort; failures go to relay:runtime:event.
 * Creates and patches are counted in relay_operator_api_writes_total{resource="events"}.
 * RBAC: events.k8s.io events create, patch in the namespaces of the objects.
 */
import { hostname } from 'node:os';
import { EventsV1Api, PatchStrategy, V1MicroTime, setHeaderOptions, type EventsV1Event, type KubeConfig } from '@kubernetes/client-node';
import { apiWritesMetric, defaultRegistry, type Registry } from './metrics.ts';
import { eventChannel, publish, type EventMessage } from './diagnostics.ts';
import { RuntimeArgumentError } from './errors.ts';
import type { KubeObject } from './objects.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventInput {
  type: EventType;
  /** CamelCase, why (<= 128). */
  reason: string;
  /** CamelCase, what the operator did or tried (<= 128), e.g. Reconcile, ApplyConfig. */
  action: string;
  /** Human-readable detail (truncated to 1024 UTF-8 bytes). */
  note: string;
}

/** Where Events go; the default writes to the API server, tests may pass their own. */
export interface EventSink {
  create(namespace: string, event: EventsV1Event): Promise<void>;
  patchSeries(namespace: string, name: string, series: { count: number; lastObservedTime: V1MicroTime }): Promise<void>;
}

export interface EventRecorderOptions {
  kubeConfig?: KubeConfig;
  sink?: EventSink;
  reportingController?: string;
  reportingInstance?: string;
  windowMs?: number;
  seriesUpdateMs?: number;
  /** Aggregation entries kept (oldest dropped first), default 4096. */
  maxKeys?: number;
  now?: () => number;
  registry?: Registry;
}

interface Series { firstMs: number; lastWriteMs: number; count: number; name: string; namespace: string; created: boolean }

function apiSink(kc: KubeConfig): EventSink {
  const api = kc.makeApiClient(EventsV1Api);
  return {
    async create(namespace, body) {
      await api.createNamespacedEvent({ namespace, body });
    },
    async patchSeries(namespace, name, series) {
      await api.patchNamespacedEvent({ name, namespace, body: { series } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    },
  };
}

/** truncateBytes - at most max UTF-8 bytes, never splitting a character (the API counts bytes). */
export function truncateBytes(text: string, max: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return text;
  const cut = bytes.subarray(0, max).toString('utf8');
  return cut.endsWith('\uFFFD') ? cut.slice(0, -1) : cut;
}

export class EventRecorder {
  readonly reportingController: string;
  readonly reportingInstance: string;
  readonly #sink: EventSink;
  readonly #windowMs: number;
  readonly #seriesUpdateMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #series = new Map<string, Series>();
  readonly #writes: ReturnType<typeof apiWritesMetric>;
  #sequence = 0;

  constructor(options: EventRecorderOptions) {
    const sink = options.sink ?? (options.kubeConfig && apiSink(options.kubeConfig));
    if (!sink) throw new RuntimeArgumentError('EventRecorder needs kubeConfig or sink');
    this.#sink = sink;
    this.reportingController = options.reportingController ?? 'relay-operator';
    this.reportingInstance = (options.reportingInstance ?? process.env.POD_NAME ?? hostname()).slice(0, 128);
    this.#windowMs = options.windowMs ?? 600_000;
    this.#seriesUpdateMs = options.seriesUpdateMs ?? 300_000;
    this.#maxKeys = options.maxKeys ?? 4096;
    this.#now = options.now ?? Date.now;
    this.#writes = apiWritesMetric(options.registry ?? defaultRegistry);
  }

  /** record - emit (or count) an Event about regarding; resolves true if a write was sent. */
  async record(regarding: KubeObject, input: EventInput): Promise<boolean> {
    const meta = regarding.metadata ?? {};
    const ref = `${regarding.kind ?? ''}/${meta.namespace ?? ''}/${meta.name ?? ''}/${meta.uid ?? ''}`;
    const key = `${ref}\u0000${input.reason}\u0000${input.note}`;
    const now = this.#now();
    const existing = this.#series.get(key);
    try {
      if (existing && now - existing.firstMs < this.#windowMs) {
        existing.count++;
        if (!existing.created || now - existing.lastWriteMs < this.#seriesUpdateMs) return false;
        existing.lastWriteMs = now;
        this.#writes.inc({ verb: 'patch', resource: 'events' });
        await this.#sink.patchSeries(existing.namespace, existing.name, { count: existing.count, lastObservedTime: new V1MicroTime(now) });
        return true;
      }
      const namespace = meta.namespace || 'default';
      const name = `${meta.name ?? 'object'}.${(now * 1000 + (this.#sequence++ % 1000)).toString(16)}`;
      const series: Series = { firstMs: now, lastWriteMs: now, count: 1, name, namespace, created: false };
      this.#series.delete(key);
      this.#series.set(key, series);
      this.#prune(now);
      this.#writes.inc({ verb: 'create', resource: 'events' });
      await this.#sink.create(namespace, {
        apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name, namespace },
        eventTime: new V1MicroTime(now), reportingController: this.reportingController, reportingInstance: this.reportingInstance,
        action: input.action, reason: input.reason, note: truncateBytes(input.note, 1024), type: input.type,
        regarding: { apiVersion: regarding.apiVersion, kind: regarding.kind, name: meta.name, namespace: meta.namespace, uid: meta.uid },
      });
      series.created = true;
      return true;
    } catch (error) {
      // A failed create is forgotten so that the next occurrence tries again.
      if (this.#series.get(key)?.created === false) this.#series.delete(key);
      publish<EventMessage>(eventChannel, { reason: input.reason, regarding: ref, error });
      return false;
    }
  }

  /** #prune - drop expired entries (oldest first) and keep at most maxKeys. */
  #prune(now: number): void {
    for (const [key, s] of this.#series) {
      if (this.#series.size <= this.#maxKeys && now - s.firstMs < this.#windowMs) break;
      this.#series.delete(key);
    }
  }
}

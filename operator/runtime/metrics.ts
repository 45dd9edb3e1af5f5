/*
 * operator/runtime/metrics - the runtime's Prometheus metrics, created once per registry.
 *
 * Names follow controller-runtime (workqueue_*, controller_runtime_*, leader_election_*) so
 * existing dashboards work; our own write counter is relay_operator_api_writes_total. Every
 * component takes an optional `registry` (default: prom-client's global one) and asks here
 * for its metrics: a metric already registered under the name is reused, so many queues and
 * controllers share one series family told apart by labels.
 */
import { Counter, Gauge, Histogram, exponentialBuckets, register, type Registry } from 'prom-client';

export type { Registry };
export const defaultRegistry: Registry = register;

function reuse<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return reuse(registry, name, () => new Counter<L>({ name, help, labelNames, registers: [registry] }));
}

function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Gauge<L> {
  return reuse(registry, name, () => new Gauge<L>({ name, help, labelNames, registers: [registry] }));
}

function histogram<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
  return reuse(registry, name, () => new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] }));
}

/** client-go / controller-runtime workqueue latency buckets: 10 ns .. 1000 s. */
const QUEUE_BUCKETS = exponentialBuckets(10e-9, 10, 12);
/** controller-runtime reconcile_time_seconds buckets. */
const RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
  1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60];

type QueueLabel = 'name' | 'controller';
export interface WorkqueueMetrics {
  depth: Gauge<QueueLabel>;
  adds: Counter<QueueLabel>;
  queueDuration: Histogram<QueueLabel>;
  workDuration: Histogram<QueueLabel>;
  unfinishedWork: Gauge<QueueLabel>;
  longestRunning: Gauge<QueueLabel>;
  retries: Counter<QueueLabel>;
}

export function workqueueMetrics(registry: Registry): WorkqueueMetrics {
  const l = ['name', 'controller'] as const;
  return {
    depth: gauge(registry, 'workqueue_depth', 'Current depth of workqueue', l),
    adds: counter(registry, 'workqueue_adds_total', 'Total number of adds handled by workqueue', l),
    queueDuration: histogram(registry, 'workqueue_queue_duration_seconds', 'How long in seconds an item stays in workqueue before being requested', l, QUEUE_BUCKETS),
    workDuration: histogram(registry, 'workqueue_work_duration_seconds', 'How long in seconds processing an item from workqueue takes.', l, QUEUE_BUCKETS),
    unfinishedWork: gauge(registry, 'workqueue_unfinished_work_seconds', 'How many seconds of work has been done that is in progress and hasn\'t been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.', l),
    longestRunning: gauge(registry, 'workqueue_longest_running_processor_seconds', 'How many seconds has the longest running processor for workqueue been running.', l),
    retries: counter(registry, 'workqueue_retries_total', 'Total number of retries handled by workqueue', l),
  };
}

export interface ControllerMetrics {
  reconcileTotal: Counter<'controller' | 'result'>;
  reconcileErrors: Counter<'controller'>;
  terminalErrors: Counter<'controller'>;
  reconcileTime: Histogram<'controller'>;
  maxConcurrent: Gauge<'controller'>;
  activeWorkers: Gauge<'controller'>;
}

export function controllerMetrics(registry: Registry): ControllerMetrics {
  const c = ['controller'] as const;
  return {
    reconcileTotal: counter(registry, 'controller_runtime_reconcile_total', 'Total number of reconciliations per controller', ['controller', 'result']),
    reconcileErrors: counter(registry, 'controller_runtime_reconcile_errors_total', 'Total number of reconciliation errors per controller', c),
    terminalErrors: counter(registry, 'controller_runtime_terminal_reconcile_errors_total', 'Total number of terminal reconciliation errors per controller', c),
    reconcileTime: histogram(registry, 'controller_runtime_reconcile_time_seconds', 'Length of time per reconciliation per controller', c, RECONCILE_BUCKETS),
    maxConcurrent: gauge(registry, 'controller_runtime_max_concurrent_reconciles', 'Maximum number of concurrent reconciles per controller', c),
    activeWorkers: gauge(registry, 'controller_runtime_active_workers', 'Number of currently used workers per controller', c),
  };
}

export function leaderElectionMetric(registry: Registry): Gauge<'name'> {
  return gauge(registry, 'leader_election_master_status', 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. \'name\' is the string used to identify the lease.', ['name']);
}

/** relay_operator_api_writes_total{verb,resource}: every write the runtime sends (apply, delete, events). */
export function apiWritesMetric(registry: Registry): Counter<'verb' | 'resource'> {
  return counter(registry, 'relay_operator_api_writes_total', 'API writes sent by the operator, by verb (apply, create, patch, delete) and resource (plural, /status for the subresource). Lease renewals are not counted.', ['verb', 'resource']);
}

/*
 * relay/queue/delivery-service - the delivery side of a hub: the queue manager feeding the agent.
 *
 * JOB       DeliveryService puts the queue manager (queue-manager.ts), which owns the queue,
 *           together with the delivery agent (relay/delivery/agent.ts), which it feeds. The
 *           spool comes in through the interfaces the queue and the agent define (QueueStore,
 *           DsnSubmitter): the spool writes every byte of queue data, this room none. The hub
 *           creates one per spool: `new DeliveryService({ spool, config })`, `await start()`,
 *           `kick()` after each commit (the hub wires the spool's onCommitted to it),
 *           `updateConfig(config)` on reload, `await stop(graceMs)` before closing the spool.
 * STATES    owned by the queue manager: incoming -> active -> done | deferred | corrupt; the
 *           per-recipient state lives in <spool>/delivery-state/ (relay/spool/delivery-state.ts).
 * RELOAD    updateConfig swaps the config atomically: attempts in flight finish with the one
 *           they started with; idle sessions are closed so new ones use the new settings.
 * SHUTDOWN  stop(graceMs): no new attempts; in-flight attempts get graceMs to finish, then
 *           their connections are destroyed and their messages stay in active/ (put back by
 *           the next start). Nothing is lost; a message delivered just before the abort may be
 *           delivered again (RFC 1047).
 */
import type { RenderedConfig } from '../config/schema.ts';
import { appLog, type LogSink } from '../log/protocol-log.ts';
import type { TrackingLineCopy } from '../log/tracking-log.ts';
import { DeliveryAgent } from '../delivery/agent.ts';
import type { DsnSubmitter } from '../delivery/delivery-report.ts';
import { DeliveryStoppedError } from '../delivery/errors.ts';
import { NO_DELIVERY_METRICS, type DeliveryMetrics } from '../delivery/metrics.ts';
import type { DeliveryDnsResolver } from '../delivery/next-hop.ts';
import { resolveDeliveryTuning, type DeliveryTuning, type DeliveryTuningOptions } from '../delivery/tuning.ts';
import { QueueManager, type QueueLogEvent } from './queue-manager.ts';
import type { QueueRecoveryReport } from './queue-recovery.ts';
import { QUEUE_STATES, type DeliveryStates, type QueueStore } from './queue-store.ts';
import { RETRY_JITTER } from './retry-schedule.ts';
import { QueueView } from './queue-view.ts';
import { QueueActions } from './queue-actions.ts';
import { TrackingLog } from '../log/tracking-log.ts';

export interface DeliveryServiceOptions {
  /** The spool: its messages, its delivery states, and where DSNs are committed. */
  spool: QueueStore & DsnSubmitter;
  config: RenderedConfig;
  /** Where tracking and app log lines go; default stdout. */
  logSink?: LogSink;
  /** The tracking log's copy on the spool volume (relay/log/tracking-log-file.ts); default none. */
  trackingCopy?: TrackingLineCopy;
  /** DNS for MX and smart-host names; default the system resolver. */
  resolver?: DeliveryDnsResolver;
  /** Clock for timestamps, expiry and schedules; default Date.now. */
  now?: () => number;
  /** Random source for jitter and MX shuffling; default Math.random. */
  random?: () => number;
  /** From createDeliveryMetrics(registry); default: no metrics. */
  metrics?: DeliveryMetrics;
  tuning?: DeliveryTuningOptions;
  /** Addresses the hub binds instead of its config's (--bind-address): its own, for MX loops. */
  selfAddresses?: string[];
}

const WARN_EVENTS = new Set<QueueLogEvent['event']>(['messageCorrupt', 'stateUnreadable', 'attemptFailed', 'persistFailed', 'abandoned']);

export class DeliveryService {
  readonly #spool: QueueStore & DsnSubmitter;
  readonly #tuning: DeliveryTuning;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #metrics: DeliveryMetrics;
  readonly #logSink: LogSink | undefined;
  readonly #agent: DeliveryAgent;
  #store: DeliveryStates | null = null;
  #queue: QueueManager | null = null;
  #admin: { view: QueueView; actions: QueueActions } | null = null;
  /** The tracking log's copy on the spool volume, so the queue actions' audit lines are searchable too. */
  #trackingCopy: TrackingLineCopy | null = null;
  #state: 'new' | 'running' | 'stopped' = 'new';

  constructor(options: DeliveryServiceOptions) {
    this.#spool = options.spool;
    this.#tuning = resolveDeliveryTuning(options.tuning);
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#metrics = options.metrics ?? NO_DELIVERY_METRICS;
    this.#logSink = options.logSink;
    this.#trackingCopy = options.trackingCopy ?? null;
    this.#agent = new DeliveryAgent({
      config: options.config,
      dsnSubmitter: options.spool,
      tuning: this.#tuning,
      // shorter than the first retry of a deferred message, which is jittered down to this
      hostDownMs: () => this.#agent.config.hub.retry.minBackoffMs * (1 - RETRY_JITTER),
      onDsn: () => this.kick(),
      onHostUp: (host) => {
        void this.#admin?.actions.retryWaitingOn(host.name).then(
          (ids) => appLog('info', `next hop ${host.name} answers again: ${ids.length} messages waiting on it due now`, { host: host.name, messages: ids.length }, this.#logSink),
          (err: unknown) => appLog('warn', `next hop ${host.name} answers again, but its messages could not be listed: ${(err as Error).message}`, {}, this.#logSink),
        );
      },
      now: this.#now,
      random: this.#random,
      metrics: this.#metrics,
      ...(options.logSink ? { logSink: options.logSink } : {}),
      ...(options.trackingCopy ? { trackingCopy: options.trackingCopy } : {}),
      ...(options.resolver ? { resolver: options.resolver } : {}),
      ...(options.selfAddresses ? { selfAddresses: options.selfAddresses } : {}),
    });
  }

  /** The config deliveries start with now. */
  get config(): RenderedConfig {
    return this.#agent.config;
  }

  /** Ids of the messages being delivered now. */
  get activeIds(): string[] {
    return this.#queue?.activeIds ?? [];
  }

  /** start - recover the queue (active/ back to incoming/ or deferred/) and begin delivering. */
  async start(): Promise<QueueRecoveryReport> {
    if (this.#state !== 'new') throw new DeliveryStoppedError();
    this.#state = 'running';
    this.#store = await this.#spool.openDeliveryStates();
    this.#queue = new QueueManager({
      spool: this.#spool,
      store: this.#store,
      run: (job) => this.#agent.deliver(job),
      report: (job, outcomes) => this.#agent.report(job, outcomes),
      retry: () => this.#agent.config.hub.retry,
      maxActive: this.#tuning.maxActiveMessages,
      pollIntervalMs: this.#tuning.pollIntervalMs,
      now: this.#now,
      random: this.#random,
      log: (event) => this.#log(event),
      onDepth: (depth) => {
        for (const state of QUEUE_STATES) this.#metrics.queueDepth(state, depth.counts[state]);
        this.#metrics.oldestMessageAge(depth.oldestAgeMs / 1000);
      },
      onAbandon: () => this.#agent.abandon(),
    });
    const view = new QueueView({ spool: this.#spool, store: this.#store, config: () => this.#agent.config, now: this.#now });
    const actions = new QueueActions({
      spool: this.#spool,
      store: this.#store,
      view,
      scheduler: this.#queue,
      report: (job, outcomes) => this.#agent.report(job, outcomes),
      tracking: new TrackingLog(this.#logSink, this.#now, this.#trackingCopy),
      tryEveryHostNow: () => this.#agent.tryEveryHostNow(),
      now: this.#now,
      ...(this.#logSink ? { logSink: this.#logSink } : {}),
    });
    this.#admin = { view, actions };
    return this.#queue.start();
  }

  /** The queue as an administrator sees and acts on it (the hub's queue API); null until started. */
  get admin(): { view: QueueView; actions: QueueActions } | null {
    return this.#state === 'running' ? this.#admin : null;
  }

  /** kick - look at incoming/ now (the hub calls it after each commit). */
  kick(): void {
    if (this.#state === 'running') this.#queue?.kick();
  }

  /** updateConfig - deliveries started from now on use `config` (hot reload). */
  updateConfig(config: RenderedConfig): void {
    this.#agent.updateConfig(config);
    this.kick();
  }

  /** stop - finish or abandon in-flight deliveries within graceMs; everything left stays queued. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#state === 'stopped') return;
    const wasRunning = this.#state === 'running';
    this.#state = 'stopped';
    if (!wasRunning) return;
    await this.#queue?.stop(graceMs);
    this.#agent.abandon();
    await this.#store?.close();
  }

  #log(event: QueueLogEvent): void {
    const level = WARN_EVENTS.has(event.event) ? 'warn' : 'info';
    appLog(level, `queue ${event.event}`, { ...event }, this.#logSink);
  }
}

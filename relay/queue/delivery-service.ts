/*
 * relay/delivery/service - the delivery side of a hub: queue manager + delivery agent.
 *
 * JOB       DeliveryService ties the queue manager (relay/queue) to the agent: routing by
 *           address space, SMTP through nodemailer's SMTPConnection with pooled sessions per
 *           next hop, next hops that could not be reached skipped for minBackoff
 *           (host-health.ts), drop directories, DSNs, the tracking log and metrics. The hub creates
 *           one per spool: `new DeliveryService({ spool, config })`, `await start()`,
 *           `kick()` after each commit (commits on the spool's `relay:spool:committed`
 *           channel kick it too), `updateConfig(config)` on reload, `await stop(graceMs)`
 *           before closing the spool.
 * STATES    owned by the queue manager: incoming -> active -> done | deferred | corrupt; the
 *           per-recipient state lives in <spool>/delivery-state/ (see relay/queue).
 * RELOAD    updateConfig swaps the config atomically: attempts in flight finish with the one
 *           they started with; idle sessions are closed so new ones use the new settings.
 * SHUTDOWN  stop(graceMs): no new attempts; in-flight attempts get graceMs to finish, then
 *           their connections are destroyed and their messages stay in active/ (put back by
 *           the next start). Nothing is lost; a message delivered just before the abort may be
 *           delivered again (RFC 1047).
 * TRUST     Credentials are read from the connector's authFile at each new session and sent
 *           only to smart hosts (AUTH after STARTTLS when tls.mode asks for it).
 */
import diagnostics_channel from 'node:diagnostics_channel';
import type { RenderedConfig } from '../config/schema.ts';
import { appLog, type LogSink } from '../log/protocol-log.ts';
import { TrackingLog } from '../log/tracking-log.ts';
import { DeliveryStateStore } from '../spool/delivery-state.ts';
import type { QueueJob, RecipientOutcome } from '../delivery/job.ts';
import { QueueManager, type QueueLogEvent } from './queue-manager.ts';
import { RETRY_JITTER } from './retry-schedule.ts';
import type { QueueRecoveryReport } from './queue-recovery.ts';
import { QUEUE_STATES, type Spool } from '../spool/spool.ts';
import { attemptDelivery, logReceive } from '../delivery/delivery-attempt.ts';
import { reportAttempt } from '../delivery/delivery-report.ts';
import { DeliveryStoppedError } from '../delivery/errors.ts';
import { NO_DELIVERY_METRICS, type DeliveryMetrics } from '../delivery/metrics.ts';
import { dnsResolverFor, type DeliveryDnsResolver, type SelfCheck } from '../delivery/next-hop.ts';
import { HostHealth } from '../delivery/host-health.ts';
import { selfCheckFor } from '../delivery/self-check.ts';
import { DestinationLimiter, SmtpConnectionPool } from '../delivery/smtp-pool.ts';
import { resolveDeliveryTuning, type DeliveryTuning, type DeliveryTuningOptions } from '../delivery/tuning.ts';

export interface DeliveryServiceOptions {
  spool: Spool;
  config: RenderedConfig;
  /** Where tracking and app log lines go; default stdout. */
  logSink?: LogSink;
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
  readonly #spool: Spool;
  readonly #tuning: DeliveryTuning;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #resolver: DeliveryDnsResolver;
  readonly #metrics: DeliveryMetrics;
  readonly #logSink: LogSink | undefined;
  readonly #tracking: TrackingLog;
  readonly #pool: SmtpConnectionPool;
  readonly #limiter = new DestinationLimiter();
  readonly #health: HostHealth;
  readonly #selfAddresses: string[];
  /** The hub's own listeners in the current config (MX loops); rebuilt by updateConfig. */
  #isSelf: SelfCheck;
  readonly #onCommitted = (): void => this.kick();
  #config: RenderedConfig;
  #store: DeliveryStateStore | null = null;
  #queue: QueueManager | null = null;
  #state: 'new' | 'running' | 'stopped' = 'new';

  constructor(options: DeliveryServiceOptions) {
    this.#spool = options.spool;
    this.#config = options.config;
    this.#tuning = resolveDeliveryTuning(options.tuning);
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#resolver = options.resolver ?? dnsResolverFor();
    this.#metrics = options.metrics ?? NO_DELIVERY_METRICS;
    this.#logSink = options.logSink;
    this.#tracking = new TrackingLog(options.logSink, this.#now);
    this.#health = new HostHealth(this.#now);
    this.#selfAddresses = options.selfAddresses ?? [];
    this.#isSelf = selfCheckFor(this.#config.listeners, this.#selfAddresses);
    this.#metrics.nextHopsDownFrom(() => this.#health.downCount);
    this.#pool = new SmtpConnectionPool({ idleMs: this.#tuning.connectionIdleMs, maxMessages: this.#tuning.maxMessagesPerConnection });
  }

  /** The config deliveries start with now. */
  get config(): RenderedConfig {
    return this.#config;
  }

  /** Ids of the messages being delivered now. */
  get activeIds(): string[] {
    return this.#queue?.activeIds ?? [];
  }

  /** start - recover the queue (active/ back to incoming/ or deferred/) and begin delivering. */
  async start(): Promise<QueueRecoveryReport> {
    if (this.#state !== 'new') throw new DeliveryStoppedError();
    this.#state = 'running';
    this.#store = await DeliveryStateStore.open(this.#spool.directory);
    this.#queue = new QueueManager({
      spool: this.#spool,
      store: this.#store,
      run: (job) => this.#run(job),
      report: (job, outcomes) => this.#report(job, outcomes),
      retry: () => this.#config.hub.retry,
      maxActive: this.#tuning.maxActiveMessages,
      pollIntervalMs: this.#tuning.pollIntervalMs,
      now: this.#now,
      random: this.#random,
      log: (event) => this.#log(event),
      onDepth: (depth) => {
        for (const state of QUEUE_STATES) this.#metrics.queueDepth(state, depth.counts[state]);
        this.#metrics.oldestMessageAge(depth.oldestAgeMs / 1000);
      },
      onAbandon: () => this.#pool.destroyAll(),
    });
    diagnostics_channel.subscribe('relay:spool:committed', this.#onCommitted);
    return this.#queue.start();
  }

  /** kick - look at incoming/ now (the hub calls it after each commit). */
  kick(): void {
    if (this.#state === 'running') this.#queue?.kick();
  }

  /** updateConfig - deliveries started from now on use `config` (hot reload). */
  updateConfig(config: RenderedConfig): void {
    this.#config = config;
    this.#isSelf = selfCheckFor(config.listeners, this.#selfAddresses);
    this.#pool.closeIdle();
    this.kick();
  }

  /** stop - finish or abandon in-flight deliveries within graceMs; everything left stays queued. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#state === 'stopped') return;
    const wasRunning = this.#state === 'running';
    this.#state = 'stopped';
    if (!wasRunning) return;
    diagnostics_channel.unsubscribe('relay:spool:committed', this.#onCommitted);
    await this.#queue?.stop(graceMs);
    this.#pool.destroyAll();
    await this.#store?.close();
  }

  #run(job: QueueJob): Promise<RecipientOutcome[]> {
    if (job.firstAttempt) logReceive(job, this.#tracking);
    const t = this.#tuning;
    return attemptDelivery(job, this.#config, {
      resolver: this.#resolver,
      pool: this.#pool,
      limiter: this.#limiter,
      destinationConcurrency: t.destinationConcurrency,
      timeouts: { connectTimeoutMs: t.connectTimeoutMs, greetingTimeoutMs: t.greetingTimeoutMs, socketTimeoutMs: t.socketTimeoutMs },
      ...(t.tlsCa.length > 0 ? { ca: [...t.tlsCa] } : {}),
      random: this.#random,
      isSelf: this.#isSelf,
      health: this.#health,
      // shorter than the first retry of a deferred message, which is jittered down to this
      hostDownMs: this.#config.hub.retry.minBackoffMs * (1 - RETRY_JITTER),
      onHostHealth: (host, change) => {
        if (change.down) appLog('warn', `next hop ${host} marked down until ${new Date(change.untilMs).toISOString()}: other messages skip it until then`, { host, reason: change.reason }, this.#logSink);
        else appLog('info', `next hop ${host} is reachable again`, { host }, this.#logSink);
      },
    });
  }

  #report(job: QueueJob, outcomes: readonly RecipientOutcome[]): Promise<void> {
    return reportAttempt(job, outcomes, {
      spool: this.#spool,
      config: this.#config,
      tracking: this.#tracking,
      metrics: this.#metrics,
      now: this.#now,
      onDsn: () => this.kick(),
    });
  }

  #log(event: QueueLogEvent): void {
    const level = WARN_EVENTS.has(event.event) ? 'warn' : 'info';
    appLog(level, `queue ${event.event}`, { ...event }, this.#logSink);
  }
}

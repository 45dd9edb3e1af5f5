/*
 * relay/delivery/agent - the delivery agent: one attempt per job, and what follows from it.
 *
 * JOB       DeliveryAgent takes the jobs the queue manager hands it (job.ts) and delivers them:
 *           routing by address space, SMTP through nodemailer's SMTPConnection with pooled
 *           sessions per next hop, next hops that could not be reached skipped for minBackoff
 *           (host-health.ts), drop directories; then reports the outcomes (delivery-report.ts):
 *           the tracking log, metrics, and DSNs committed through a DsnSubmitter (the spool,
 *           wired by the hub). It knows nothing of the queue's states: the queue manager owns
 *           them and feeds it (relay/queue/delivery-service.ts puts the two together).
 * RELOAD    updateConfig swaps the config atomically: attempts in flight finish with the one
 *           they started with; idle sessions are closed so new ones use the new settings.
 * SHUTDOWN  abandon() destroys every connection (the queue manager calls it when it gives up
 *           waiting for attempts in flight); close() does the same once the queue has stopped.
 * TRUST     Credentials are read from the connector's authFile at each new session and sent
 *           only to smart hosts (AUTH after STARTTLS when tls.mode asks for it).
 */
import type { RenderedConfig } from '../config/schema.ts';
import { appLog, type LogSink } from '../log/protocol-log.ts';
import { TrackingLog, type TrackingLineCopy } from '../log/tracking-log.ts';
import { attemptDelivery, logReceive } from './delivery-attempt.ts';
import { reportAttempt, type DsnSubmitter } from './delivery-report.ts';
import type { QueueJob, RecipientOutcome } from './job.ts';
import { NO_DELIVERY_METRICS, type DeliveryMetrics } from './metrics.ts';
import { dnsResolverFor, type DeliveryDnsResolver, type SelfCheck } from './next-hop.ts';
import { HostHealth, type ProbeTarget } from './host-health.ts';
import { selfCheckFor } from './self-check.ts';
import { DestinationLimiter, SmtpConnectionPool } from './smtp-pool.ts';
import type { DeliveryTuning } from './tuning.ts';

export interface DeliveryAgentOptions {
  config: RenderedConfig;
  /** Where DSNs are committed (the spool). */
  dsnSubmitter: DsnSubmitter;
  tuning: DeliveryTuning;
  /** How long a next hop that could not be reached is skipped, for the current config. */
  hostDownMs: () => number;
  /** Called with the queue id of each DSN committed (the queue looks at incoming/ again). */
  onDsn: () => void;
  /** A next hop that had failed answers again (host-health.ts): retry what waits on it. */
  onHostUp?: (host: ProbeTarget) => void;
  logSink?: LogSink;
  /** The tracking log's copy on the spool volume (relay/log/tracking-log-file.ts). */
  trackingCopy?: TrackingLineCopy;
  resolver?: DeliveryDnsResolver;
  now: () => number;
  random: () => number;
  metrics?: DeliveryMetrics;
  /** Addresses the hub binds instead of its config's (--bind-address): its own, for MX loops. */
  selfAddresses?: string[];
}

/** DeliveryAgent - see the manual above. */
export class DeliveryAgent {
  readonly #o: DeliveryAgentOptions;
  readonly #resolver: DeliveryDnsResolver;
  readonly #metrics: DeliveryMetrics;
  readonly #tracking: TrackingLog;
  readonly #pool: SmtpConnectionPool;
  readonly #limiter = new DestinationLimiter();
  readonly #health: HostHealth;
  readonly #selfAddresses: string[];
  /** The hub's own listeners in the current config (MX loops); rebuilt by updateConfig. */
  #isSelf: SelfCheck;
  #config: RenderedConfig;

  constructor(options: DeliveryAgentOptions) {
    this.#o = options;
    this.#config = options.config;
    this.#resolver = options.resolver ?? dnsResolverFor();
    this.#metrics = options.metrics ?? NO_DELIVERY_METRICS;
    this.#tracking = new TrackingLog(options.logSink, options.now, options.trackingCopy ?? null);
    this.#health = new HostHealth(options.now, {
      intervalMs: options.tuning.hostProbeIntervalMs,
      forgetAfterMs: () => this.#config.hub.retry.maxBackoffMs,
      onUp: (host) => this.#o.onHostUp?.(host),
    });
    this.#selfAddresses = options.selfAddresses ?? [];
    this.#isSelf = selfCheckFor(this.#config.listeners, this.#selfAddresses);
    this.#metrics.nextHopsDownFrom(() => this.#health.downCount);
    this.#pool = new SmtpConnectionPool({ idleMs: options.tuning.connectionIdleMs, maxMessages: options.tuning.maxMessagesPerConnection });
  }

  /** The config deliveries start with now. */
  get config(): RenderedConfig {
    return this.#config;
  }

  /** updateConfig - deliveries started from now on use `config` (hot reload). */
  updateConfig(config: RenderedConfig): void {
    this.#config = config;
    this.#isSelf = selfCheckFor(config.listeners, this.#selfAddresses);
    this.#pool.closeIdle();
  }

  /** deliver - one attempt over the job's pending recipients (the QueueJobRunner). */
  deliver(job: QueueJob): Promise<RecipientOutcome[]> {
    if (job.firstAttempt) logReceive(job, this.#tracking);
    const t = this.#o.tuning;
    return attemptDelivery(job, this.#config, {
      resolver: this.#resolver,
      pool: this.#pool,
      limiter: this.#limiter,
      destinationConcurrency: t.destinationConcurrency,
      timeouts: { connectTimeoutMs: t.connectTimeoutMs, greetingTimeoutMs: t.greetingTimeoutMs, socketTimeoutMs: t.socketTimeoutMs },
      ...(t.tlsCa.length > 0 ? { ca: [...t.tlsCa] } : {}),
      random: this.#o.random,
      isSelf: this.#isSelf,
      health: this.#health,
      hostDownMs: this.#o.hostDownMs(),
      onHostHealth: (host, change) => {
        if (change.down) appLog('warn', `next hop ${host} marked down until ${new Date(change.untilMs).toISOString()}: other messages skip it until then`, { host, reason: change.reason }, this.#o.logSink);
        else appLog('info', `next hop ${host} is reachable again`, { host }, this.#o.logSink);
      },
    });
  }

  /** report - the tracking log, metrics and DSNs of an attempt's final outcomes (the QueueJobReporter). */
  report(job: QueueJob, outcomes: readonly RecipientOutcome[]): Promise<void> {
    return reportAttempt(job, outcomes, {
      spool: this.#o.dsnSubmitter,
      config: this.#config,
      tracking: this.#tracking,
      metrics: this.#metrics,
      now: this.#o.now,
      onDsn: () => this.#o.onDsn(),
    });
  }

  /** abandon - destroy every connection and stop probing: attempts in flight fail at once. */
  abandon(): void {
    this.#health.stopProbing();
    this.#pool.destroyAll();
  }

  /** tryEveryHostNow - forget which next hops are down (an administrator's retry). */
  tryEveryHostNow(): void {
    this.#health.forgetAll();
  }
}

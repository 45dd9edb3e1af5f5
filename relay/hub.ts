/*
 * relay/hub - the composition root of one relay hub.
 *
 * Wires config -> listeners -> connector servers -> spool, and owns the hub's life:
 *   start   load the rendered config, recover the spool, open every listener;
 *   reload  on a new config (or a changed certificate, users or CA file) build new routes and
 *           swap them in; sessions in flight finish under the config they started with; a
 *           config that cannot be built is logged and the running one kept; the new
 *           listeners are opened before anything is swapped, and one that cannot bind leaves
 *           the old config and listeners serving, reported (error log, metrics, not ready,
 *           status) and retried; the spool's free-space reserve (hub.spool.minFreeBytes)
 *           takes the new value;
 *   stop    stop accepting (new connections get 421 4.3.2), let sessions finish within the
 *           grace period, close the spool.
 * The hub reports the config hash it runs in its metrics (relay_config_info) and in a status
 * file (JSON, written atomically) that the operator or a test can read.
 */
import { readFileSync, renameSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import { loadRenderedConfig, type LoadedConfig } from './config/load.ts';
import type { ConnectorConfig, ListenerConfig, RenderedConfig } from './config/schema.ts';
import path from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { Listener, type ListenerRoute } from './listener/listener.ts';
import { buildListenerIndex } from './listener/range-index-build.ts';
import { trustedProxyMatcher } from './listener/proxy-protocol.ts';
import { foldSharedPorts } from './listener/shared-port.ts';
import { appLog, type LogSink } from './log/protocol-log.ts';
import { createHubMetrics, type HubMetrics } from './log/hub-metrics.ts';
import { registerScrapeTimeMetrics } from './log/scrape-time-metrics.ts';
import type { DnsResolver } from './session/antispam.ts';
import { DnsCache, sourceOfResolver, systemDnsSource } from './session/dns-cache.ts';
import type { ConnectorRuntime } from './session/connector-context.ts';
import { createConnectorServer, type ConnectorServer } from './session/connector-server.ts';
import { installSmtpServerPatch } from './session/smtp-server-patch.ts';
import { LogonLockout, RateLimitRegistry } from './session/rate-limits.ts';
import { parseUsers, type UserDirectory } from './session/users.ts';
import { Spool, type SpoolOptions } from './spool/spool.ts';
import { DEFAULT_MIN_FREE_BYTES, normalizeTrackingLog } from './config/settings.ts';
import { TrackingLogFile } from './log/tracking-log-file.ts';
import { DeliveryService } from './queue/delivery-service.ts';
import { createDeliveryMetrics } from './delivery/metrics.ts';
import type { DeliveryTuningOptions } from './delivery/tuning.ts';

export interface HubOptions {
  configFile: string;
  spoolDir: string;
  /** Default: `<spoolDir>/status.json`. */
  statusFile?: string;
  logSink?: LogSink;
  resolver?: DnsResolver;
  /** Poll interval for the config file and the files it references; 0 disables. Default 2000. */
  watchIntervalMs?: number;
  spool?: SpoolOptions;
  metrics?: HubMetrics;
  /** Delivery tuning (active set, concurrency, poll interval, timeouts); tests shorten it. */
  delivery?: DeliveryTuningOptions;
  /**
   * Accept and queue, but deliver nothing until started without it (Postfix's
   * `defer_transports`, Exchange's Suspend-Queue): maintenance windows, and the receive-only
   * benchmark against a Postfix that holds its mail.
   */
  holdDelivery?: boolean;
  /** Bind every listener to this address instead of the config's (a pod IP, a test's loopback address). */
  bindAddress?: string;
  /**
   * Called with the config hash each time a config is applied (start and every reload), never
   * for one that failed: the operator reads that hash as "this pod runs it".
   */
  onConfigApplied?: (hash: string) => void;
  /** Retry a reload whose new listener could not bind, with backoff up to a minute. Default true. */
  retryFailedBind?: boolean;
}

/** A config the hub was given and could not apply; it runs the one before. */
export interface PendingConfig {
  /** The hash of the config not applied; null when the file could not be read as a config. */
  hash: string | null;
  reason: 'listenerBind' | 'invalidConfig';
  message: string;
  /** When this config first failed (ISO 8601); retries keep it. */
  since: string;
}

interface BuiltRoutes {
  routes: Map<string, { config: ListenerConfig; route: ListenerRoute }>;
  watchedFiles: string[];
}

const listenerKey = (l: ListenerConfig): string => `${l.bindAddress}|${l.port}`;

/**
 * spoolReserve - the spool's free-space reserve: the caller's fixed value, else the config's
 * (RelayHub.spec.queue.minFreeSpace), else the default; a config without hub.spool means the
 * default also after one that had it.
 */
function spoolReserve(options: HubOptions, config: RenderedConfig): number {
  return options.spool?.minFreeBytes ?? config.hub.spool?.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES;
}

export class Hub {
  readonly metrics: HubMetrics;
  readonly #options: HubOptions;
  readonly #spool: Spool;
  /** The tracking log's copy in `<spool>/tracking/`, searched by `relay-operator track`. */
  readonly #tracking: TrackingLogFile;
  #delivery: DeliveryService | null = null;
  readonly #limits = new RateLimitRegistry();
  /** Failed AUTH counts per source and per user name, across every connector and reload. */
  readonly #logonLockout = new LogonLockout();
  /** One DNS answer cache for the anti-spam checks of every connector, kept across reloads. */
  readonly #dnsCache: DnsCache;
  readonly #listeners = new Map<string, Listener>();
  #loaded: LoadedConfig;
  #watched: string[] = [];
  #reloading: Promise<boolean> | null = null;
  #stopped = false;
  #pending: PendingConfig | null = null;
  #retry: NodeJS.Timeout | null = null;
  #retryAttempt = 0;
  readonly #reloadFailures: Counter<'reason'>;
  readonly #configPending: Gauge;

  private constructor(options: HubOptions, spool: Spool, tracking: TrackingLogFile, loaded: LoadedConfig, metrics: HubMetrics) {
    this.#options = options;
    this.#spool = spool;
    this.#tracking = tracking;
    this.#loaded = loaded;
    this.metrics = metrics;
    // Registered here rather than in relay/log/hub-metrics so the reload path owns its own series; a
    // registry shared by two hubs (tests) gets them once.
    const registers = [metrics.registry];
    this.#reloadFailures = (metrics.registry.getSingleMetric('relay_config_reload_failures_total') as Counter<'reason'> | undefined)
      ?? new Counter({ name: 'relay_config_reload_failures_total', help: 'Reloads not applied, by reason (listenerBind: a new listener could not bind; invalidConfig: the config or a file it names could not be read); the old config keeps running.', labelNames: ['reason'], registers });
    this.#configPending = (metrics.registry.getSingleMetric('relay_config_pending') as Gauge | undefined)
      ?? new Gauge({ name: 'relay_config_pending', help: '1 while the hub runs an older config than the one it was given (see relay_config_reload_failures_total and /status), else 0.', registers });
    this.#configPending.set(0);
    this.#dnsCache = new DnsCache(options.resolver ? sourceOfResolver(options.resolver) : systemDnsSource());
  }

  /** start - a running hub, or an error naming what is wrong (config, spool, a port in use). */
  static async start(options: HubOptions): Promise<Hub> {
    installSmtpServerPatch();
    const loaded = loadRenderedConfig(options.configFile);
    // Routine moves and removals are not logged here: the queue manager logs each message's
    // outcome (messageDone, messageDeferred, messageCorrupt) and the tracking log has the rest.
    const log = (event: { event?: string } & Record<string, unknown>): void => {
      if (event.event !== 'messageMoved' && event.event !== 'messageRemoved') appLog(Spool.logLevel(event), `spool ${event.event ?? ''}`, event, options.logSink);
    };
    // reloads apply a new reserve (#afterLoad); this one holds until the first of them
    // each commit wakes the queue manager up (the delivery service is created just below)
    const onCommitted = (): void => hub.#delivery?.kick();
    const spool = await Spool.open(options.spoolDir, { ...(options.spool ?? {}), minFreeBytes: spoolReserve(options, loaded.config), log: options.spool?.log ?? log, onCommitted });
    const tracking = await TrackingLogFile.open({
      dir: path.join(options.spoolDir, 'tracking'),
      settings: normalizeTrackingLog(loaded.config.hub.trackingLog),
      onError: (error) => appLog('warn', 'tracking log file not written (the stdout copy is complete)', { error: error.message }, options.logSink),
    }).catch(async (error: unknown) => {
      await spool.close();
      throw error;
    });
    const hub = new Hub(options, spool, tracking, loaded, options.metrics ?? createHubMetrics({ defaultMetrics: true }));
    hub.metrics.recordSpoolRecovery(spool.damage);
    registerScrapeTimeMetrics(hub.metrics.registry, { config: () => hub.config, spoolDir: options.spoolDir, reserveBytes: () => spoolReserve(options, hub.config) });
    // Delivery starts before the listeners: whatever the spool held at start (recovered after
    // a crash) is on its way again before new mail arrives.
    if (!options.holdDelivery) hub.#delivery = new DeliveryService({
      spool,
      config: loaded.config,
      ...(options.logSink ? { logSink: options.logSink } : {}),
      trackingCopy: tracking,
      ...(options.resolver ? { resolver: options.resolver } : {}),
      metrics: createDeliveryMetrics(hub.metrics.registry),
      ...(options.delivery ? { tuning: options.delivery } : {}),
      ...(options.bindAddress ? { selfAddresses: [options.bindAddress] } : {}),
    });
    if (hub.#delivery) {
      const recovered = await hub.#delivery.start();
      appLog('info', 'queue recovered', { ...recovered }, options.logSink);
    } else {
      appLog('warn', 'delivery is on hold: messages are accepted and queued, none is delivered', {}, options.logSink);
    }
    const built = hub.#build(loaded.config);
    try {
      for (const { config, route } of built.routes.values()) {
        const listener = new Listener(config, route, hub.metrics, options.logSink);
        await listener.start();
        hub.#listeners.set(listenerKey(config), listener);
      }
    } catch (error) {
      await hub.stop(0);
      throw error;
    }
    hub.#afterLoad(loaded, built);
    appLog('info', 'hub started', { hub: loaded.config.hub.name, configHash: loaded.hash, listeners: loaded.config.listeners.map((l) => l.endpoint) }, options.logSink);
    return hub;
  }

  get configHash(): string {
    return this.#loaded.hash;
  }

  get config(): RenderedConfig {
    return this.#loaded.config;
  }

  /** draining - true once stop() began: readiness turns false so no new traffic is sent here. */
  get draining(): boolean {
    return this.#stopped;
  }

  get spool(): Spool {
    return this.#spool;
  }

  /** The tracking log's folder on the spool volume, searched by the track API (relay/process/track-api.ts). */
  get trackingDir(): string {
    return this.#tracking.dir;
  }

  /** The queue API's view and actions (relay/queue/queue-view.ts, queue-actions.ts); null while delivery is on hold or stopped. */
  get queueAdmin(): DeliveryService['admin'] {
    return this.#delivery?.admin ?? null;
  }

  /**
   * reload - apply the config file as it is now; false when it could not be built, or when it
   * is unchanged and `force` is not set (force: a referenced file - certificate, users, CA -
   * changed while the config did not).
   */
  reload(options: { force?: boolean } = {}): Promise<boolean> {
    this.#reloading ??= this.#reload(options.force ?? false).finally(() => {
      this.#reloading = null;
    });
    return this.#reloading;
  }

  async #reload(force: boolean): Promise<boolean> {
    if (this.#stopped) return false;
    let loaded: LoadedConfig;
    let built: BuiltRoutes;
    try {
      loaded = loadRenderedConfig(this.#options.configFile);
    } catch (error) {
      this.#reloadFailed(null, 'invalidConfig', (error as Error).message);
      return false;
    }
    if (!force && loaded.hash === this.#loaded.hash) {
      // Back to the config it runs (the one that failed was withdrawn): nothing is pending.
      if (this.#pending) this.#clearPending();
      return false;
    }
    try {
      built = this.#build(loaded.config);
    } catch (error) {
      this.#reloadFailed(loaded.hash, 'invalidConfig', (error as Error).message);
      return false;
    }
    const opened = await this.#openListeners(built);
    if (!opened.ok) {
      this.#reloadFailed(loaded.hash, 'listenerBind', opened.message);
      return false;
    }
    const previous = this.#loaded.hash;
    this.#afterLoad(loaded, built);
    this.#delivery?.updateConfig(loaded.config);
    appLog('info', 'config reloaded', { from: previous, to: loaded.hash }, this.#options.logSink);
    return true;
  }

  /**
   * openListeners - the listeners of a new config, all or none: the new ones are opened first,
   * and only when every one is bound are the routes swapped and the listeners the config
   * dropped closed (draining). A listener that cannot bind (the port taken by another
   * process, an address the host does not have) leaves every old listener serving under the
   * old routes, so a reload never closes a port it cannot reopen. A new listener on the port
   * of one being dropped (the same port moved to another address) can only bind once the old
   * one let the port go: it is unbound just before, and bound again when the new one still fails.
   */
  async #openListeners(built: BuiltRoutes): Promise<{ ok: true } | { ok: false; message: string }> {
    const dropped = [...this.#listeners].filter(([key]) => !built.routes.has(key));
    const fresh: Listener[] = [];
    const unbound: Listener[] = [];
    let failure: string | null = null;
    for (const [key, { config, route }] of built.routes) {
      if (this.#listeners.has(key)) continue;
      const listener = new Listener(config, route, this.metrics, this.#options.logSink);
      try {
        try {
          await listener.start();
        } catch (error) {
          const samePort = dropped.filter(([, old]) => old.config.port === config.port && !unbound.includes(old)).map(([, old]) => old);
          if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || samePort.length === 0) throw error;
          for (const old of samePort) {
            await old.unbind();
            unbound.push(old);
          }
          await listener.start();
        }
        fresh.push(listener);
      } catch (error) {
        failure = `listener ${config.endpoint} could not open: ${(error as Error).message}`;
        break;
      }
    }
    if (failure !== null) {
      await Promise.all(fresh.map((l) => l.close(0)));
      for (const old of unbound) {
        try {
          await old.start();
        } catch (error) {
          // Nothing left to fall back to: said at error level so the closed port is not silent.
          appLog('error', `listener ${old.config.endpoint} could not be opened again after a failed reload: ${(error as Error).message}`, {}, this.#options.logSink);
        }
      }
      return { ok: false, message: failure };
    }
    for (const listener of fresh) this.#listeners.set(listenerKey(listener.config), listener);
    for (const [key, listener] of dropped) {
      this.#listeners.delete(key);
      void listener.close(30_000);
    }
    for (const [key, { route }] of built.routes) this.#listeners.get(key)?.setRoute(route);
    return { ok: true };
  }

  /**
   * reloadFailed - a config that could not be applied: the old one keeps running, and the
   * failure is visible everywhere someone looks - an error log line, relay_config_reload_failures_total,
   * relay_config_pending (1 until a config is applied), /readyz not ready and /status (through
   * `pendingConfig`), status.json - and onConfigApplied is not called, so the pod never reports
   * the new hash as running. A failed bind is retried with backoff: the port may come free.
   */
  #reloadFailed(hash: string | null, reason: 'listenerBind' | 'invalidConfig', message: string): void {
    this.#pending = { hash, reason, message, since: this.#pending?.hash === hash ? this.#pending.since : new Date().toISOString() };
    this.#reloadFailures.inc({ reason });
    this.#configPending.set(1);
    appLog('error', `reload failed, keeping config ${this.#loaded.hash}: ${message}`, { configHash: this.#loaded.hash, ...(hash ? { failedConfigHash: hash } : {}), reason }, this.#options.logSink);
    this.#writeStatus();
    if (reason === 'listenerBind' && !this.#stopped && this.#options.retryFailedBind !== false) {
      if (this.#retry) clearTimeout(this.#retry);
      const delay = Math.min(60_000, 1000 * 2 ** Math.min(this.#retryAttempt++, 6));
      this.#retry = setTimeout(() => {
        this.#retry = null;
        void this.reload();
      }, delay);
      this.#retry.unref();
    }
  }

  /**
   * pendingConfig - the config the hub was told to run but could not apply (hash null when
   * the file itself could not be built), or null when the hub runs what it was last given.
   */
  get pendingConfig(): PendingConfig | null {
    return this.#pending;
  }

  /**
   * ready - not draining, and every listener of the config it was given is open. A new port
   * that could not bind makes the hub not ready: the Service of the new config sends clients
   * to a port nobody listens on here. A config that could not be read (say a bad certificate)
   * does not: every port still serves, under the old config, and turning every pod of the hub
   * unready at once would take the whole hub out of service.
   */
  get ready(): { ready: true } | { ready: false; reason: string } {
    if (this.#stopped) return { ready: false, reason: 'draining' };
    if (this.#pending?.reason === 'listenerBind') return { ready: false, reason: `config ${this.#pending.hash ?? '(invalid)'} not applied, running ${this.#loaded.hash}: ${this.#pending.message}` };
    return { ready: true };
  }

  /** stop - drain listeners, wait up to graceMs for sessions, close the spool. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    for (const file of this.#watched) unwatchFile(file);
    for (const listener of this.#listeners.values()) listener.drain();
    const deadline = Date.now() + graceMs;
    await Promise.all([...this.#listeners.values()].map((l) => l.close(graceMs)));
    this.#listeners.clear();
    // Delivery keeps going for what is left of the grace period; anything undelivered stays
    // queued on disk for the next start.
    await this.#delivery?.stop(Math.max(0, deadline - Date.now()));
    await this.#spool.close();
    await this.#tracking.close();
    appLog('info', 'hub stopped', {}, this.#options.logSink);
  }

  #build(config: RenderedConfig): BuiltRoutes {
    const read = (file: string): Buffer => readFileSync(file);
    const watchedFiles = new Set<string>([this.#options.configFile, `${this.#options.configFile}.gz`]);
    let users: UserDirectory = { users: new Map(), problems: [] };
    if (config.hub.usersFile) {
      users = parseUsers(read(config.hub.usersFile).toString('utf8'), config.hub.usersFile);
      watchedFiles.add(config.hub.usersFile);
      for (const problem of users.problems) appLog('warn', `users: ${problem}`, {}, this.#options.logSink);
    }
    const servers = new Map<string, ConnectorServer>();
    for (const connector of config.connectors) {
      const files = connector.tls.files ?? config.hub.tls;
      if (files) {
        watchedFiles.add(files.certFile);
        watchedFiles.add(files.keyFile);
      }
      if (connector.tls.clientCAFile) watchedFiles.add(connector.tls.clientCAFile);
      const runtime: ConnectorRuntime = {
        connector,
        hub: config.hub,
        acceptedDomains: config.acceptedDomains,
        spool: this.#spool,
        users,
        limiter: this.#limits.limiterFor(connector),
        logonLockout: this.#logonLockout,
        tls: files ? { cert: read(files.certFile), key: read(files.keyFile) } : null,
        clientCA: connector.tls.clientCAFile ? read(connector.tls.clientCAFile) : null,
        metrics: this.metrics,
        ...(this.#options.logSink ? { logSink: this.#options.logSink } : {}),
        ...(this.#options.resolver ? { resolver: this.#options.resolver } : {}),
        dnsCache: this.#dnsCache,
      };
      servers.set(connector.id, createConnectorServer(runtime));
    }
    const byId = new Map<string, ConnectorConfig>(config.connectors.map((c) => [c.id, c]));
    const isTrustedProxy = trustedProxyMatcher(config.hub.trustedProxies);
    const routes = new Map<string, { config: ListenerConfig; route: ListenerRoute }>();
    for (const configured of config.listeners) {
      const listener = this.#options.bindAddress ? { ...configured, bindAddress: this.#options.bindAddress } : configured;
      const connectors = listener.connectorIds.flatMap((id) => {
        const c = byId.get(id);
        return c ? [{ id: c.id, createdAt: c.createdAt, ranges: c.remoteIPRanges }] : [];
      });
      const { index, conflicts } = buildListenerIndex(connectors);
      for (const conflict of conflicts) appLog('warn', `listener ${listener.endpoint}: ${conflict.message}`, {}, this.#options.logSink);
      routes.set(listenerKey(listener), {
        config: listener,
        route: { index, connectors: servers, isTrustedProxy, hubFqdn: config.hub.fqdn },
      });
    }
    // 0.0.0.0:25 plus a dedicated IP:25 (Exchange's usual layout): one socket, routed by local address.
    return { routes: foldSharedPorts(routes), watchedFiles: [...watchedFiles] };
  }

  #clearPending(): void {
    this.#pending = null;
    this.#retryAttempt = 0;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#configPending.set(0);
    this.#writeStatus();
  }

  #afterLoad(loaded: LoadedConfig, built: BuiltRoutes): void {
    this.#loaded = loaded;
    this.#pending = null;
    this.#retryAttempt = 0;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#configPending.set(0);
    this.#limits.retain(loaded.config.connectors.map((c) => c.id));
    this.#logonLockout.update(loaded.config.hub.logonLockout);
    this.#spool.setMinFreeBytes(spoolReserve(this.#options, loaded.config));
    this.#tracking.update(normalizeTrackingLog(loaded.config.hub.trackingLog));
    this.metrics.configInfo.reset();
    this.metrics.configInfo.set({ hash: loaded.hash }, 1);
    this.#watch(built.watchedFiles);
    this.#writeStatus();
    this.#options.onConfigApplied?.(loaded.hash);
  }

  #watch(files: string[]): void {
    const interval = this.#options.watchIntervalMs ?? 2000;
    for (const file of this.#watched) unwatchFile(file);
    this.#watched = [];
    if (interval <= 0) return;
    for (const file of files) {
      watchFile(file, { interval, persistent: false }, (current, previous) => {
        if (current.mtimeMs !== previous.mtimeMs || current.size !== previous.size || current.ino !== previous.ino) {
          void this.reload({ force: !file.startsWith(this.#options.configFile) });
        }
      });
      this.#watched.push(file);
    }
  }

  #writeStatus(): void {
    const file = this.#options.statusFile ?? `${this.#options.spoolDir}/status.json`;
    const status = {
      hub: this.#loaded.config.hub.name,
      configHash: this.#loaded.hash,
      pid: process.pid,
      updatedAt: new Date().toISOString(),
      listeners: this.#loaded.config.listeners.map((l) => ({ endpoint: l.endpoint, connectors: l.connectorIds })),
      ready: this.ready.ready,
      pendingConfig: this.#pending,
    };
    writeFileSync(`${file}.tmp`, `${JSON.stringify(status, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  }
}

/*
 * operator/runtime/leader-election - one active operator replica, elected through a
 * coordination.k8s.io/v1 Lease (client-go's leaderelection with a LeaseLock).
 *
 * run(): try to acquire every retryPeriod (jittered up to x2.2 like client-go) until the lease
 * is free or expired, call onStartedLeading, then renew every retryPeriod. A lease held by
 * another identity counts as expired only when its record (holder, renewTime) has not changed
 * for its leaseDurationSeconds as measured by OUR monotonic clock since we first saw that
 * record: the remote renewTime is never compared with local time (clock skew). Writes are
 * replaces carrying resourceVersion, so racing candidates get 409 and lose.
 * Leadership is lost when no renew succeeded for renewDeadline (a hung request counts as
 * failed): onStoppedLeading('lost') - the caller must stop its controllers and exit the
 * process (controller-runtime: "leader election lost"). stop() releases the lease
 * (holderIdentity '', leaseDurationSeconds 1) so a standby takes over at its next retry, then
 * calls onStoppedLeading('stopped'). Defaults: lease 15 s, renew deadline 10 s, retry 2 s.
 * Gauge leader_election_master_status{name}; diagnostics relay:runtime:leader.
 * RBAC: leases get, create, update in the lease namespace. Lease writes are not counted in
 * relay_operator_api_writes_total (they would hide reconcile writes).
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { ApiException, CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease, type V1LeaseSpec } from '@kubernetes/client-node';
import { defaultRegistry, leaderElectionMetric, type Registry } from './metrics.ts';
import { leaderChannel, publish, type LeaderMessage } from './diagnostics.ts';
import { RuntimeArgumentError, requirePositive } from './errors.ts';

export interface LeaderElectorOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** Lease name, also the `name` label of leader_election_master_status. */
  name: string;
  /** Default `${hostname}_${uuid}`. */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  registry?: Registry;
  onStartedLeading: () => void;
  /** 'lost': renewals failed for renewDeadline - exit the process. 'stopped': stop() was called. */
  onStoppedLeading: (reason: 'lost' | 'stopped') => void;
  onNewLeader?: (identity: string) => void;
}

function isStatus(error: unknown, code: number): boolean {
  return error instanceof ApiException && error.code === code;
}

export class LeaderElector {
  readonly identity: string;
  readonly #o: LeaderElectorOptions;
  readonly #api: CoordinationV1Api;
  readonly #leaseSeconds: number;
  readonly #renewDeadlineMs: number;
  readonly #retryMs: number;
  readonly #gauge: ReturnType<typeof leaderElectionMetric>;
  #observed = '';
  #observedAt = 0;
  #holder = '';
  #leading = false;
  #held = false;
  #stopped = false;
  #run: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(options: LeaderElectorOptions) {
    const leaseMs = requirePositive('leaseDurationMs', options.leaseDurationMs ?? 15_000);
    this.#renewDeadlineMs = requirePositive('renewDeadlineMs', options.renewDeadlineMs ?? 10_000);
    this.#retryMs = requirePositive('retryPeriodMs', options.retryPeriodMs ?? 2_000);
    if (leaseMs <= this.#renewDeadlineMs) throw new RuntimeArgumentError('leaseDurationMs must be greater than renewDeadlineMs');
    if (this.#renewDeadlineMs <= 1.2 * this.#retryMs) throw new RuntimeArgumentError('renewDeadlineMs must be greater than 1.2 x retryPeriodMs');
    this.#o = options;
    this.identity = options.identity ?? `${hostname()}_${randomUUID()}`;
    this.#leaseSeconds = Math.max(1, Math.ceil(leaseMs / 1000));
    this.#api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#gauge = leaderElectionMetric(options.registry ?? defaultRegistry);
    this.#gauge.set({ name: options.name }, 0);
  }

  isLeader(): boolean {
    return this.#leading;
  }

  /** run - campaign, then lead until the lease is lost or stop(); resolves when that happens. */
  run(): Promise<void> {
    this.#run ??= this.#campaign();
    return this.#run;
  }

  /** stop - end the campaign; if leading, release the lease (unless release: false) and step down. */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#run;
    if (this.#held && options.release !== false) await this.#release();
    this.#held = false;
    this.#stepDown('stopped');
  }

  async #campaign(): Promise<void> {
    while (!this.#stopped && !this.#held) {
      if (await this.#attempt()) this.#held = true;
      else await this.#sleep(this.#retryMs * (1 + Math.random() * 1.2));
    }
    if (this.#stopped) return;
    this.#leading = true;
    this.#gauge.set({ name: this.#o.name }, 1);
    this.#publish({ event: 'startedLeading' });
    this.#o.onStartedLeading();
    let lastRenew = performance.now();
    while (!this.#stopped) {
      await this.#sleep(this.#retryMs);
      if (this.#stopped) return;
      const left = lastRenew + this.#renewDeadlineMs - performance.now();
      if (left > 0 && (await this.#attempt(left))) lastRenew = performance.now();
      else if (performance.now() - lastRenew >= this.#renewDeadlineMs) break;
    }
    if (this.#stopped) return;
    this.#held = false;
    this.#stepDown('lost');
  }

  /** One tryAcquireOrRenew, false on failure or timeout (never throws). */
  async #attempt(timeoutMs?: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      if (timeoutMs !== undefined) timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.#tryAcquireOrRenew(), timeout]);
    } catch (error) {
      this.#publish({ event: 'renewFailed', error });
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace } = this.#o;
    const now = new V1MicroTime();
    let lease: V1Lease | undefined;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (!isStatus(error, 404)) throw error;
    }
    if (!lease) {
      const spec: V1LeaseSpec = { holderIdentity: this.identity, leaseDurationSeconds: this.#leaseSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 };
      try {
        this.#observe((await this.#api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } })).spec);
        return true;
      } catch (error) {
        if (isStatus(error, 409)) return false;
        throw error;
      }
    }
    const old = lease.spec ?? {};
    this.#observe(old);
    const holder = old.holderIdentity ?? '';
    const durationMs = (old.leaseDurationSeconds ?? this.#leaseSeconds) * 1000;
    if (holder !== '' && holder !== this.identity && performance.now() < this.#observedAt + durationMs) return false;
    const taking = holder !== this.identity;
    lease.spec = {
      ...old, holderIdentity: this.identity, leaseDurationSeconds: this.#leaseSeconds, renewTime: now,
      acquireTime: taking ? now : old.acquireTime, leaseTransitions: (old.leaseTransitions ?? 0) + (taking ? 1 : 0),
    };
    try {
      this.#observe((await this.#api.replaceNamespacedLease({ name, namespace, body: lease })).spec);
      return true;
    } catch (error) {
      if (isStatus(error, 409)) return false;
      throw error;
    }
  }

  /** Remember when (locally) the lease record last changed; report a new holder. */
  #observe(spec: V1LeaseSpec | undefined): void {
    const record = JSON.stringify({ h: spec?.holderIdentity ?? '', r: spec?.renewTime, d: spec?.leaseDurationSeconds });
    if (record === this.#observed) return;
    this.#observed = record;
    this.#observedAt = performance.now();
    const holder = spec?.holderIdentity ?? '';
    if (holder === this.#holder) return;
    this.#holder = holder;
    if (holder === '') return;
    this.#publish({ event: 'newLeader', holder });
    this.#o.onNewLeader?.(holder);
  }

  async #release(): Promise<void> {
    const { name, namespace } = this.#o;
    try {
      const lease = await this.#api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = new V1MicroTime();
      lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now };
      await this.#api.replaceNamespacedLease({ name, namespace, body: lease });
      this.#publish({ event: 'released' });
    } catch (error) {
      this.#publish({ event: 'renewFailed', error });
    }
  }

  #stepDown(reason: 'lost' | 'stopped'): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#gauge.set({ name: this.#o.name }, 0);
    this.#publish({ event: 'stoppedLeading' });
    this.#o.onStoppedLeading(reason);
  }

  #publish(message: Omit<LeaderMessage, 'lease' | 'identity'>): void {
    publish<LeaderMessage>(leaderChannel, { lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.identity, ...message });
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#wake?.(), ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }
}

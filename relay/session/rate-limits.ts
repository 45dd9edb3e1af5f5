/*
 * relay/session/rate-limits - per-connector connection and message-rate limits, and the tarpit.
 *
 * Job: count concurrent connections per connector (total and per source), apply Exchange's
 * MaxInboundConnectionPercentagePerSource (a source may hold at most N% of the connections
 * still available, never less than one), and a sliding one-minute message rate per source
 * key (client IP, user, or both, per limits.messageRateSource). Refusals carry a stable reason
 * and the api.md replies (replies.ts): `421 4.7.0` for connections, `451 4.7.0` for messages.
 * Trust: the source is the client address after PROXY handling. IPv6 clients are keyed by
 * their /64 (ipv6PrefixLength) so one host cannot dodge the per-source limit by hopping
 * addresses; IPv4-mapped IPv6 counts as IPv4. Limits of 0 mean unlimited.
 * Failure modes: in memory and per process (each relay pod counts its own). A lease released
 * twice is counted once. Idle rate windows are swept, so memory follows active sources only.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { WORDS, formatAddress, maskHostBits, parseClientAddress } from '../common/addresses.ts';
import type { ConnectorConfig, ConnectorLimits } from '../config/schema.ts';
import { memoizeByAddress } from './address-memo.ts';
import { qualifiedRefusal, REPLIES, type Refusal } from './replies.ts';

/** 421 4.7.0 for a connection or after too many failed logons, 451 4.7.0 for a message (replies.ts). */
export type RateRefusal = Refusal;
export type ConnectionDecision = { ok: true; source: string; release: () => void } | RateRefusal;
export type MessageDecision = { ok: true } | RateRefusal;

export interface MessageSource {
  clientAddress: string;
  /** The authenticated user; without one, the User key falls back to the MAIL FROM address. */
  user?: string;
  mailFrom?: string;
}

const WINDOW_MS = 60_000;

/** `192.0.2.1`, or `2001:db8:1:2::/64` for IPv6 (prefix configurable). */
export function sourceKey(address: string, ipv6PrefixLength = 64): string {
  const words = new Uint32Array(WORDS);
  const family = parseClientAddress(address, words);
  if (family === 0) return address;
  if (family === 4) return formatAddress(4, words);
  maskHostBits(words, 0, 128 - ipv6PrefixLength, false);
  return `${formatAddress(6, words)}/${ipv6PrefixLength}`;
}

/** Sliding-window timestamps of one key, oldest first. */
class Window {
  times: number[] = [];
  head = 0;
  count(now: number): number {
    while (this.head < this.times.length && (this.times[this.head] as number) <= now - WINDOW_MS) this.head++;
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return this.times.length - this.head;
  }
  newest(): number {
    return this.times[this.times.length - 1] ?? 0;
  }
}

export class ConnectorRateLimiter {
  #limits: ConnectorLimits;
  /** sourceKey with this limiter's prefix length, memoized per client address. */
  readonly #sourceKey: (address: string) => string;
  #total = 0;
  readonly #perSource = new Map<string, number>();
  readonly #windows = new Map<string, Window>();
  #lastSweep = 0;

  constructor(limits: ConnectorLimits, options: { ipv6PrefixLength?: number } = {}) {
    this.#limits = limits;
    const prefixLength = options.ipv6PrefixLength ?? 64;
    this.#sourceKey = memoizeByAddress((address) => sourceKey(address, prefixLength));
  }

  /** New limits after a config reload; counts carry over. */
  updateLimits(limits: ConnectorLimits): void {
    this.#limits = limits;
  }

  get total(): number {
    return this.#total;
  }
  connectionsFrom(address: string): number {
    return this.#perSource.get(this.#sourceKey(address)) ?? 0;
  }

  /** Call on connect; on `ok`, call release() exactly when the connection closes. */
  openConnection(clientAddress: string): ConnectionDecision {
    const l = this.#limits;
    const source = this.#sourceKey(clientAddress);
    const held = this.#perSource.get(source) ?? 0;
    if (l.maxInboundConnections > 0 && this.#total >= l.maxInboundConnections) {
      return REPLIES.maxInboundConnections;
    }
    if (l.maxInboundConnectionsPerSource > 0 && held >= l.maxInboundConnectionsPerSource) {
      return REPLIES.maxInboundConnectionsPerSource;
    }
    const pct = l.maxInboundConnectionPercentagePerSource;
    if (l.maxInboundConnections > 0 && pct > 0 && pct < 100) {
      const available = l.maxInboundConnections - this.#total;
      const allowed = Math.max(1, Math.floor((available * pct) / 100));
      if (held >= allowed) return REPLIES.maxInboundConnectionPercentagePerSource;
    }
    this.#total++;
    this.#perSource.set(source, held + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#total--;
      const left = (this.#perSource.get(source) ?? 1) - 1;
      if (left > 0) this.#perSource.set(source, left);
      else this.#perSource.delete(source);
    };
    return { ok: true, source, release };
  }

  /** The rate keys a message counts against, per limits.messageRateSource. */
  messageKeys(from: MessageSource): string[] {
    const ip = `ip:${this.#sourceKey(from.clientAddress)}`;
    const who = from.user !== undefined ? `user:${from.user}` : `sender:${(from.mailFrom ?? '').toLowerCase()}`;
    switch (this.#limits.messageRateSource) {
      case 'User':
        return [who];
      case 'All':
        return [ip, who];
      default:
        return [ip];
    }
  }

  /** Call once per message (at MAIL FROM). Counts it only when allowed. */
  checkMessage(from: MessageSource, now = Date.now()): MessageDecision {
    const limit = this.#limits.messageRateLimit;
    if (limit <= 0) return { ok: true };
    this.#sweep(now);
    const keys = this.messageKeys(from);
    const windows = keys.map((key) => {
      let w = this.#windows.get(key);
      if (!w) this.#windows.set(key, (w = new Window()));
      return w;
    });
    for (const [i, w] of windows.entries()) {
      if (w.count(now) >= limit) {
        const kind = (keys[i] as string).slice(0, (keys[i] as string).indexOf(':'));
        return qualifiedRefusal(REPLIES.messageRateLimit, kind);
      }
    }
    for (const w of windows) w.times.push(now);
    return { ok: true };
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < WINDOW_MS) return;
    this.#lastSweep = now;
    for (const [key, w] of this.#windows) if (w.newest() <= now - WINDOW_MS) this.#windows.delete(key);
  }

  /** Keys with a live rate window (for tests and metrics). */
  get trackedRateKeys(): number {
    return this.#windows.size;
  }
}

/** One limiter per connector id; limits follow config reloads. */
export class RateLimitRegistry {
  readonly #byConnector = new Map<string, ConnectorRateLimiter>();
  readonly #options: { ipv6PrefixLength?: number };

  constructor(options: { ipv6PrefixLength?: number } = {}) {
    this.#options = options;
  }

  limiterFor(connector: ConnectorConfig): ConnectorRateLimiter {
    let limiter = this.#byConnector.get(connector.id);
    if (limiter) limiter.updateLimits(connector.limits);
    else this.#byConnector.set(connector.id, (limiter = new ConnectorRateLimiter(connector.limits, this.#options)));
    return limiter;
  }

  /** After a reload: forget connectors that are gone (their open leases still release safely). */
  retain(connectorIds: Iterable<string>): void {
    const keep = new Set(connectorIds);
    for (const id of this.#byConnector.keys()) if (!keep.has(id)) this.#byConnector.delete(id);
  }
}

/** Pause a session (after a failed logon, or before the greeting); abortable when it closes. */
export async function tarpit(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return;
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (err) {
    if ((err as { name?: string }).name !== 'AbortError') throw err;
  }
}

/** After `failures` failed AUTH attempts: how long to tarpit, and whether to disconnect. */
export function logonFailureDecision(
  failures: number,
  limits: Pick<ConnectorLimits, 'maxLogonFailures' | 'tarpitIntervalMs'>,
): { tarpitMs: number; disconnect: RateRefusal | null } {
  const disconnect =
    limits.maxLogonFailures > 0 && failures >= limits.maxLogonFailures
      ? REPLIES.maxLogonFailures
      : null;
  return { tarpitMs: failures > 0 ? limits.tarpitIntervalMs : 0, disconnect };
}

/**
 * Hub-wide logon lockout (RelayHub spec.users.lockout): MaxLogonFailures above is per session,
 * so an attacker who reconnects, or holds many connections, was never slowed by it. These count
 * failed AUTH attempts across every session and connector of the hub.
 */
export interface LogonLockoutSettings {
  /** Failures from one source (sourceKey: an IPv4 address, an IPv6 /64) that lock it out; 0 = off. */
  maxFailuresPerSource: number;
  /** Failures for one user name (known or not) that lock it out; 0 = off. */
  maxFailuresPerUser: number;
  /** Failures count over this sliding window, and a lockout lasts this long. */
  windowMs: number;
}

/**
 * Defaults: one address gets 10 guesses per 15 minutes (40 an hour, against about 14 a second
 * before), a name 30 from all sources together; a person mistyping a password a few times, or
 * an office behind one NAT address, stays well under both.
 */
export const LOGON_LOCKOUT_DEFAULTS: LogonLockoutSettings = { maxFailuresPerSource: 10, maxFailuresPerUser: 30, windowMs: 15 * 60_000 };

/** How long a source stays trusted for a user after it authenticated as that user. */
const KNOWN_SOURCE_MS = 24 * 60 * 60_000;
/** Most keys held per table; past it the oldest go first, so a flood of names cannot grow memory. */
const MAX_LOCKOUT_KEYS = 100_000;

/** 454 4.7.0; reason logonLockout:source or logonLockout:user (logs and metrics only; the reply says neither). */
export type LogonLockoutRefusal = Refusal;

/** Failures of one key within the window, and when its lockout ends. */
interface FailureRecord {
  times: number[];
  lockedUntil: number;
}

/**
 * LogonLockout - after maxFailuresPerSource failures from one source, or maxFailuresPerUser for
 * one user name, within windowMs, AUTH from that source or for that name is refused for windowMs
 * from the failure that reached the limit, with `454 4.7.0 Temporary authentication failure, try
 * again later`, before any password is checked: the reply is the same for either lockout and for
 * a name that does not exist, and a correct password gets it too (so a locked-out attacker learns
 * nothing). 454, not 535: the credentials were not looked at, and a client told 535 may stop
 * retrying or ask its user for a new password.
 * Known sources: a user's lockout does not apply to a source that authenticated as that user in
 * the last 24 hours, so guessing at a name from elsewhere cannot lock its owner out of the
 * places it uses (a source's own lockout still applies to it).
 * Only wrong names or passwords count; success resets nothing (an attacker holding one account
 * could otherwise clear its source's count between guesses at others).
 * Failure modes: in memory and per process, like the limits above; a restart forgets.
 */
export class LogonLockout {
  #settings: LogonLockoutSettings;
  readonly #sourceKey: (address: string) => string;
  readonly #bySource = new Map<string, FailureRecord>();
  readonly #byUser = new Map<string, FailureRecord>();
  /** `user\0source` -> last successful AUTH. */
  readonly #known = new Map<string, number>();
  #lastSweep = 0;

  constructor(settings: Partial<LogonLockoutSettings> = {}, options: { ipv6PrefixLength?: number } = {}) {
    this.#settings = { ...LOGON_LOCKOUT_DEFAULTS, ...settings };
    const prefixLength = options.ipv6PrefixLength ?? 64;
    this.#sourceKey = memoizeByAddress((address) => sourceKey(address, prefixLength));
  }

  /** New settings after a config reload; counts carry over. */
  update(settings: Partial<LogonLockoutSettings> = {}): void {
    this.#settings = { ...LOGON_LOCKOUT_DEFAULTS, ...settings };
  }
  get settings(): LogonLockoutSettings {
    return this.#settings;
  }

  /** Before a password is checked: a refusal while the source or the name is locked out. */
  check(clientAddress: string, user: string, now = Date.now()): LogonLockoutRefusal | null {
    this.#sweep(now);
    const source = this.#sourceKey(clientAddress);
    if ((this.#bySource.get(source)?.lockedUntil ?? 0) > now) return qualifiedRefusal(REPLIES.logonLockout, 'source');
    if ((this.#byUser.get(user)?.lockedUntil ?? 0) > now && !this.#isKnown(user, source, now)) return qualifiedRefusal(REPLIES.logonLockout, 'user');
    return null;
  }

  /** After a wrong name or password. */
  recordFailure(clientAddress: string, user: string, now = Date.now()): void {
    const s = this.#settings;
    count(this.#bySource, this.#sourceKey(clientAddress), s.maxFailuresPerSource, s.windowMs, now);
    count(this.#byUser, user, s.maxFailuresPerUser, s.windowMs, now);
  }

  /** After a successful AUTH: the source becomes known for that user. */
  recordSuccess(clientAddress: string, user: string, now = Date.now()): void {
    const key = `${user}\0${this.#sourceKey(clientAddress)}`;
    this.#known.delete(key);
    this.#known.set(key, now);
    trim(this.#known);
  }

  /**
   * hasRecentFailures - whether the source failed an AUTH within the window (or is locked out):
   * its checks wait behind those of clean sources in the password pool, so a guessing source
   * does not delay the clients that type their password right.
   */
  hasRecentFailures(clientAddress: string, now = Date.now()): boolean {
    const r = this.#bySource.get(this.#sourceKey(clientAddress));
    return r !== undefined && (r.lockedUntil > now || r.times.some((t) => t > now - this.#settings.windowMs));
  }

  /** Keys held (for tests and metrics). */
  get trackedKeys(): number {
    return this.#bySource.size + this.#byUser.size + this.#known.size;
  }

  #isKnown(user: string, source: string, now: number): boolean {
    const at = this.#known.get(`${user}\0${source}`);
    return at !== undefined && at > now - KNOWN_SOURCE_MS;
  }

  #sweep(now: number): void {
    const windowMs = this.#settings.windowMs;
    if (now - this.#lastSweep < Math.min(windowMs, WINDOW_MS)) return;
    this.#lastSweep = now;
    for (const table of [this.#bySource, this.#byUser]) {
      for (const [key, r] of table) if (r.lockedUntil <= now && (r.times[r.times.length - 1] ?? 0) <= now - windowMs) table.delete(key);
    }
    for (const [key, at] of this.#known) if (at <= now - KNOWN_SOURCE_MS) this.#known.delete(key);
  }
}

function count(table: Map<string, FailureRecord>, key: string, limit: number, windowMs: number, now: number): void {
  // Counted also when the lockout is off: hasRecentFailures orders the password queue by it.
  let r = table.get(key);
  if (!r) {
    table.set(key, (r = { times: [], lockedUntil: 0 }));
    trim(table);
  }
  r.times = r.times.filter((t) => t > now - windowMs);
  r.times.push(now);
  if (limit > 0 && r.times.length >= limit) {
    // Locked for a whole window from here; the count starts again after it.
    r.lockedUntil = now + windowMs;
    r.times = [];
  }
}

function trim(table: Map<string, unknown>): void {
  while (table.size > MAX_LOCKOUT_KEYS) {
    const oldest = table.keys().next();
    if (oldest.done) return;
    table.delete(oldest.value);
  }
}

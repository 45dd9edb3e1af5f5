/*
 * relay/delivery/host-health - next-hop hosts that could not be reached, remembered a while.
 *
 * WHY       Without it every queued message pays a connect timeout against a host that is
 *           down, holding a destination slot while it waits. Postfix's qmgr marks such a
 *           destination dead and leaves it alone for minimal_backoff_time; Exchange puts the
 *           next-hop queue in Retry.
 * RULES     A host (address and port, whatever the connector) is down after FAILURES_TO_MARK
 *           failures in a row to get a session with it, with no session opened in between
 *           (Postfix's failed cohort: one refusal among working sessions, such as a 421 "too
 *           many connections", is not enough). What counts (isHostDownFailure): the connection
 *           refused, timed out or unreachable, or a 4xx reply before the session was up
 *           (greeting, EHLO). A 5xx greeting bounces each message on its own; TLS, AUTH and
 *           local errors (out of sockets or ports) are not the host being down.
 *           It stays down for `downMs` (the queue's minBackoff, less its jitter), unless a
 *           session is opened to it before that. While down, an attempt skips it as if it had
 *           failed the same way: the next host is tried, or the recipients are deferred, with
 *           a reply that says why.
 * COMEBACK  A host that failed to give a session (once is enough) is probed every
 *           probeIntervalMs: a TCP connection and its greeting, then QUIT. A 2xx greeting, or
 *           a session opened by an ordinary attempt, ends the down period at once and calls
 *           onUp with the host, so the queue retries the messages waiting on it within
 *           seconds rather than after the full backoff (Postfix waits for the backoff; a
 *           relay for printers and applications should not). A host is probed until it
 *           answers or until its last failure is older than forgetAfterMs (the queue's
 *           maxBackoff: every message waiting on it has had another attempt by then).
 * MEMORY    In memory and per process; a restart forgets. Entries whose period is over are
 *           dropped whenever a host is marked.
 */
import { connect } from 'node:net';
import type { StepFailure } from './smtp-transaction.ts';

export const FAILURES_TO_MARK = 2;

/** Socket errors that mean the host (or the way to it) is not there; nodemailer's timeouts too. */
const HOST_DOWN_ERRNO = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ECONNRESET']);

/** isHostDownFailure - does this failure to get a session count against the host? */
export function isHostDownFailure(failure: StepFailure): boolean {
  if (failure.phase !== 'connect') return false;
  if (failure.code !== null) return failure.code >= 400 && failure.code < 500;
  return failure.errno !== undefined && HOST_DOWN_ERRNO.has(failure.errno);
}

export interface HostDown {
  untilMs: number;
  /** The failure that marked the host down. */
  failure: StepFailure;
}

/** A next-hop host as the prober reaches it, and as onUp names it. */
export interface ProbeTarget {
  /** The name the recipients' state carries as remoteMta. */
  name: string;
  address: string;
  port: number;
}

export interface HostProbeOptions {
  intervalMs: number;
  /** Stop probing a host whose last failure is older than this (read at each round). */
  forgetAfterMs: () => number;
  /** A host answers again: a probe got its greeting, or an attempt opened a session. */
  onUp: (target: ProbeTarget) => void;
  /** Default: probeGreeting (TCP, a 2xx greeting). */
  probe?: (target: ProbeTarget, timeoutMs: number) => Promise<boolean>;
}

export class HostHealth {
  readonly #down = new Map<string, HostDown>();
  readonly #failures = new Map<string, number>();
  /** Hosts whose last try to get a session failed, by key: probed until they answer. */
  readonly #failing = new Map<string, { target: ProbeTarget; lastFailureMs: number }>();
  readonly #probing = new Set<string>();
  readonly #now: () => number;
  readonly #probe: HostProbeOptions | null;
  #timer: NodeJS.Timeout | null = null;

  constructor(now: () => number = Date.now, probe: HostProbeOptions | null = null) {
    this.#now = now;
    this.#probe = probe;
  }

  /** down - why the host is down and until when, or null when it may be tried. */
  down(host: string): HostDown | null {
    const entry = this.#down.get(host);
    if (!entry) return null;
    if (entry.untilMs > this.#now()) return entry;
    this.#down.delete(host);
    return null;
  }

  /** recordFailure - a failure to get a session; the new entry when this one marked the host down, else null. */
  recordFailure(host: string, failure: StepFailure, downMs: number, target?: ProbeTarget): HostDown | null {
    if (target && isHostDownFailure(failure)) {
      this.#failing.set(host, { target, lastFailureMs: this.#now() });
      this.#armProbe();
    }
    if (downMs <= 0 || !isHostDownFailure(failure) || this.down(host) !== null) return null;
    const failures = (this.#failures.get(host) ?? 0) + 1;
    this.#failures.set(host, failures);
    if (failures < FAILURES_TO_MARK) return null;
    this.#prune();
    const entry = { untilMs: this.#now() + downMs, failure };
    this.#down.set(host, entry);
    this.#failures.delete(host); // after the period it gets a fresh count
    return entry;
  }

  /** markUp - a session was opened; true when the host had been down. */
  markUp(host: string): boolean {
    this.#failures.delete(host);
    const failing = this.#failing.get(host);
    this.#failing.delete(host);
    const wasDown = this.#down.delete(host);
    if (failing) this.#probe?.onUp(failing.target);
    return wasDown;
  }

  /** forgetAll - every host may be tried at once (an administrator's retry); probing goes on. */
  forgetAll(): void {
    this.#down.clear();
    this.#failures.clear();
  }

  /** stopProbing - no further probe rounds (the agent is shutting down). */
  stopProbing(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#failing.clear();
  }

  #armProbe(): void {
    if (!this.#probe || this.#timer || this.#failing.size === 0) return;
    const { intervalMs } = this.#probe;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#probeRound();
      this.#armProbe();
    }, intervalMs);
    this.#timer.unref();
  }

  #probeRound(): void {
    const probe = this.#probe as HostProbeOptions;
    const oldest = this.#now() - probe.forgetAfterMs();
    for (const [key, { target, lastFailureMs }] of this.#failing) {
      if (lastFailureMs < oldest) {
        this.#failing.delete(key);
        continue;
      }
      if (this.#probing.has(key)) continue;
      this.#probing.add(key);
      void (probe.probe ?? probeGreeting)(target, probe.intervalMs)
        .then((answers) => {
          if (answers && this.#failing.has(key)) this.markUp(key);
        })
        .finally(() => this.#probing.delete(key));
    }
  }

  /** Hosts down now. */
  get downCount(): number {
    this.#prune();
    return this.#down.size;
  }

  #prune(): void {
    const now = this.#now();
    for (const [host, entry] of this.#down) if (entry.untilMs <= now) this.#down.delete(host);
  }
}

/** skippedFailure - the failure an attempt reports for a host it did not try because it is down. */
export function skippedFailure(hostLabel: string, down: HostDown): StepFailure {
  const until = new Date(down.untilMs).toISOString();
  return { phase: 'connect', code: down.failure.code, reply: `${hostLabel} not tried: down until ${until} after: ${down.failure.reply}` };
}

/** probeGreeting - true when the host accepts a TCP connection and greets with 2xx within timeoutMs. */
export function probeGreeting(target: ProbeTarget, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.address, port: target.port });
    let greeting = '';
    let settled = false;
    const done = (answers: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (answers) socket.end('QUIT\r\n');
      else socket.destroy();
      resolve(answers);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      greeting += chunk;
      // the last line of a multi-line greeting is `220 text`, the others `220-text`
      const last = /^(\d{3}) .*\r?\n/m.exec(greeting);
      if (last) done((last[1] ?? '').startsWith('2'));
      else if (greeting.length > 4096) done(false);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

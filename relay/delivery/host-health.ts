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
 * MEMORY    In memory and per process; a restart forgets. Entries whose period is over are
 *           dropped whenever a host is marked.
 */
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

export class HostHealth {
  readonly #down = new Map<string, HostDown>();
  readonly #failures = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
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
  recordFailure(host: string, failure: StepFailure, downMs: number): HostDown | null {
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
    return this.#down.delete(host);
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

/*
 * relay/delivery/host-health - next-hop hosts that could not be reached, remembered a while.
 *
 * WHY       Without it every queued message pays a connect timeout against a host that is
 *           down, holding a destination slot while it waits. Postfix's qmgr marks such a
 *           destination dead and leaves it alone for minimal_backoff_time; Exchange puts the
 *           next-hop queue in Retry.
 * RULES     A host (address and port, whatever the connector) is down after a failure to get
 *           a session with it: refused, timed out, no greeting, a 4xx/5xx greeting, EHLO
 *           refused (phase `connect`). It stays down for `downMs` (the queue's minBackoff),
 *           unless a session is opened to it before that (another connector, the end of the
 *           period). While down, an attempt skips it as if it had failed the same way: the
 *           next host is tried, or the recipients are deferred, with a reply that says why.
 *           TLS and AUTH failures are the connector's business, not the host's: no mark.
 * MEMORY    In memory and per process; a restart forgets (the first attempt finds out again).
 */
import type { StepFailure } from './smtp-transaction.ts';

export interface HostDown {
  untilMs: number;
  /** The failure that marked the host down. */
  failure: StepFailure;
}

export class HostHealth {
  readonly #down = new Map<string, HostDown>();
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

  /** markDown - after a failure to get a session; true when the host was not down already. */
  markDown(host: string, failure: StepFailure, downMs: number): boolean {
    if (downMs <= 0) return false;
    const fresh = this.down(host) === null;
    this.#down.set(host, { untilMs: this.#now() + downMs, failure });
    return fresh;
  }

  /** markUp - a session was opened; true when the host had been down. */
  markUp(host: string): boolean {
    return this.#down.delete(host);
  }

  /** Hosts down now. */
  get downCount(): number {
    const now = this.#now();
    let n = 0;
    for (const entry of this.#down.values()) if (entry.untilMs > now) n += 1;
    return n;
  }
}

/** skippedFailure - the failure an attempt reports for a host it did not try because it is down. */
export function skippedFailure(hostLabel: string, down: HostDown): StepFailure {
  const until = new Date(down.untilMs).toISOString();
  return { phase: 'connect', code: down.failure.code, reply: `${hostLabel} not tried: down until ${until} after: ${down.failure.reply}` };
}

/*
 * relay/delivery/smtp-pool - connection reuse per next hop, and per-destination concurrency.
 *
 * SmtpConnectionPool keeps idle, authenticated nodemailer SMTPConnections per key (connector,
 * address, port and the connector's TLS/auth settings), for at most idleMs and maxMessages
 * messages each (Postfix's connection cache: smtp_connection_cache_time_limit). A connection
 * the peer closed, or that failed, is never handed out again. destroyAll() closes idle and
 * busy connections at once: stop() uses it to abandon deliveries in flight.
 * DestinationLimiter caps the transactions in flight per destination (a smart-host connector
 * or one MX domain; Postfix's default_destination_concurrency_limit), FIFO.
 */
import type SMTPConnection from 'nodemailer/lib/smtp-connection';

export interface PooledSmtp {
  conn: SMTPConnection;
  key: string;
  messages: number;
  dead: boolean;
  /** The peer announced DSN in its EHLO reply. */
  peerDsn: boolean;
}

export class SmtpConnectionPool {
  readonly #idleMs: number;
  readonly #maxMessages: number;
  readonly #idle = new Map<string, PooledSmtp[]>();
  readonly #busy = new Set<PooledSmtp>();
  readonly #timers = new Map<PooledSmtp, NodeJS.Timeout>();
  #closed = false;

  constructor(options: { idleMs: number; maxMessages: number }) {
    this.#idleMs = options.idleMs;
    this.#maxMessages = options.maxMessages;
  }

  /** watch - mark a new connection dead when it errors or ends (must be called once per connection). */
  watch(pooled: PooledSmtp): void {
    const die = (): void => {
      pooled.dead = true;
      this.#forget(pooled);
    };
    pooled.conn.on('error', die);
    pooled.conn.once('end', die);
    this.#busy.add(pooled);
  }

  /** take - an idle live connection for `key`, now busy; null when there is none. */
  take(key: string): PooledSmtp | null {
    const list = this.#idle.get(key);
    while (list && list.length > 0) {
      const pooled = list.pop() as PooledSmtp;
      this.#clearTimer(pooled);
      if (pooled.dead) continue;
      this.#busy.add(pooled);
      return pooled;
    }
    return null;
  }

  /** give - a busy connection back: kept idle when reusable, else closed. */
  give(pooled: PooledSmtp, reusable: boolean): void {
    this.#busy.delete(pooled);
    if (!reusable || pooled.dead || this.#closed || pooled.messages >= this.#maxMessages || this.#idleMs <= 0) {
      this.#close(pooled);
      return;
    }
    const list = this.#idle.get(pooled.key) ?? [];
    list.push(pooled);
    this.#idle.set(pooled.key, list);
    const timer = setTimeout(() => {
      this.#forget(pooled);
      this.#close(pooled);
    }, this.#idleMs);
    timer.unref();
    this.#timers.set(pooled, timer);
  }

  /** closeIdle - QUIT every idle connection (keys no longer configured, shutdown). */
  closeIdle(): void {
    for (const list of this.#idle.values()) for (const pooled of list) this.#close(pooled);
    this.#idle.clear();
  }

  /** destroyAll - close everything, busy connections included; nothing is kept afterwards. */
  destroyAll(): void {
    this.#closed = true;
    this.closeIdle();
    for (const pooled of this.#busy) {
      pooled.dead = true;
      pooled.conn.close();
    }
    this.#busy.clear();
  }

  #close(pooled: PooledSmtp): void {
    this.#clearTimer(pooled);
    const wasDead = pooled.dead;
    pooled.dead = true;
    if (wasDead) pooled.conn.close();
    else pooled.conn.quit();
  }

  #clearTimer(pooled: PooledSmtp): void {
    const timer = this.#timers.get(pooled);
    if (timer) clearTimeout(timer);
    this.#timers.delete(pooled);
  }

  #forget(pooled: PooledSmtp): void {
    this.#clearTimer(pooled);
    const list = this.#idle.get(pooled.key);
    if (!list) return;
    const i = list.indexOf(pooled);
    if (i >= 0) list.splice(i, 1);
  }
}

/** DestinationLimiter - at most `limit` holders per key; waiters are served in order. */
export class DestinationLimiter {
  readonly #held = new Map<string, number>();
  readonly #waiting = new Map<string, Array<() => void>>();

  /** acquire - resolves with a release function once a slot is free. */
  async acquire(key: string, limit: number): Promise<() => void> {
    if ((this.#held.get(key) ?? 0) >= limit) {
      await new Promise<void>((resolve) => {
        const queue = this.#waiting.get(key) ?? [];
        queue.push(resolve);
        this.#waiting.set(key, queue);
      });
    } else {
      this.#held.set(key, (this.#held.get(key) ?? 0) + 1);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.get(key)?.shift();
      if (next) {
        next(); // the slot passes straight to the next waiter
        return;
      }
      this.#waiting.delete(key);
      const held = (this.#held.get(key) ?? 1) - 1;
      if (held > 0) this.#held.set(key, held);
      else this.#held.delete(key);
    };
  }
}

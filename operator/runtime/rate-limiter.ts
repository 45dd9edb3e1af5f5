/*
 * operator/runtime/rate-limiter - how long a failed key waits before its next try.
 *
 * Mirrors client-go's DefaultTypedControllerRateLimiter: the max of a per-key exponential
 * backoff (5 ms doubling to 1000 s, reset by forget) and one token bucket shared by all keys
 * (10 qps, burst 100; a reservation beyond the bucket waits its turn, as golang.org/x/time/rate
 * Reserve does). Pure bookkeeping with an injectable clock; the workqueue owns the timers.
 */
import { requirePositive } from './errors.ts';

export interface RateLimiter {
  /** Delay in ms before the key may be processed again; records one more failure. */
  when(key: string): number;
  /** Clears the key's failure history (after a success or a terminal error). */
  forget(key: string): void;
  /** Failures recorded for the key since the last forget. */
  retries(key: string): number;
}

/** ItemExponentialRateLimiter - baseMs * 2^failures, capped at maxMs. */
export class ItemExponentialRateLimiter implements RateLimiter {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #failures = new Map<string, number>();

  constructor(baseMs = 5, maxMs = 1_000_000) {
    this.#baseMs = requirePositive('baseMs', baseMs);
    this.#maxMs = requirePositive('maxMs', maxMs);
  }

  when(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    return Math.min(this.#maxMs, this.#baseMs * 2 ** failures);
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }
}

/** TokenBucketRateLimiter - qps tokens per second, at most burst saved; shared by all keys. */
export class TokenBucketRateLimiter implements RateLimiter {
  readonly #qps: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(qps = 10, burst = 100, now: () => number = () => performance.now()) {
    this.#qps = requirePositive('qps', qps);
    this.#burst = requirePositive('burst', burst, true);
    this.#now = now;
    this.#tokens = burst;
    this.#last = now();
  }

  when(_key: string): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#qps);
    this.#last = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#qps) * 1000;
  }

  forget(_key: string): void {}

  retries(_key: string): number {
    return 0;
  }
}

/** MaxOfRateLimiter - the longest delay of its limiters; forget and retries go to all. */
export class MaxOfRateLimiter implements RateLimiter {
  readonly #limiters: readonly RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    this.#limiters = limiters;
  }

  when(key: string): number {
    return Math.max(0, ...this.#limiters.map((l) => l.when(key)));
  }

  forget(key: string): void {
    for (const l of this.#limiters) l.forget(key);
  }

  retries(key: string): number {
    return Math.max(0, ...this.#limiters.map((l) => l.retries(key)));
  }
}

/** defaultControllerRateLimiter - client-go's default: max(5 ms..1000 s per key, 10 qps/100 burst). */
export function defaultControllerRateLimiter(now?: () => number): RateLimiter {
  return new MaxOfRateLimiter(new ItemExponentialRateLimiter(5, 1_000_000), new TokenBucketRateLimiter(10, 100, now));
}

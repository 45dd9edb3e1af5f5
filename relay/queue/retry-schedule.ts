/*
 * relay/queue/retry-schedule - when a deferred message is tried again, and when it expires.
 *
 * Postfix-like doubling backoff: after the n-th failed attempt the message waits
 * minBackoff * 2^(n-1), capped at maxBackoff (defaults 5 min, 10, 20, 40, then 67 min),
 * times a jitter factor in [1 - RETRY_JITTER, 1 + RETRY_JITTER] so that a burst deferred
 * together does not come back as one wave (Postfix has no jitter; see the anchors, 5.2).
 * A message older than maxAge (5 days) is expired: it gets one final attempt at its expiry
 * time, and whatever is still undelivered then fails with a DSN. The next attempt is never
 * scheduled after the expiry time, so expiry happens on time even with a long backoff.
 * A message queued delayNotification (4 hours, Exchange's DelayNotificationTimeout) or longer
 * and not yet expired is due a delay notice (a `delayed` DSN, sent by the delivery reporter
 * at most once per recipient); 0 turns the notices off, and a value not shorter than maxAge
 * never comes due, because the message expires first.
 * Pure functions; all durations come from HubSettings.retry (normalised at config load,
 * relay/config/settings.ts), so tests use milliseconds.
 */
import type { RetryConfig } from '../config/schema.ts';

/** Relative jitter applied to every backoff (0.2 = plus or minus 20 %). */
export const RETRY_JITTER = 0.2;

/** retryDelayMs - the wait after `attempts` failed attempts (1 = the first one failed). */
export function retryDelayMs(attempts: number, retry: RetryConfig, random: () => number = Math.random): number {
  const doublings = Math.min(Math.max(0, attempts - 1), 40);
  const base = Math.min(retry.maxBackoffMs, retry.minBackoffMs * 2 ** doublings);
  const factor = 1 - RETRY_JITTER + 2 * RETRY_JITTER * random();
  return Math.max(1, Math.round(Math.min(retry.maxBackoffMs, base * factor)));
}

/** expiresAtMs - the time after which undelivered recipients fail (receivedAt + maxAge). */
export function expiresAtMs(receivedAt: string, retry: RetryConfig): number {
  return Date.parse(receivedAt) + retry.maxAgeMs;
}

/** isExpired - true when the message is as old as maxAge or older at `nowMs`. */
export function isExpired(receivedAt: string, nowMs: number, retry: RetryConfig): boolean {
  return nowMs >= expiresAtMs(receivedAt, retry);
}

/** isDelayNoticeDue - true when notices are on and the message is that old, but not expired, at `nowMs`. */
export function isDelayNoticeDue(receivedAt: string, nowMs: number, retry: RetryConfig): boolean {
  if (retry.delayNotificationMs <= 0 || isExpired(receivedAt, nowMs, retry)) return false;
  return nowMs >= Date.parse(receivedAt) + retry.delayNotificationMs;
}

/** nextAttemptAtMs - the time of the next attempt: now + backoff, but no later than expiry. */
export function nextAttemptAtMs(
  nowMs: number,
  attempts: number,
  receivedAt: string,
  retry: RetryConfig,
  random: () => number = Math.random,
): number {
  const next = nowMs + retryDelayMs(attempts, retry, random);
  const expiry = expiresAtMs(receivedAt, retry);
  return expiry > nowMs ? Math.min(next, expiry) : next;
}

/*
 * relay/config/settings - the hub's retry and spool settings as tables: name, default, bounds, unit.
 *
 * The rendered config carries them (hub.retry, hub.spool); the loader (load.ts) normalises them
 * once, here, so every reader after it (queue manager, delivery reports, spool, DATA sink) takes
 * the values as they are. Retry: a value that is not a positive finite number gets its default
 * (delayNotificationMs may also be 0, off; configs rendered before it have none), and maxBackoff
 * is at least minBackoff. Spool: absent means the defaults below; a present value out of bounds
 * is refused, naming the field and the RelayHub field it was rendered from.
 */
import type { RetryConfig, TrackingLogConfig } from './schema.ts';

/** The defaults as the API states them: Postfix's 5 min, 67 min, 5 days; Exchange's 4 h. */
export const DEFAULT_RETRY: Readonly<RetryConfig> = Object.freeze({
  minBackoffMs: 300_000, maxBackoffMs: 4_020_000, maxAgeMs: 432_000_000, delayNotificationMs: 14_400_000,
});

const isFiniteAtLeast = (value: unknown, min: number): value is number => typeof value === 'number' && Number.isFinite(value) && value >= min;

/**
 * normalizeRetry - each value that is not a positive finite number replaced by its default;
 * delayNotificationMs may also be 0 (off), and is absent from configs rendered before it.
 */
export function normalizeRetry(retry: Partial<RetryConfig> | undefined): RetryConfig {
  const pick = (key: keyof RetryConfig, min = Number.MIN_VALUE): number => {
    const value = retry?.[key];
    return isFiniteAtLeast(value, min) ? value : DEFAULT_RETRY[key];
  };
  const minBackoffMs = pick('minBackoffMs');
  return { minBackoffMs, maxBackoffMs: Math.max(minBackoffMs, pick('maxBackoffMs')), maxAgeMs: pick('maxAgeMs'), delayNotificationMs: pick('delayNotificationMs', 0) };
}

export interface HubSpoolSetting {
  name: 'minFreeBytes' | 'maxDataMemoryBytes';
  /** The RelayHub field it is rendered from, for error messages. */
  apiField: string;
  default: number;
  min: number;
  max: number;
  unit: string;
}

/** hub.spool: the free-space reserve (RelayHub spec.queue.minFreeSpace, 64Mi) and the DATA memory budget (spec.queue.maxDataMemory, 64Mi). */
export const HUB_SPOOL_SETTINGS = {
  minFreeBytes: { name: 'minFreeBytes', apiField: 'minFreeSpace', default: 64 * 1024 * 1024, min: 0, max: Number.MAX_SAFE_INTEGER, unit: 'bytes' },
  maxDataMemoryBytes: { name: 'maxDataMemoryBytes', apiField: 'maxDataMemory', default: 64 * 1024 * 1024, min: 1, max: Number.MAX_SAFE_INTEGER, unit: 'bytes' },
} as const satisfies Record<HubSpoolSetting['name'], HubSpoolSetting>;

/** The free-space reserve without a setting. */
export const DEFAULT_MIN_FREE_BYTES = HUB_SPOOL_SETTINGS.minFreeBytes.default;
/** The hub's limit on DATA bytes held in memory without a setting. */
export const DEFAULT_MAX_DATA_MEMORY_BYTES = HUB_SPOOL_SETTINGS.maxDataMemoryBytes.default;

/**
 * hubSpoolProblem - '' when `value` (hub.spool.<name>, present) is within the setting's bounds,
 * else the message that says so.
 */
export function hubSpoolProblem(setting: HubSpoolSetting, value: unknown): string {
  if (Number.isSafeInteger(value) && (value as number) >= setting.min && (value as number) <= setting.max) return '';
  return `hub.spool.${setting.name} must be a whole number of ${setting.unit} from ${setting.min} to ${setting.max} (RelayHub spec.queue.${setting.apiField}), not ${JSON.stringify(value)}`;
}

/**
 * The tracking log on the spool volume: Exchange's MessageTrackingLogMaxAge (30 days); 100 MiB
 * rather than Exchange's 1000 MB directory cap, because it shares the spool volume (1Gi by default)
 * with the queue.
 */
export const DEFAULT_TRACKING_LOG: Readonly<TrackingLogConfig> = Object.freeze({ maxAgeMs: 30 * 86_400_000, maxSizeBytes: 100 * 1024 * 1024 });
/** The smallest size cap: below it rotation (in steps of 64 KiB at least) would keep almost nothing. */
export const MIN_TRACKING_LOG_BYTES = 1024 * 1024;

/** normalizeTrackingLog - hub.trackingLog with each missing or unusable value replaced by its default. */
export function normalizeTrackingLog(value: Partial<TrackingLogConfig> | undefined): TrackingLogConfig {
  return {
    maxAgeMs: isFiniteAtLeast(value?.maxAgeMs, 1) ? value.maxAgeMs : DEFAULT_TRACKING_LOG.maxAgeMs,
    maxSizeBytes: isFiniteAtLeast(value?.maxSizeBytes, MIN_TRACKING_LOG_BYTES) ? value.maxSizeBytes : DEFAULT_TRACKING_LOG.maxSizeBytes,
  };
}

/*
 * operator/render/hub-settings - the hub-wide part of one hub's rendered config: name, FQDN,
 * trusted proxies, TLS and users files, logon lockout, anti-spam, retry, spool and tracking log settings.
 *
 * A Secret the hub's own spec names (tls.secretName, users.secretName) that is missing or
 * lacks a key is a problem on the hub; the hub runs without it.
 */
import type { HubSettings, TlsFiles, TrackingLogConfig } from '../../relay/config/schema.ts';
import { DEFAULT_TRACKING_LOG, MIN_TRACKING_LOG_BYTES } from '../../relay/config/settings.ts';
import { LOGON_LOCKOUT_DEFAULTS } from '../../relay/session/rate-limits.ts';
import { QUEUE_MAX_DATA_MEMORY_DEFAULT, QUEUE_MIN_FREE_SPACE_DEFAULT, RETRY_DEFAULTS } from '../api/defaults.ts';
import type { RelayHub } from '../api/types.generated.ts';
import { parseDuration, parseQuantity } from '../api/units.ts';
import { objectKey, type NamespaceObjects } from './inputs.ts';
import type { RenderOptions, RenderProblem } from './result.ts';
import { requireSecretKeys } from './secret-keys.ts';

function logonLockoutOf(lockout: NonNullable<NonNullable<RelayHub['spec']['users']>['lockout']>): NonNullable<HubSettings['logonLockout']> {
  return {
    maxFailuresPerSource: lockout.maxFailuresPerSource ?? LOGON_LOCKOUT_DEFAULTS.maxFailuresPerSource,
    maxFailuresPerUser: lockout.maxFailuresPerUser ?? LOGON_LOCKOUT_DEFAULTS.maxFailuresPerUser,
    windowMs: lockout.window !== undefined ? parseDuration(lockout.window) : LOGON_LOCKOUT_DEFAULTS.windowMs,
  };
}

/**
 * orDefault - the parsed value of a hub field, or (with a problem naming the field) the
 * default: render never throws on input (issue 12 item 6), and a hub cannot be left out the
 * way a connector is, so it runs with the default the person can see in the problem.
 */
function orDefault(parse: (value: string | number) => number, value: string | number | undefined, fallback: string, field: string, object: string, problems: RenderProblem[]): number {
  if (value === undefined) return parse(fallback);
  try {
    return parse(value);
  } catch (error) {
    problems.push({ object, field, rule: 'hubSettingValue', message: `${(error as Error).message}; the default ${fallback} is used` });
    return parse(fallback);
  }
}

const parseDurationValue = (value: string | number): number => parseDuration(String(value));

/** trackingLogOf - spec.trackingLog in ms and bytes; a maxSize under 1Mi is a problem and runs as 1Mi. */
function trackingLogOf(spec: NonNullable<RelayHub['spec']['trackingLog']>, object: string, problems: RenderProblem[]): TrackingLogConfig {
  const defaultSize = `${DEFAULT_TRACKING_LOG.maxSizeBytes / (1024 * 1024)}Mi`;
  const defaultAge = `${DEFAULT_TRACKING_LOG.maxAgeMs / 3_600_000}h`;
  let maxSizeBytes = orDefault(parseQuantity, spec.maxSize, defaultSize, 'spec.trackingLog.maxSize', object, problems);
  if (maxSizeBytes < MIN_TRACKING_LOG_BYTES) {
    problems.push({ object, field: 'spec.trackingLog.maxSize', rule: 'trackingLogTooSmall', message: `${JSON.stringify(spec.maxSize)} is under the smallest size, 1Mi; the hub keeps 1Mi` });
    maxSizeBytes = MIN_TRACKING_LOG_BYTES;
  }
  return { maxAgeMs: orDefault(parseDurationValue, spec.maxAge, defaultAge, 'spec.trackingLog.maxAge', object, problems), maxSizeBytes };
}

/** hubSettings - the `hub` section of the rendered config; problems for the hub's own missing Secrets. */
export function hubSettings(hub: RelayHub, objects: NamespaceObjects, options: RenderOptions, problems: RenderProblem[]): HubSettings {
  const hubName = hub.metadata.name ?? '';
  const object = `RelayHub ${objectKey(objects.namespace, hubName)}`;
  const retry = hub.spec.queue?.retry ?? {};
  const duration = (key: keyof typeof RETRY_DEFAULTS): number => orDefault(parseDurationValue, retry[key], RETRY_DEFAULTS[key], `spec.queue.retry.${key}`, object, problems);
  let usersFile: string | null = null;
  if (hub.spec.users?.secretName) {
    const check = requireSecretKeys(objects, 'spec.users.secretName', hub.spec.users.secretName, ['users']);
    if (check.ok) usersFile = options.secretFile(hub.spec.users.secretName, 'users');
    else problems.push({ object: `RelayHub ${objectKey(objects.namespace, hubName)}`, field: check.field, rule: 'missingSecret', message: check.message });
  }
  let hubTls: TlsFiles | null = null;
  if (hub.spec.tls?.secretName) {
    const check = requireSecretKeys(objects, 'spec.tls.secretName', hub.spec.tls.secretName, ['tls.crt', 'tls.key']);
    if (check.ok) hubTls = { certFile: options.secretFile(hub.spec.tls.secretName, 'tls.crt'), keyFile: options.secretFile(hub.spec.tls.secretName, 'tls.key') };
    else problems.push({ object: `RelayHub ${objectKey(objects.namespace, hubName)}`, field: check.field, rule: 'missingSecret', message: check.message });
  }

  return {
    name: hubName,
    namespace: objects.namespace,
    fqdn: hub.spec.fqdn ?? `${hubName}.${objects.namespace}.relay.local`,
    trustedProxies: hub.spec.proxyProtocol?.trustedProxies ?? [],
    tls: hubTls,
    usersFile,
    // Only when set: a hub without it runs the defaults and keeps the config hash it had.
    ...(hub.spec.users?.lockout ? { logonLockout: logonLockoutOf(hub.spec.users.lockout) } : {}),
    antiSpam: { spf: hub.spec.antiSpam?.spf ?? true, dnsbl: hub.spec.antiSpam?.dnsbl ?? [] },
    retry: {
      minBackoffMs: duration('minBackoff'),
      maxBackoffMs: duration('maxBackoff'),
      maxAgeMs: duration('maxAge'),
      delayNotificationMs: duration('delayNotification'),
    },
    // Only when set: a hub without it runs the defaults and keeps the config hash it had.
    ...(hub.spec.trackingLog ? { trackingLog: trackingLogOf(hub.spec.trackingLog, `RelayHub ${objectKey(objects.namespace, hubName)}`, problems) } : {}),
    spool: {
      minFreeBytes: orDefault(parseQuantity, hub.spec.queue?.minFreeSpace, QUEUE_MIN_FREE_SPACE_DEFAULT, 'spec.queue.minFreeSpace', object, problems),
      maxDataMemoryBytes: orDefault(parseQuantity, hub.spec.queue?.maxDataMemory, QUEUE_MAX_DATA_MEMORY_DEFAULT, 'spec.queue.maxDataMemory', object, problems),
    },
  };
}

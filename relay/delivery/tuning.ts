/*
 * relay/delivery/tuning - the delivery settings as one table: name, default, bounds, unit.
 *
 * Not part of the rendered config (the API has no knobs for them yet); the hub may pass
 * overrides, tests pass small values. resolveDeliveryTuning validates at the door, one
 * message per option naming it, and returns an immutable object.
 */
import { DeliveryArgumentError } from './errors.ts';

export interface DeliveryTuning {
  /** Messages in active/ at once (Postfix qmgr_message_active_limit, scaled down: bodies are in memory). */
  readonly maxActiveMessages: number;
  /** Transactions in flight per destination (smart-host connector or MX domain). */
  readonly destinationConcurrency: number;
  /** How often incoming/ and deferred/ are rescanned without a kick. */
  readonly pollIntervalMs: number;
  readonly connectTimeoutMs: number;
  readonly greetingTimeoutMs: number;
  readonly socketTimeoutMs: number;
  /** How long an idle SMTP session is kept for reuse (0 = no reuse). */
  readonly connectionIdleMs: number;
  readonly maxMessagesPerConnection: number;
  /** How often a next hop that failed to give a session is probed (host-health.ts). */
  readonly hostProbeIntervalMs: number;
  /** Extra trust anchors (PEM) for verified TLS to smart hosts; empty = the system's. */
  readonly tlsCa: ReadonlyArray<string | Buffer>;
}

export type DeliveryTuningOptions = Partial<DeliveryTuning>;

type NumericName = Exclude<keyof DeliveryTuning, 'tlsCa'>;

export const DELIVERY_SETTINGS: ReadonlyArray<{ name: NumericName; default: number; min: number; max: number; unit: string }> = [
  { name: 'maxActiveMessages', default: 100, min: 1, max: 100_000, unit: 'messages' },
  { name: 'destinationConcurrency', default: 10, min: 1, max: 1000, unit: 'transactions' },
  { name: 'pollIntervalMs', default: 1000, min: 10, max: 60_000, unit: 'ms' },
  { name: 'connectTimeoutMs', default: 30_000, min: 50, max: 600_000, unit: 'ms' },
  { name: 'greetingTimeoutMs', default: 60_000, min: 50, max: 600_000, unit: 'ms' },
  { name: 'socketTimeoutMs', default: 300_000, min: 50, max: 3_600_000, unit: 'ms' },
  { name: 'connectionIdleMs', default: 5000, min: 0, max: 300_000, unit: 'ms' },
  { name: 'maxMessagesPerConnection', default: 100, min: 1, max: 100_000, unit: 'messages' },
  { name: 'hostProbeIntervalMs', default: 5000, min: 50, max: 600_000, unit: 'ms' },
];

/** resolveDeliveryTuning - defaults applied, bounds checked. */
export function resolveDeliveryTuning(options: DeliveryTuningOptions = {}): DeliveryTuning {
  const out: Record<string, unknown> = {};
  for (const s of DELIVERY_SETTINGS) {
    const value = options[s.name] ?? s.default;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < s.min || value > s.max) {
      throw new DeliveryArgumentError(`${s.name} must be a whole number of ${s.unit} from ${s.min} to ${s.max}`);
    }
    out[s.name] = value;
  }
  const ca = options.tlsCa ?? [];
  if (!Array.isArray(ca) || !ca.every((c) => typeof c === 'string' || Buffer.isBuffer(c))) {
    throw new DeliveryArgumentError('tlsCa must be a list of PEM strings or Buffers');
  }
  out.tlsCa = Object.freeze([...ca]);
  return Object.freeze(out as unknown as DeliveryTuning);
}

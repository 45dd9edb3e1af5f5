/*
 * operator/api/units - Kubernetes quantities ("36Mi") and durations ("10m", "1h30m") as numbers.
 */

const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$/;
const MULTIPLIER: Record<string, number> = {
  '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40,
};

/** parseQuantity - bytes of "36Mi", "10M" or 1024; throws on anything else. */
export function parseQuantity(value: number | string): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new Error(`quantity ${value} must be a non-negative integer`);
    return value;
  }
  const match = QUANTITY.exec(value);
  if (!match) throw new Error(`quantity "${value}" must look like 36Mi, 10M or 1024`);
  return Math.round(Number(match[1]) * (MULTIPLIER[match[2] ?? ''] ?? 1));
}

const DURATION_PART = /([0-9]+)(ms|s|m|h|d)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** parseDuration - milliseconds of "10m", "5s", "1h30m"; throws on anything else. */
export function parseDuration(value: string): number {
  if (!/^([0-9]+(ms|s|m|h|d))+$/.test(value)) throw new Error(`duration "${value}" must look like 10m, 5s or 1h30m`);
  let total = 0;
  for (const [, amount, unit] of value.matchAll(DURATION_PART)) total += Number(amount) * (UNIT_MS[unit ?? 's'] ?? 0);
  return total;
}

/*
 * operator/import/exchange-values - the shapes `ConvertTo-Json` gives Exchange property values,
 * read into plain values.
 *
 * One property arrives in several shapes, by Exchange version and by how the shell was run
 * (local snap-in vs remote PowerShell, Windows PowerShell 5.1 vs PowerShell 7):
 *   - flat: "25 MB (26,214,400 bytes)", "00:10:00", "Tls, BasicAuth", "unlimited", "EX1";
 *   - wrapped: {"Value": ...}, {"IsUnlimited": true}, {"TotalSeconds": 600}, {"Name": "EX1"};
 *   - enums as names ("Verbose") or as numbers (flag bits for PermissionGroups/AuthMechanism);
 *   - lists as arrays, as one value, or as a space-separated string of a deserialised list.
 * Each reader returns undefined for a shape it cannot read; the caller reports the property as
 * unreadable with its raw value, never guesses.
 */
import { EXCHANGE_BYTE_UNITS } from '../validate/exchange-names.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const isObject = (value: Json | undefined): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** unwrap - the inner value of `{Value: x}` (and nested wrappers); anything else as it is. */
export function unwrap(value: Json | undefined): Json | undefined {
  let current = value;
  while (isObject(current) && 'Value' in current && Object.keys(current).every((k) => ['Value', 'IsUnlimited', 'Count'].includes(k))) {
    if (current.IsUnlimited === true) return 'unlimited';
    current = current.Value;
  }
  return current;
}

/** readString - a string, or the display form of a wrapped or named object. */
export function readString(value: Json | undefined): string | undefined {
  const inner = unwrap(value);
  if (typeof inner === 'string') return inner;
  if (typeof inner === 'number' || typeof inner === 'boolean') return String(inner);
  if (isObject(inner)) {
    for (const key of ['RawIdentity', 'Name', 'DomainName', 'Address', 'Domain', 'IPAddressToString', 'DisplayName']) {
      const named = inner[key];
      if (typeof named === 'string') return named;
    }
  }
  return undefined;
}

export function readBoolean(value: Json | undefined): boolean | undefined {
  const inner = unwrap(value);
  if (typeof inner === 'boolean') return inner;
  if (typeof inner === 'string' && /^(true|false)$/i.test(inner)) return inner.toLowerCase() === 'true';
  return undefined;
}

/** readList - the items of a multi-valued property (array, single value, or `{Value: [...]}`). */
export function readList(value: Json | undefined): Json[] {
  const inner = unwrap(value);
  if (inner === undefined || inner === null || inner === '') return [];
  return Array.isArray(inner) ? inner : [inner];
}

/** An Exchange `Unlimited<int>`: a number, or 'unlimited'. */
export function readUnlimitedInteger(value: Json | undefined): number | 'unlimited' | undefined {
  const inner = unwrap(value);
  if (typeof inner === 'number' && Number.isInteger(inner) && inner >= 0) return inner;
  if (typeof inner === 'string') {
    if (/^unlimited$/i.test(inner.trim())) return 'unlimited';
    if (/^\d+$/.test(inner.trim())) return Number(inner.trim());
  }
  return undefined;
}


/**
 * readByteSize - an Exchange ByteQuantifiedSize in bytes: "25 MB (26,214,400 bytes)" (the exact
 * count in brackets wins), "10MB", "256 KB", a number of bytes, `{ToBytes: n}`-style objects
 * from PowerShell 7, or 'unlimited'.
 */
export function readByteSize(value: Json | undefined): number | 'unlimited' | undefined {
  const inner = unwrap(value);
  if (typeof inner === 'number' && Number.isInteger(inner) && inner >= 0) return inner;
  if (isObject(inner)) {
    for (const key of ['ToBytes', 'Bytes', 'RawValue']) {
      const bytes = inner[key];
      if (typeof bytes === 'number') return bytes;
    }
    return undefined;
  }
  if (typeof inner !== 'string') return undefined;
  const text = inner.trim();
  if (/^unlimited$/i.test(text)) return 'unlimited';
  const exact = /\(([\d,.\s\u00a0]+) bytes\)/i.exec(text);
  if (exact) return Number((exact[1] ?? '').replace(/[,.\s\u00a0]/g, ''));
  const sized = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?$/i.exec(text);
  if (!sized) return undefined;
  return Math.round(Number(sized[1]) * (EXCHANGE_BYTE_UNITS[(sized[2] ?? 'B').toUpperCase()]?.bytes ?? 1));
}

/**
 * readTimeSpanSeconds - a .NET TimeSpan / EnhancedTimeSpan in whole seconds: "00:10:00",
 * "1.00:00:00", "00:00:05.5000000" (fractions rounded down), or the object form with
 * TotalSeconds or Ticks (100 ns).
 */
export function readTimeSpanSeconds(value: Json | undefined): number | undefined {
  const inner = unwrap(value);
  if (isObject(inner)) {
    if (typeof inner.TotalSeconds === 'number') return Math.floor(inner.TotalSeconds);
    if (typeof inner.Ticks === 'number') return Math.floor(inner.Ticks / 1e7);
    return undefined;
  }
  if (typeof inner !== 'string') return undefined;
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)?$/.exec(inner.trim());
  if (!match) return undefined;
  const [, days, hours, minutes, seconds] = match;
  return Number(days ?? 0) * 86_400 + Number(hours) * 3600 + Number(minutes) * 60 + Number(seconds);
}

/** kubernetesDuration - seconds as the API's duration: 600 -> "10m", 90 -> "90s", 0 -> "0s". */
export function kubernetesDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** kubernetesQuantity - bytes as the API's quantity, in the largest exact binary unit. */
export function kubernetesQuantity(bytes: number): string | number {
  for (const [unit, size] of [['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return bytes;
}

/**
 * readFlags - the names of a [Flags] enum: "Tls, BasicAuth", ["Tls", "BasicAuth"], or the number
 * Windows PowerShell 5.1 writes for an enum (bits per the documented value order). Names not in
 * `bits` are returned as they are, so the caller can report them.
 */
export function readFlags(value: Json | undefined, bits: readonly string[]): string[] | undefined {
  const inner = unwrap(value);
  if (typeof inner === 'number' && Number.isInteger(inner) && inner >= 0) {
    if (inner === 0) return ['None'];
    const names = bits.filter((_, i) => (inner & (1 << i)) !== 0);
    return inner >= 2 ** bits.length ? undefined : names;
  }
  const items = typeof inner === 'string' ? inner.split(/[,\s]+/) : Array.isArray(inner) ? inner.map((i) => readString(i) ?? '') : undefined;
  if (!items) return undefined;
  const names = items.map((s) => s.trim()).filter((s) => s.length > 0);
  return names.length === 0 ? ['None'] : names;
}

/** readEnum - an enum by name (any case) or by its position in `names`. */
export function readEnum<T extends string>(value: Json | undefined, names: readonly T[]): T | undefined {
  const inner = unwrap(value);
  if (typeof inner === 'number') return names[inner];
  if (typeof inner !== 'string') return undefined;
  return names.find((n) => n.toLowerCase() === inner.trim().toLowerCase());
}

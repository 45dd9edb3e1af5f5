/*
 * operator/runtime/managed-fields - would a server-side apply change anything? (pure)
 *
 * applyWouldChange(desired, cached, manager, subresource) answers from the cached object alone:
 *   1. our Apply entry in metadata.managedFields (manager, operation Apply, same subresource)
 *      must exist, and every field it owns must still be in desired (else the apply removes
 *      fields and must be sent);
 *   2. every value in desired must equal the cached one (objects: subset, so server defaults
 *      and other managers' fields are ignored; lists: same length, item-wise subset).
 * Errs on the side of "changed" (one more, harmless, apply): desired must use the server's
 * canonical forms (quantities like "1" not "1000m", Secret `data` not `stringData`) and
 * spell out defaulted list-map keys (ports' protocol: TCP), or it never compares equal.
 * The main resource is compared without `status`; the status subresource compares only status.
 */
import type { KubeObject, ManagedFieldsEntry } from './objects.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const MISSING = Symbol('missing');

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** ownedFieldsEntry - our Apply entry for the subresource ('' = main resource), if any. */
export function ownedFieldsEntry(obj: KubeObject, manager: string, subresource = ''): ManagedFieldsEntry | undefined {
  return obj.metadata?.managedFields?.find((e) => e.manager === manager && e.operation === 'Apply' && (e.subresource ?? '') === subresource);
}

/** jsonEqual - deep equality of JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}

/** isSubset - every value set in desired equals the one in actual (see the module comment). */
export function isSubset(desired: unknown, actual: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null) return actual === null || actual === undefined;
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && actual.length === desired.length && desired.every((d, i) => isSubset(d, actual[i]));
  }
  if (isObject(desired)) return isObject(actual) && Object.entries(desired).every(([k, v]) => isSubset(v, actual[k]));
  return desired === actual;
}

function step(key: string, value: unknown): unknown {
  if (key.startsWith('f:')) {
    if (!isObject(value)) return MISSING;
    const child = value[key.slice(2)];
    return child === undefined ? MISSING : child;
  }
  if (!Array.isArray(value)) return MISSING;
  if (key.startsWith('k:')) {
    const keys = JSON.parse(key.slice(2)) as Record<string, Json>;
    return value.find((item) => isObject(item) && Object.entries(keys).every(([k, v]) => jsonEqual(item[k], v))) ?? MISSING;
  }
  if (key.startsWith('v:')) {
    const wanted = JSON.parse(key.slice(2)) as Json;
    return value.some((item) => jsonEqual(item, wanted)) ? wanted : MISSING;
  }
  if (key.startsWith('i:')) {
    const index = Number(key.slice(2));
    return index < value.length ? value[index] : MISSING;
  }
  return MISSING;
}

/** coversOwnedFields - every path of a fieldsV1 set is present in value. */
export function coversOwnedFields(fields: unknown, value: unknown): boolean {
  if (!isObject(fields)) return true;
  for (const [key, child] of Object.entries(fields)) {
    if (key === '.') continue;
    const sub = step(key, value);
    if (sub === MISSING) return false;
    if (!coversOwnedFields(child, sub)) return false;
  }
  return true;
}

/** comparable - the part of an object an apply to the (sub)resource sends. */
function comparable(obj: KubeObject, subresource: string): Record<string, unknown> {
  const record = obj as unknown as Record<string, unknown>;
  if (subresource === 'status') return { status: record.status };
  const { status: _status, ...rest } = record;
  return rest;
}

/** applyWouldChange - true unless applying desired as manager is certainly a no-op on cached. */
export function applyWouldChange<T extends KubeObject>(desired: T, cached: KubeObject | undefined, manager: string, subresource = ''): boolean {
  if (!cached) return true;
  const entry = ownedFieldsEntry(cached, manager, subresource);
  if (!entry) return true;
  const want = comparable(desired, subresource);
  if (!isSubset(want, cached)) return true;
  return !coversOwnedFields(entry.fieldsV1, want);
}

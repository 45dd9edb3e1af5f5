/*
 * operator/render/secret-keys - whether a Secret a spec names holds the keys render reads.
 *
 * Render leaves an object out (rule missingSecret) when the check fails; the status of a
 * SendConnector reports the same check in its own words (controllers/send-connector-controller).
 */
import { secretValue, type NamespaceObjects } from './inputs.ts';

export type SecretCheck = { ok: true } | { ok: false; field: string; message: string };

/** missingSecretKeys - the keys of `keys` the Secret lacks (all of them when it does not exist). */
export function missingSecretKeys(objects: NamespaceObjects, name: string, keys: readonly string[]): { exists: boolean; missing: string[] } {
  const exists = objects.secrets.some((s) => s.metadata.name === name);
  return { exists, missing: keys.filter((key) => secretValue(objects, name, key) === undefined) };
}

/** requireSecretKeys - ok, or the first missing key (or the missing Secret) for `field`. */
export function requireSecretKeys(objects: NamespaceObjects, field: string, name: string, keys: readonly string[]): SecretCheck {
  const { exists, missing } = missingSecretKeys(objects, name, keys);
  const [first] = missing;
  if (first === undefined) return { ok: true };
  return { ok: false, field, message: exists ? `Secret ${name} has no key "${first}"` : `Secret ${name} not found in namespace ${objects.namespace}` };
}

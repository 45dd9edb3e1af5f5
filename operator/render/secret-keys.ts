/*
 * operator/render/secret-keys - whether a Secret a spec names holds the keys render reads.
 *
 * Render leaves an object out (rule missingSecret) when the check fails; the status of a
 * SendConnector reports the same check in its own words (controllers/send-connector-controller).
 */
import { secretValue, type NamespaceObjects } from './inputs.ts';

export type SecretCheck = { ok: true } | { ok: false; field: string; message: string };

/**
 * secretNotFound - the message for a Secret a spec names and `objects` lacks. With a selector,
 * the Secret may exist without the label, which the operator cannot see (it lists only
 * labelled Secrets), so the message names the label and the command that adds it.
 */
export function secretNotFound(objects: Pick<NamespaceObjects, 'namespace' | 'secretSelector'>, name: string, field?: string): string {
  const { namespace, secretSelector } = objects;
  const secret = field === undefined ? `Secret ${name}` : `Secret ${name} (${field})`;
  if (secretSelector === undefined) return `${secret} not found in namespace ${namespace}`;
  // the selector is key=value pairs (operator/cli/operator-command.ts), so its terms are labels
  const labels = secretSelector.split(',').join(' ');
  return `${secret} not found in namespace ${namespace} among the Secrets labelled ${secretSelector} (the operator reads no other Secret): `
    + `if it exists, label it: kubectl label secret -n ${namespace} ${name} ${labels}`;
}

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
  return { ok: false, field, message: exists ? `Secret ${name} has no key "${first}"` : secretNotFound(objects, name) };
}

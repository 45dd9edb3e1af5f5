/*
 * relay/delivery/credentials - the username and password a SendConnector uses at its smart host.
 *
 * The rendered config names the Secret's `password` file (authFile); the username is the
 * sibling file `username` in the same directory (a mounted Secret volume, or the files
 * standalone mode writes). Read at every new connection, so a rotated Secret applies
 * without a reload; one trailing newline is ignored. Unreadable -> DeliveryCredentialsError,
 * which the agent turns into a deferral (never a bounce: it is our configuration).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DeliveryCredentialsError } from './errors.ts';

export interface SmartHostCredentials {
  user: string;
  pass: string;
}

function readSecretFile(file: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new DeliveryCredentialsError(file, err);
  }
}

/** readCredentials - null when the connector has no authFile. */
export function readCredentials(authFile: string | null): SmartHostCredentials | null {
  if (!authFile) return null;
  const pass = readSecretFile(authFile);
  const user = readSecretFile(path.join(path.dirname(authFile), 'username'));
  return { user, pass };
}

/*
 * relay/session/users - the users of BasicAuth, from the hub's users file.
 *
 * Lines `name:bcrypt-hash[:addr,addr...]` (htpasswd plus the addresses the user may send as);
 * blank lines and `#` comments are skipped. Passwords are checked with bcryptjs (pure JS, no
 * native build). A malformed line is reported with its number and skipped, never fatal.
 */
import bcrypt from 'bcryptjs';

export interface RelayUser {
  name: string;
  hash: string;
  addresses: string[];
}

export interface UserDirectory {
  users: Map<string, RelayUser>;
  problems: string[];
}

export function parseUsers(text: string, source: string): UserDirectory {
  const users = new Map<string, RelayUser>();
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const [name = '', hash = '', addresses = ''] = line.split(':');
    if (!name || !/^\$2[aby]?\$\d\d\$/.test(hash)) {
      problems.push(`${source}:${index + 1}: expected name:bcrypt-hash[:addr,addr...]`);
      return;
    }
    users.set(name, { name, hash, addresses: addresses.split(',').map((a) => a.trim()).filter(Boolean) });
  });
  return { users, problems };
}

/** checkPassword - the user when name and password match, else null (same time either way is not promised). */
export async function checkPassword(directory: UserDirectory, name: string, password: string): Promise<RelayUser | null> {
  const user = directory.users.get(name);
  if (!user) {
    await bcrypt.compare(password, '$2b$10$abcdefghijklmnopqrstuuVwt0iVYqvGB8Yf2pHkK0zv4lX8Rr9e.');
    return null;
  }
  return (await bcrypt.compare(password, user.hash)) ? user : null;
}

/*
 * relay/session/users - the users of BasicAuth, from the hub's users file.
 *
 * Lines `name:bcrypt-hash[:addr,addr...]` (htpasswd plus the addresses the user may send as);
 * blank lines and `#` comments are skipped. Passwords are checked with bcryptjs (pure JS, no
 * native build) in the worker threads of password-worker.ts, never on the event loop. A
 * malformed line is reported with its number and skipped, never fatal.
 * User enumeration: a name that is not in the file is checked against a dummy hash of the
 * cost most of the file's users have (ties: the higher cost), so an unknown name costs what a
 * known one costs and the reply time does not say which names exist. A user whose hash has
 * another cost than most is still told apart by timing: keep every user at one cost (parseUsers
 * reports a file that mixes costs).
 */
import { sharedPasswordPool, type PasswordPool, type VerifyOptions } from './password-worker.ts';

export interface RelayUser {
  name: string;
  hash: string;
  addresses: string[];
}

export interface UserDirectory {
  users: Map<string, RelayUser>;
  problems: string[];
  /** What an unknown name is checked against: a hash of the users' usual cost that nothing matches. */
  dummyHash?: string;
}

/** The bcrypt cost of a hash (`$2b$10$...` is 10). */
export function bcryptCost(hash: string): number {
  return Number(/^\$2[aby]?\$(\d\d)\$/.exec(hash)?.[1] ?? NaN);
}

/** Cost when the file has no users: bcryptjs's and htpasswd -B's default. */
const DEFAULT_COST = 10;

/**
 * dummyHashOf - a well-formed bcrypt hash of that cost that no password matches (its checksum
 * is not one bcrypt produces for this salt with any password one can find). A check costs the
 * same whatever the hash's salt and checksum: only the cost decides the work.
 */
export function dummyHashOf(cost: number): string {
  return `$2b$${String(cost).padStart(2, '0')}$abcdefghijklmnopqrstuuVwt0iVYqvGB8Yf2pHkK0zv4lX8Rr9e.`;
}

/** The cost most users have; ties go to the higher cost (a slower dummy leaks less than a faster one). */
function usualCost(users: Iterable<RelayUser>): number {
  const counts = new Map<number, number>();
  for (const user of users) {
    const cost = bcryptCost(user.hash);
    counts.set(cost, (counts.get(cost) ?? 0) + 1);
  }
  let best = DEFAULT_COST;
  let bestCount = 0;
  for (const [cost, count] of counts) {
    if (count > bestCount || (count === bestCount && cost > best)) [best, bestCount] = [cost, count];
  }
  return best;
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
  const cost = usualCost(users.values());
  const odd = [...users.values()].filter((u) => bcryptCost(u.hash) !== cost).map((u) => `${u.name} (${bcryptCost(u.hash)})`);
  if (odd.length > 0) {
    problems.push(`${source}: bcrypt costs differ: most users have ${cost}, not ${odd.join(', ')}; their logons can be told apart from unknown names by timing (rehash them at cost ${cost})`);
  }
  return { users, problems, dummyHash: dummyHashOf(cost) };
}

/** The outcome of one AUTH: the user, a wrong name or password, or no room to check now. */
export type LogonCheck = { ok: true; user: RelayUser } | { ok: false; reason: 'invalid' | 'busy' };

/**
 * verifyLogon - name and password checked in the password pool. An unknown name costs one check
 * against the directory's dummy hash, as a known one costs one against its own. `key` is the
 * client's source (rate-limits.ts sourceKey): the pool bounds the checks one source may queue;
 * `low` puts the check behind those of clean sources (password-worker.ts).
 */
export async function verifyLogon(
  directory: UserDirectory, name: string, password: string, key?: string, options: VerifyOptions & { pool?: PasswordPool } = {},
): Promise<LogonCheck> {
  const user = directory.users.get(name);
  const pool = options.pool ?? sharedPasswordPool();
  const outcome = await pool.verify(password, user?.hash ?? directory.dummyHash ?? dummyHashOf(DEFAULT_COST), key, options.low ? { low: true } : {});
  if (outcome === 'busy') return { ok: false, reason: 'busy' };
  return user && outcome === 'match' ? { ok: true, user } : { ok: false, reason: 'invalid' };
}

/** checkPassword - the user when name and password match, else null (also when the pool is busy). */
export async function checkPassword(directory: UserDirectory, name: string, password: string): Promise<RelayUser | null> {
  const check = await verifyLogon(directory, name, password);
  return check.ok ? check.user : null;
}

/*
 * relay/spool/spool-lock - one hub per spool directory.
 *
 * Two hubs on one spool each recover, append and move the other's files: lost or doubled mail.
 * Spool.open takes `LOCK` in the spool's root first, created with O_EXCL ('wx') and holding
 * `pid start-time`; Spool.close removes it. Node has no flock(2) without a native addon, so a
 * lock left by a hub that died is recognised instead: its pid is gone, or the pid now belongs to
 * another process (its start time in /proc/PID/stat differs: a reused pid, or pid 1 of a
 * restarted container, which is also our own pid). Such a lock is taken over; a live one is
 * refused with SpoolLockedError naming the pid and the file.
 */
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { SpoolLockedError } from './errors.ts';

export const SPOOL_LOCK_FILE = 'LOCK';

/** startTime - field 22 of /proc/PID/stat (clock ticks since boot), '' where there is no /proc. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // the command name (field 2) may hold spaces and parentheses: count from its last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The process that wrote `text`, if it is still running (and is not this process). */
function liveHolder(text: string): number | null {
  const [pidText = '', started = ''] = text.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
  if (!isAlive(pid)) return null;
  return started === '' || startTime(pid) === '' || startTime(pid) === started ? pid : null;
}

export interface SpoolLock {
  release(): Promise<void>;
}

/** lockSpool - take the spool's lock or throw SpoolLockedError; a stale lock is taken over. */
export async function lockSpool(root: string): Promise<SpoolLock> {
  const file = path.join(root, SPOOL_LOCK_FILE);
  const create = (): Promise<void> => fs.writeFile(file, `${process.pid} ${startTime(process.pid)}\n`, { flag: 'wx', mode: 0o600 });
  const held: SpoolLock = { release: () => fs.rm(file, { force: true }) };
  try {
    await create();
    return held;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const holder = liveHolder(await fs.readFile(file, 'latin1').catch(() => ''));
  if (holder !== null) throw new SpoolLockedError(root, file, holder);
  await fs.rm(file, { force: true }); // stale: the hub that wrote it is gone
  try {
    await create();
    return held;
  } catch (error) {
    // another hub took the stale lock between our rm and create
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new SpoolLockedError(root, file, null);
    throw error;
  }
}

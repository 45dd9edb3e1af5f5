/*
 * relay/spool/recovery - bring the spool to a clean state at startup, before any commit.
 *
 * tmp/      every file is a torn write (the writer died before the rename into incoming/,
 *           so no client got 250 for it): delete it and log `tornWriteDiscarded`.
 * incoming/ active/ deferred/ hold/
 *           every file is decoded in full (records, END record, crc32, envelope); a file that
 *           fails, or whose name is not a queue id, is renamed into corrupt/ and logged
 *           `corruptFileMoved` with the reason. Nothing is ever deleted from these states.
 * corrupt/  left as found, for an operator to inspect.
 *
 * Each directory touched is fsynced once at the end. Recovery runs before the spool
 * accepts work, so it needs no locking; two processes must never share one spool.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { syncDirectory } from '../common/durable-file.ts';
import { isSpoolMessageId } from './message-id.ts';
import { LIVE_QUEUE_STATES } from './queue-state.ts';
import { decodeSpoolFile } from './record-format.ts';
import type { SpoolLogEvent } from './events.ts';
import type { QueueState } from '../queue/queue-store.ts';
import type { SpoolPaths } from './queue-state.ts';

export interface SpoolRecoveryReport {
  /** Messages still queued: valid files left in place, plus messages in the commit log. */
  kept: number;
  /** Torn writes: files deleted from tmp/, torn log tails truncated. */
  discarded: number;
  /** Files moved to corrupt/, damaged log ranges copied there. */
  corrupt: number;
}

/** What startup recovery found damaged, beyond the counts of SpoolRecoveryReport (for metrics). */
export interface SpoolDamageReport {
  /** Bytes of the files moved and log ranges copied to corrupt/ (torn writes are not counted: nothing in them was acknowledged). */
  corruptBytes: number;
  /** Log frames replayed from after a damaged range of their segment (log-recovery.ts). */
  framesAfterDamage: number;
}

const VALIDATE_CONCURRENCY = 8;

async function regularFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name).sort();
}

async function discardTornWrites(paths: SpoolPaths, log: (e: SpoolLogEvent) => void): Promise<number> {
  const names = await regularFiles(paths.tmp);
  for (const name of names) {
    await fs.rm(path.join(paths.tmp, name), { force: true });
    log({ event: 'tornWriteDiscarded', file: name });
  }
  if (names.length > 0) await syncDirectory(paths.tmp);
  return names.length;
}

/** corruptTarget - where a damaged file goes; never overwrites an earlier one. */
async function corruptTarget(paths: SpoolPaths, state: QueueState, name: string): Promise<string> {
  const target = path.join(paths.states.corrupt, name);
  const taken = await fs.access(target).then(() => true, () => false);
  return taken ? `${target}.${state}.${randomBytes(4).toString('hex')}` : target;
}

/** checkQueueFile - '' when the file is a valid queue file, else the reason. */
async function checkQueueFile(file: string, name: string): Promise<{ reason: string; bytes: number }> {
  const bytes = await fs.readFile(file);
  if (!isSpoolMessageId(name)) return { reason: 'badFileName', bytes: bytes.length };
  const decoded = decodeSpoolFile(bytes);
  return { reason: decoded.ok ? '' : decoded.reason, bytes: bytes.length };
}

async function validateState(
  paths: SpoolPaths,
  state: QueueState,
  log: (e: SpoolLogEvent) => void,
): Promise<{ kept: number; corrupt: number; corruptBytes: number }> {
  const dir = paths.states[state];
  const names = await regularFiles(dir);
  let kept = 0;
  let corrupt = 0;
  let corruptBytes = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const name = names[next++] as string;
      const { reason, bytes } = await checkQueueFile(path.join(dir, name), name);
      if (reason === '') {
        kept += 1;
        continue;
      }
      await fs.rename(path.join(dir, name), await corruptTarget(paths, state, name));
      log({ event: 'corruptFileMoved', file: name, from: state, reason, bytes });
      corrupt += 1;
      corruptBytes += bytes;
    }
  };
  await Promise.all(Array.from({ length: Math.min(VALIDATE_CONCURRENCY, names.length) }, worker));
  if (corrupt > 0) await syncDirectory(dir);
  return { kept, corrupt, corruptBytes };
}

/** recoverSpool - discard torn writes, quarantine damaged files, report the counts (Spool.open logs them with the log's). */
export async function recoverSpool(paths: SpoolPaths, log: (e: SpoolLogEvent) => void): Promise<SpoolRecoveryReport & Pick<SpoolDamageReport, 'corruptBytes'>> {
  const discarded = await discardTornWrites(paths, log);
  let kept = 0;
  let corrupt = 0;
  let corruptBytes = 0;
  for (const state of LIVE_QUEUE_STATES) {
    const result = await validateState(paths, state, log);
    kept += result.kept;
    corrupt += result.corrupt;
    corruptBytes += result.corruptBytes;
  }
  if (corrupt > 0) await syncDirectory(paths.states.corrupt);
  return { kept, discarded, corrupt, corruptBytes };
}

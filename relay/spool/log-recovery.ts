/*
 * relay/spool/log-recovery - read the commit log at startup: which messages it still holds.
 *
 * Segments are replayed oldest first: an M frame queues its message, a later D (done) or
 * O (out: now a file) frame ends it. An M frame whose id also exists as a file in a state
 * directory is out as well (a crash after the file was written, before its O frame was
 * durable): the file wins, so a message is never queued twice.
 *
 * Damage: bytes that are not valid frames (log-format.ts scanSegment)
 *   at the end of a segment   a torn append: the writer died before its fdatasync returned,
 *                             so no client got 250 for it. The segment is truncated there
 *                             (logged `tornLogTailDiscarded`, counted as discarded).
 *   anywhere else             damaged disk blocks: copied to corrupt/<segment>.<offset>.damaged
 *                             for an administrator (logged `logDamaged`, counted as corrupt);
 *                             scanning resumes at the next valid frame.
 *   a bad segment header      a segment created but never written (crash while starting a
 *                             segment, nothing acknowledged in it): deleted when it is at
 *                             most a header long, else moved to corrupt/ whole.
 * Leading segments that hold no queued message are deleted. Only a prefix may go: a later
 * segment can hold the D frames that keep an earlier segment's messages from coming back.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { FRAME_MESSAGE, SEGMENT_HEADER, scanSegment, segmentName, segmentSeq } from './log-format.ts';
import type { SpoolLogEvent } from './events.ts';

export interface LogResidentMessage {
  id: string;
  segment: number;
  offset: number;
  length: number;
}

export interface LogRecoveryResult {
  /** Queued messages in the log, oldest first. */
  messages: LogResidentMessage[];
  /** Segments kept, ascending. */
  segments: number[];
  /** The number for the next new segment. */
  nextSeq: number;
  /** Torn tails truncated. */
  discarded: number;
  /** Damaged ranges or segments moved aside. */
  corrupt: number;
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(() => true, () => false);
}

/** recoverLog - replay `logDir`; `fileIds` are the ids present as files in any state. */
export async function recoverLog(
  logDir: string,
  corruptDir: string,
  fileIds: ReadonlySet<string>,
  log: (e: SpoolLogEvent) => void,
): Promise<LogRecoveryResult> {
  const seqs = (await fs.readdir(logDir)).map(segmentSeq).filter((s): s is number => s !== null).sort((a, b) => a - b);
  const live = new Map<string, LogResidentMessage>();
  const kept: number[] = [];
  let discarded = 0;
  let corrupt = 0;
  let dirChanged = false;
  for (const seq of seqs) {
    const name = segmentName(seq);
    const file = path.join(logDir, name);
    const buf = await fs.readFile(file);
    const scanned = scanSegment(buf);
    if (!scanned.headerOk) {
      if (buf.length <= SEGMENT_HEADER.length) {
        await fs.rm(file, { force: true });
        log({ event: 'tornLogTailDiscarded', file: name, bytes: buf.length });
        discarded += buf.length > 0 ? 1 : 0;
      } else {
        await fs.rename(file, path.join(corruptDir, `${name}.damaged`));
        log({ event: 'logDamaged', file: name, offset: 0, bytes: buf.length, reason: 'badSegmentHeader' });
        corrupt += 1;
      }
      dirChanged = true;
      continue;
    }
    for (const frame of scanned.frames) {
      if (frame.type === FRAME_MESSAGE) {
        if (!fileIds.has(frame.id)) live.set(frame.id, { id: frame.id, segment: seq, offset: frame.offset, length: frame.length });
      } else {
        live.delete(frame.id);
      }
    }
    for (const range of scanned.damaged) {
      if (range.offset + range.length === buf.length) {
        const handle = await fs.open(file, 'r+');
        try {
          await handle.truncate(range.offset);
          await handle.sync();
        } finally {
          await handle.close();
        }
        log({ event: 'tornLogTailDiscarded', file: name, bytes: range.length });
        discarded += 1;
        continue;
      }
      const target = path.join(corruptDir, `${name}.${range.offset.toString(16)}.damaged`);
      if (!(await exists(target))) await fs.writeFile(target, buf.subarray(range.offset, range.offset + range.length), { mode: 0o600 });
      log({ event: 'logDamaged', file: name, offset: range.offset, bytes: range.length, reason: range.reason });
      corrupt += 1;
    }
    kept.push(seq);
  }
  // drop the leading segments with nothing queued in them (see the manual: a prefix only)
  const liveSegments = new Set([...live.values()].map((m) => m.segment));
  while (kept.length > 0 && !liveSegments.has(kept[0] as number)) {
    await fs.rm(path.join(logDir, segmentName(kept.shift() as number)), { force: true });
    dirChanged = true;
  }
  if (dirChanged) {
    const handle = await fs.open(logDir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
  const nextSeq = (seqs.at(-1) ?? 0) + 1;
  return { messages: [...live.values()], segments: kept, nextSeq, discarded, corrupt };
}

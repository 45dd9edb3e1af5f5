/*
 * relay/spool/log-recovery - read the commit log at startup: which messages it still holds.
 *
 * Marker files (`.done`) are read first: each D (done) or O (out: now a file) frame ends its
 * message. Then message segments (`.log`) oldest first: an M frame queues its message unless
 * a marker ended it. Markers live in their own files, with their own group commit, so that
 * recording "delivered" never waits behind a batch of message bodies: that wait is the
 * window in which a crash makes a duplicate. An M frame whose id also exists as a file in a
 * state directory is out as well (a crash after the file was written, before its O frame
 * was durable): the file wins, so a message is never queued twice.
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
 * Leading segments that hold no queued message are deleted, and marker files older than the
 * oldest segment left. Only a prefix of segments may go, and a marker file only once every
 * segment up to its number is gone: it may end messages of any segment up to its number.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { replayFrames, SEGMENT_HEADER, scanSegment, segmentName, segmentSeq, type LogFileKind, type ScannedFrame, type SegmentFrames } from './log-format.ts';
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

interface ReadLogFile {
  frames: ScannedFrame[];
  discarded: number;
  corrupt: number;
  /** False when the file was removed or moved aside (bad header). */
  kept: boolean;
}

/** readLogFile - scan one log file; cut a torn tail, copy damaged ranges aside (see the manual). */
async function readLogFile(logDir: string, corruptDir: string, name: string, log: (e: SpoolLogEvent) => void): Promise<ReadLogFile> {
  const file = path.join(logDir, name);
  const buf = await fs.readFile(file);
  const scanned = scanSegment(buf);
  if (!scanned.headerOk) {
    if (buf.length <= SEGMENT_HEADER.length) {
      await fs.rm(file, { force: true });
      log({ event: 'tornLogTailDiscarded', file: name, bytes: buf.length });
      return { frames: [], discarded: buf.length > 0 ? 1 : 0, corrupt: 0, kept: false };
    }
    await fs.rename(file, path.join(corruptDir, `${name}.damaged`));
    log({ event: 'logDamaged', file: name, offset: 0, bytes: buf.length, reason: 'badSegmentHeader' });
    return { frames: [], discarded: 0, corrupt: 1, kept: false };
  }
  let discarded = 0;
  let corrupt = 0;
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
  return { frames: scanned.frames, discarded, corrupt, kept: true };
}

/** recoverLog - replay `logDir`; `fileIds` are the ids present as files in any state. */
export async function recoverLog(
  logDir: string,
  corruptDir: string,
  fileIds: ReadonlySet<string>,
  log: (e: SpoolLogEvent) => void,
): Promise<LogRecoveryResult> {
  const names = await fs.readdir(logDir);
  const seqsOf = (kind: LogFileKind): number[] => names.map((n) => segmentSeq(n, kind)).filter((s): s is number => s !== null).sort((a, b) => a - b);
  let discarded = 0;
  let corrupt = 0;
  const count = (r: ReadLogFile): void => {
    discarded += r.discarded;
    corrupt += r.corrupt;
  };
  // every done/out marker ends its message, whichever segment holds the message
  const markers: ScannedFrame[] = [];
  const doneFiles: number[] = [];
  for (const seq of seqsOf('done')) {
    const read = await readLogFile(logDir, corruptDir, segmentName(seq, 'done'), log);
    count(read);
    if (!read.kept) continue;
    doneFiles.push(seq);
    markers.push(...read.frames);
  }
  const segments: SegmentFrames[] = [];
  for (const seq of seqsOf('log')) {
    const read = await readLogFile(logDir, corruptDir, segmentName(seq), log);
    count(read);
    if (read.kept) segments.push({ seq, frames: read.frames });
  }
  const live = [...replayFrames(markers, segments, fileIds).values()].map(({ seq, frame }): LogResidentMessage => ({ id: frame.id, segment: seq, offset: frame.offset, length: frame.length }));
  const kept = segments.map((s) => s.seq);
  // drop the leading segments with nothing queued in them (see the manual: a prefix only),
  // and the marker files older than every segment left
  const liveSegments = new Set(live.map((m) => m.segment));
  while (kept.length > 0 && !liveSegments.has(kept[0] as number)) await fs.rm(path.join(logDir, segmentName(kept.shift() as number)), { force: true });
  const oldestKept = kept[0] ?? Infinity;
  for (const seq of doneFiles) if (seq < oldestKept) await fs.rm(path.join(logDir, segmentName(seq, 'done')), { force: true });
  const handle = await fs.open(logDir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  const nextSeq = Math.max(0, ...seqsOf('log'), ...seqsOf('done')) + 1;
  return { messages: live, segments: kept, nextSeq, discarded, corrupt };
}

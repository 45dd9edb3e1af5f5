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
 *   a torn tail               the end of a segment that is part of one frame running past
 *                             the end of the file (then maybe zeros): the writer died before
 *                             its fdatasync returned, so no client got 250 for it. The
 *                             segment is truncated there (`tornLogTailDiscarded`, discarded).
 *   anything else             damaged disk blocks, anywhere (the segment header, a frame
 *                             header, a body, the last frame): copied to
 *                             corrupt/<segment>.<offset hex>.damaged (`logDamaged`, logged at
 *                             error, counted as corrupt); every valid frame before and after
 *                             it is replayed, so only the messages in the range are lost.
 *   a header-only segment     a segment created but never written (crash while starting a
 *                             segment, nothing acknowledged in it): deleted.
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
  /** Damaged ranges copied aside. */
  corrupt: number;
  /** Bytes in those ranges. */
  corruptBytes: number;
  /** Valid frames replayed from after a damaged range in their file. */
  framesAfterDamage: number;
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(() => true, () => false);
}

interface ReadLogFile {
  frames: ScannedFrame[];
  discarded: number;
  corrupt: number;
  /** Bytes in damaged (not torn) ranges. */
  corruptBytes: number;
  /** Valid frames after the first damaged range: what stopping at the damage would have lost. */
  framesAfterDamage: number;
  /** False when the file was removed (a segment header never fully written). */
  kept: boolean;
}

/**
 * readLogFile - scan one log file; cut a torn tail, copy damaged ranges aside (see the manual).
 * A damaged range stays in the file (segments are never rewritten in place): its copy in
 * corrupt/ is made once, the frames around it are replayed, and the file goes away like any
 * other once nothing in it is queued.
 */
async function readLogFile(logDir: string, corruptDir: string, name: string, log: (e: SpoolLogEvent) => void): Promise<ReadLogFile> {
  const file = path.join(logDir, name);
  const buf = await fs.readFile(file);
  const scanned = scanSegment(buf);
  if (!scanned.headerOk && buf.length <= SEGMENT_HEADER.length) {
    await fs.rm(file, { force: true });
    log({ event: 'tornLogTailDiscarded', file: name, bytes: buf.length });
    return { frames: [], discarded: buf.length > 0 ? 1 : 0, corrupt: 0, corruptBytes: 0, framesAfterDamage: 0, kept: false };
  }
  let discarded = 0;
  let corrupt = 0;
  let corruptBytes = 0;
  const firstDamage = scanned.damaged.find((r) => !r.torn)?.offset ?? Infinity;
  const framesAfterDamage = scanned.frames.filter((f) => f.offset > firstDamage).length;
  for (const range of scanned.damaged) {
    if (range.torn) {
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
    const quarantinedAs = `${name}.${range.offset.toString(16)}.damaged`;
    const target = path.join(corruptDir, quarantinedAs);
    // the same range found again at a later start was copied then: the copy is not redone
    if (!(await exists(target))) await durableCopy(target, buf.subarray(range.offset, range.offset + range.length));
    const framesAfter = scanned.frames.filter((f) => f.offset > range.offset).length;
    log({ event: 'logDamaged', file: name, offset: range.offset, bytes: range.length, reason: range.reason, quarantinedAs, framesRecovered: scanned.frames.length, framesAfter });
    corrupt += 1;
    corruptBytes += range.length;
  }
  return { frames: scanned.frames, discarded, corrupt, corruptBytes, framesAfterDamage, kept: true };
}

/** durableCopy - write the quarantine copy and fsync it: it is the only copy an administrator gets of those bytes. */
async function durableCopy(target: string, bytes: Buffer): Promise<void> {
  const handle = await fs.open(target, 'wx', 0o600);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
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
  let corruptBytes = 0;
  let framesAfterDamage = 0;
  const count = (r: ReadLogFile): void => {
    discarded += r.discarded;
    corrupt += r.corrupt;
    corruptBytes += r.corruptBytes;
    framesAfterDamage += r.framesAfterDamage;
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
  for (const dir of corrupt > 0 ? [logDir, corruptDir] : [logDir]) {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
  const nextSeq = Math.max(0, ...seqsOf('log'), ...seqsOf('done')) + 1;
  return { messages: live, segments: kept, nextSeq, discarded, corrupt, corruptBytes, framesAfterDamage };
}

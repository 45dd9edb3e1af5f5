/*
 * relay/spool/log-format - the commit log's on-disk format: segments of framed records.
 *
 * The commit log (log/ under the spool root) is where a message is made durable before the
 * session says 250: many messages share one append and one fdatasync (log-appender.ts),
 * instead of a file, an fdatasync and a directory fsync each. A segment file
 * `log/<16 hex digits>.log` holds M frames; `log/<same digits>.done` holds the D and O frames
 * written while that segment was the newest. Each starts with an 8-byte header ("RLOG", 0,
 * 0, 0, version) and holds frames:
 *
 *     type (1 byte) | length (uint32 BE, payload bytes) | crc32 of the id (uint32 BE) | payload
 *
 *     M  message  payload = id (28 ASCII hex digits) + one complete queue file
 *                 (record-format.ts: header, envelope, body, END record with crc32 of it all)
 *     D  done     payload = id; the message was delivered or bounced (removeMessage)
 *     O  out      payload = id; the message now lives as a file in a state directory
 *
 * A frame is valid only when the id is well-formed, the id's crc32 matches and, for M, the
 * queue file decodes (so its own crc32 covers every envelope and body byte). scanSegment
 * never throws on bad bytes: it reports damaged ranges and resynchronises after them (a
 * damaged segment header included), so a damaged block costs only the frames in it, and it
 * tells a torn tail (crash during an append: nothing in it was acknowledged) from damage.
 * Resynchronising never looks inside a message whose extent is known, and a candidate frame
 * inside one is refused: bodies are client data and may contain valid-looking frames.
 * Segments are never rewritten, only appended to, truncated after a torn tail at startup,
 * and deleted when no message in them is still queued.
 */
import { crc32 } from 'node:zlib';
import { isSpoolMessageId } from './message-id.ts';
import { decodeSpoolFile, REC_ENVELOPE, REC_HEADER, REC_MESSAGE } from './record-format.ts';
import type { DecodedSpoolFile } from './record-format.ts';

export const LOG_DIR_NAME = 'log';
export const LOG_FORMAT_VERSION = 1;
export const SEGMENT_HEADER = Buffer.from([0x52, 0x4c, 0x4f, 0x47, 0, 0, 0, LOG_FORMAT_VERSION]); // "RLOG" 0 0 0 v
export const FRAME_HEADER_BYTES = 9;
export const ID_BYTES = 28;

export const FRAME_MESSAGE = 0x4d; // 'M'
export const FRAME_DONE = 0x44; // 'D'
export const FRAME_OUT = 0x4f; // 'O'
export type FrameType = typeof FRAME_MESSAGE | typeof FRAME_DONE | typeof FRAME_OUT;
const FRAME_TYPES: readonly number[] = [FRAME_MESSAGE, FRAME_DONE, FRAME_OUT];

/** The two kinds of log file: `log` holds M frames, `done` holds the D and O frames that end
 *  them (log-recovery.ts says why apart). Both share numbering, header and frame format. */
export type LogFileKind = 'log' | 'done';

/** segmentName - the file name of segment number `seq` (kind `log`: messages; `done`: markers). */
export function segmentName(seq: number, kind: LogFileKind = 'log'): string {
  return `${seq.toString(16).padStart(16, '0')}.${kind}`;
}

/** segmentSeq - the number of a log file name of this kind, or null for any other name. */
export function segmentSeq(name: string, kind: LogFileKind = 'log'): number | null {
  const match = /^([0-9a-f]{16})\.(log|done)$/.exec(name);
  return match && match[2] === kind ? Number.parseInt(match[1] as string, 16) : null;
}

/** frameHeader - the 9 bytes before a payload that starts with `id`. */
export function frameHeader(type: FrameType, id: string, payloadBytes: number): Buffer {
  const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES + ID_BYTES);
  head[0] = type;
  head.writeUInt32BE(payloadBytes, 1);
  head.write(id, FRAME_HEADER_BYTES, ID_BYTES, 'latin1');
  head.writeUInt32BE(crc32(head.subarray(FRAME_HEADER_BYTES)) >>> 0, 5);
  return head;
}

/** markerFrame - a D or O frame for message `id`. */
export function markerFrame(type: typeof FRAME_DONE | typeof FRAME_OUT, id: string): Buffer {
  return frameHeader(type, id, ID_BYTES);
}

export interface ScannedFrame {
  type: FrameType;
  id: string;
  /** Offset of the frame header in the segment. */
  offset: number;
  /** Header and payload bytes. */
  length: number;
}

export interface DamagedRange {
  offset: number;
  length: number;
  /** Why the first frame of the range was refused. */
  reason: string;
  /**
   * True only for the end of a segment that an append never finished: what follows the last
   * valid frame is a fraction of one frame running past the end of the file (or shorter than a
   * frame header), possibly followed by zeros. Such bytes were never fdatasynced, so no client
   * got 250 for them. Anything else (a whole frame that fails its checksum, garbage, damage
   * with valid frames after it) is damage to bytes that may have been acknowledged.
   */
  torn: boolean;
}

export interface ScannedSegment {
  frames: ScannedFrame[];
  damaged: DamagedRange[];
  /** False when the 8-byte segment header is missing or wrong (frames after it are still read). */
  headerOk: boolean;
}

type FrameCheck = { ok: true; frame: ScannedFrame } | { ok: false; reason: string };

function checkFrame(buf: Buffer, offset: number, decodeMessage = true): FrameCheck {
  if (offset + FRAME_HEADER_BYTES + ID_BYTES > buf.length) return { ok: false, reason: 'truncated' };
  const type = buf[offset] as number;
  if (!FRAME_TYPES.includes(type)) return { ok: false, reason: 'badFrameType' };
  const payloadBytes = buf.readUInt32BE(offset + 1);
  if (payloadBytes < ID_BYTES || (type !== FRAME_MESSAGE && payloadBytes !== ID_BYTES)) return { ok: false, reason: 'badFrameLength' };
  const idBytes = buf.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + ID_BYTES);
  if (crc32(idBytes) >>> 0 !== buf.readUInt32BE(offset + 5)) return { ok: false, reason: 'badFrameChecksum' };
  const id = idBytes.toString('latin1');
  if (!isSpoolMessageId(id)) return { ok: false, reason: 'badFrameId' };
  const end = offset + FRAME_HEADER_BYTES + payloadBytes;
  if (end > buf.length) return { ok: false, reason: 'truncated' };
  if (type === FRAME_MESSAGE && decodeMessage) {
    const decoded = decodeSpoolFile(buf.subarray(offset + FRAME_HEADER_BYTES + ID_BYTES, end));
    if (!decoded.ok) return { ok: false, reason: decoded.reason };
  }
  return { ok: true, frame: { type: type as FrameType, id, offset, length: end - offset } };
}

const FRAME_PREFIX_BYTES = FRAME_HEADER_BYTES + ID_BYTES;
const QUEUE_MAGIC = Buffer.from('RLSP', 'latin1');
const RECORD_HEADER_BYTES = 5;
const END_RECORD_BYTES = RECORD_HEADER_BYTES + 4;

/**
 * declaredEnd - where the frame at `offset` ends by its own length field, when the header
 * looks like one we write (a frame type, a length allowed for it, the id's crc32 matching).
 * The length field is not covered by that crc32, so this end is only believed when something
 * independent agrees with it (trustedEnd).
 */
function declaredEnd(buf: Buffer, offset: number): number | null {
  if (offset + FRAME_PREFIX_BYTES > buf.length) return null;
  const type = buf[offset] as number;
  if (!FRAME_TYPES.includes(type)) return null;
  const payloadBytes = buf.readUInt32BE(offset + 1);
  if (payloadBytes < ID_BYTES || (type !== FRAME_MESSAGE && payloadBytes !== ID_BYTES)) return null;
  const idBytes = buf.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_PREFIX_BYTES);
  if (crc32(idBytes) >>> 0 !== buf.readUInt32BE(offset + 5)) return null;
  return offset + FRAME_HEADER_BYTES + payloadBytes;
}

/**
 * queueFileEnd - where a queue file starting at `at` ends by its own record lengths (H with the
 * RLSP magic, E, M, then the fixed-size Z), without checking its crc32: the second, independent
 * length of an M frame. Null when those record headers are not there or not inside `buf`.
 */
function queueFileEnd(buf: Buffer, at: number): number | null {
  if (at + RECORD_HEADER_BYTES + QUEUE_MAGIC.length + 1 > buf.length) return null;
  if (buf[at] !== REC_HEADER || buf.readUInt32BE(at + 1) !== QUEUE_MAGIC.length + 1) return null;
  if (!buf.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + QUEUE_MAGIC.length).equals(QUEUE_MAGIC)) return null;
  const envelope = at + RECORD_HEADER_BYTES + QUEUE_MAGIC.length + 1;
  if (envelope + RECORD_HEADER_BYTES > buf.length || buf[envelope] !== REC_ENVELOPE) return null;
  const message = envelope + RECORD_HEADER_BYTES + buf.readUInt32BE(envelope + 1);
  if (message + RECORD_HEADER_BYTES > buf.length || buf[message] !== REC_MESSAGE) return null;
  return message + RECORD_HEADER_BYTES + buf.readUInt32BE(message + 1) + END_RECORD_BYTES;
}

/** corroborated - a frame boundary at `end` is confirmed by the end of the file or a valid frame there. */
function corroborated(buf: Buffer, end: number): boolean {
  return end === buf.length || (end < buf.length && checkFrame(buf, end).ok);
}

/**
 * trustedEnd - the end of the failed frame at `offset` when it can be known without looking
 * inside it: its length field and its queue file's record lengths agree, or one of them lands
 * exactly on a valid frame (or the end of the file). Then the damage is that one frame and
 * nothing inside its body is ever taken for a frame (a body may carry spool bytes).
 */
function trustedEnd(buf: Buffer, offset: number): number | null {
  const declared = declaredEnd(buf, offset);
  const natural = queueFileEnd(buf, offset + FRAME_PREFIX_BYTES);
  if (declared !== null && declared === natural && declared <= buf.length) return declared;
  if (natural !== null && natural <= buf.length && corroborated(buf, natural)) return natural;
  if (declared !== null && declared <= buf.length && corroborated(buf, declared)) return declared;
  return null;
}

/**
 * tornAppend - the bytes from `offset` to the end are an append that never finished. Trailing
 * zeros are ignored (a crash can leave a file extended before its data reached the disk);
 * what is left is either shorter than a frame's fixed prefix, or the start of one frame whose
 * header is intact and which ends past the end of the file (and whose queue file does not
 * end, verified, inside it), or whose last bytes are among the trailing zeros. An
 * acknowledged frame was fdatasynced whole, so it only looks like this if the file itself was
 * cut or zeroed at its end, which cannot be told from a crash. Anything else at the end of a
 * segment (a whole frame that fails its checksum, garbage) is damage, not a torn append.
 */
function tornAppend(buf: Buffer, offset: number): boolean {
  let content = buf.length;
  while (content > offset && buf[content - 1] === 0) content--;
  if (content - offset < FRAME_PREFIX_BYTES) return true;
  const declared = declaredEnd(buf, offset);
  if (declared === null) return false;
  if (declared > buf.length) {
    // unless only the length field is wrong: the queue file ends inside the file and either
    // verifies or is followed by a valid frame (record lengths read from a cut, zero-padded
    // header are not evidence of anything)
    const natural = queueFileEnd(buf, offset + FRAME_PREFIX_BYTES);
    if (natural === null || natural > buf.length) return true;
    return !(decodeSpoolFile(buf.subarray(offset + FRAME_PREFIX_BYTES, natural)).ok || corroborated(buf, natural));
  }
  // a whole M frame ends with the crc32 of its END record: all four bytes zero is a crc that
  // was never written (odds of a real one being 0: 2^-32); a marker frame ends with an id
  // digit, never zero. A crc cut inside (1 to 3 zero bytes) is taken as damage: kept, not lost
  return buf[offset] === FRAME_MESSAGE ? content <= declared - 4 : content < declared;
}

/**
 * resync - the offset of the next valid frame after the damaged byte at `from`, or null.
 * A candidate counts only when its checksums verify and it does not lie inside another
 * message whose extent is known (two agreeing lengths, or one confirmed by the next valid
 * frame): a message body may hold bytes that form a valid frame (someone mailed a spool
 * segment, or crafted one), and those must never come back as messages of their own.
 */
function resync(buf: Buffer, from: number): number | null {
  let coveredTo = from + 1;
  for (let p = from + 1; p < buf.length; p++) {
    const byte = buf[p] as number;
    if (FRAME_TYPES.includes(byte)) {
      if (p >= coveredTo && checkFrame(buf, p).ok) return p;
      // a frame header (its id checksum verifies) whose end is trusted covers its body
      if (declaredEnd(buf, p) !== null) {
        const end = trustedEnd(buf, p);
        if (end !== null && end > coveredTo) coveredTo = end;
      }
    }
    if (byte === REC_HEADER) {
      // a queue file whose frame header is lost still delimits its body, if its end is
      // confirmed or its crc32 verifies (a crafted head with lengths reaching past its own
      // message can do neither)
      const end = queueFileEnd(buf, p);
      if (end !== null && end > coveredTo && end <= buf.length && (corroborated(buf, end) || decodeSpoolFile(buf.subarray(p, end)).ok)) coveredTo = end;
    }
  }
  return null;
}

/**
 * scanSegment - every valid frame of a segment, and the ranges of bytes that are not.
 *
 * Never throws on bad bytes. A damaged segment header does not hide the frames after it
 * (they carry their own checksums). After a frame that fails, scanning goes on at its end
 * when that end can be trusted, else at the next valid frame found byte by byte (resync),
 * so one damaged block costs only the frames in it. The end of the file is either a torn
 * append (`torn`, normal after a crash) or damage like any other.
 */
export function scanSegment(buf: Buffer): ScannedSegment {
  const headerOk = buf.length >= SEGMENT_HEADER.length && buf.subarray(0, SEGMENT_HEADER.length).equals(SEGMENT_HEADER);
  if (!headerOk && buf.length <= SEGMENT_HEADER.length) {
    // a segment created but its header never fully written: nothing can have been appended
    return { frames: [], damaged: buf.length > 0 ? [{ offset: 0, length: buf.length, reason: 'badSegmentHeader', torn: true }] : [], headerOk };
  }
  const frames: ScannedFrame[] = [];
  const damaged: DamagedRange[] = headerOk ? [] : [{ offset: 0, length: SEGMENT_HEADER.length, reason: 'badSegmentHeader', torn: false }];
  let offset = SEGMENT_HEADER.length;
  while (offset < buf.length) {
    const first = checkFrame(buf, offset);
    if (first.ok) {
      frames.push(first.frame);
      offset += first.frame.length;
      continue;
    }
    if (tornAppend(buf, offset)) {
      damaged.push({ offset, length: buf.length - offset, reason: first.reason, torn: true });
      break;
    }
    const end = trustedEnd(buf, offset);
    if (end !== null) {
      damaged.push({ offset, length: end - offset, reason: first.reason, torn: false });
      offset = end;
      continue;
    }
    const next = resync(buf, offset) ?? buf.length;
    damaged.push({ offset, length: next - offset, reason: first.reason, torn: false });
    offset = next;
  }
  // a damaged segment header followed directly by more damage is one range to quarantine
  const merged: DamagedRange[] = [];
  for (const range of damaged) {
    const last = merged.at(-1);
    if (last && !last.torn && !range.torn && last.offset + last.length === range.offset) last.length += range.length;
    else merged.push({ ...range });
  }
  return { frames, damaged: merged, headerOk };
}

export interface SegmentFrames {
  seq: number;
  frames: readonly ScannedFrame[];
}

/**
 * replayFrames - the M frames whose message is still queued, by id, oldest first: ended by no
 * D or O frame (in `markers`, from .done files, or in a segment after it) and not out as a
 * file (`fileIds`). Recovery and readQueueSnapshot both decide with this.
 */
export function replayFrames(markers: Iterable<ScannedFrame>, segments: Iterable<SegmentFrames>, fileIds: ReadonlySet<string>): Map<string, { seq: number; frame: ScannedFrame }> {
  const ended = new Set<string>();
  for (const frame of markers) if (frame.type !== FRAME_MESSAGE) ended.add(frame.id);
  const live = new Map<string, { seq: number; frame: ScannedFrame }>();
  for (const { seq, frames } of segments) {
    for (const frame of frames) {
      if (frame.type !== FRAME_MESSAGE) live.delete(frame.id);
      else if (!ended.has(frame.id) && !fileIds.has(frame.id)) live.set(frame.id, { seq, frame });
    }
  }
  return live;
}

/** decodeMessageFrame - the queue file inside an M frame read back from a segment. */
export function decodeMessageFrame(frame: Buffer, id: string): DecodedSpoolFile {
  const check = checkFrame(frame, 0, false);
  if (!check.ok) return check;
  if (check.frame.type !== FRAME_MESSAGE || check.frame.id !== id || check.frame.length !== frame.length) return { ok: false, reason: 'frameMismatch' };
  return decodeSpoolFile(frame.subarray(FRAME_HEADER_BYTES + ID_BYTES));
}

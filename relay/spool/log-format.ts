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
 * never throws on bad bytes: it reports damaged ranges and resynchronises on the next valid
 * frame, so a torn tail (crash during an append) or a damaged block costs only the frames
 * in it. Segments are never rewritten, only appended to, truncated after a torn tail at
 * startup, and deleted when no message in them is still queued.
 */
import { crc32 } from 'node:zlib';
import { isSpoolMessageId } from './message-id.ts';
import { decodeSpoolFile } from './record-format.ts';
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
}

export interface ScannedSegment {
  frames: ScannedFrame[];
  damaged: DamagedRange[];
  /** False when the segment header is missing or wrong (then nothing else was read). */
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

/** scanSegment - every valid frame of a segment, and the ranges of bytes that are not. */
export function scanSegment(buf: Buffer): ScannedSegment {
  if (buf.length < SEGMENT_HEADER.length || !buf.subarray(0, SEGMENT_HEADER.length).equals(SEGMENT_HEADER)) {
    return { frames: [], damaged: buf.length > 0 ? [{ offset: 0, length: buf.length, reason: 'badSegmentHeader' }] : [], headerOk: false };
  }
  const frames: ScannedFrame[] = [];
  const damaged: DamagedRange[] = [];
  let offset = SEGMENT_HEADER.length;
  while (offset < buf.length) {
    const first = checkFrame(buf, offset);
    if (first.ok) {
      frames.push(first.frame);
      offset += first.frame.length;
      continue;
    }
    // resynchronise: the next offset where a whole valid frame starts (frames are self-checking)
    let next = offset + 1;
    let found: ScannedFrame | null = null;
    for (; next < buf.length; next++) {
      if (!FRAME_TYPES.includes(buf[next] as number)) continue;
      const check = checkFrame(buf, next);
      if (check.ok) {
        found = check.frame;
        break;
      }
    }
    damaged.push({ offset, length: next - offset, reason: first.reason });
    if (found === null) break;
    offset = next;
  }
  return { frames, damaged, headerOk: true };
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

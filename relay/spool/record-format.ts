/*
 * relay/spool/record-format - the queue file format: typed, length-prefixed records.
 *
 * Every queue file record has a type code and a length field, and every file must end with
 * an explicit END record (the Postfix rule). A record is
 *
 *     type (1 byte, ASCII) | length (uint32, big endian) | payload (length bytes)
 *
 * and a file is exactly, in this order:
 *
 *     H  header    magic "RLSP" + format version (uint8)
 *     E  envelope  UTF-8 JSON, see envelope.ts
 *     M  message   the body bytes, verbatim
 *     Z  end       crc32 (uint32, big endian) of every byte before this record
 *
 * decodeSpoolFile rejects anything else - a missing or partial record, a wrong order, bytes
 * after the END record, a checksum mismatch - and says why. It never throws on bad input.
 */
import { crc32 } from 'node:zlib';
import { checkEnvelope } from '../delivery/envelope.ts';
import type { MessageEnvelope } from '../delivery/envelope.ts';

export const SPOOL_FORMAT_VERSION = 1;
export const REC_HEADER = 0x48; // 'H'
export const REC_ENVELOPE = 0x45; // 'E'
export const REC_MESSAGE = 0x4d; // 'M'
export const REC_END = 0x5a; // 'Z'
export const RECORD_HEADER_BYTES = 5;
const MAGIC = Buffer.from('RLSP', 'latin1');
const MAX_RECORD_BYTES = 0xffffffff;

export interface EncodedSpoolFile {
  /** Buffers to write in order (body chunks are not copied). */
  buffers: Buffer[];
  bytes: number;
}

export type DecodedSpoolFile =
  | { ok: true; version: number; envelope: MessageEnvelope; body: Buffer }
  | { ok: false; reason: string };

function recordHeader(type: number, length: number): Buffer {
  const head = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
  head[0] = type;
  head.writeUInt32BE(length, 1);
  return head;
}

/**
 * encodeSpoolFileHead - the records before the body (header, envelope, the message record's
 * header for `bodyBytes`): for a writer that streams the body itself (a body spilled to disk
 * during DATA) and ends the file with encodeSpoolFileTail. The envelope must be checked.
 */
export function encodeSpoolFileHead(envelope: MessageEnvelope, bodyBytes: number): Buffer {
  const header = Buffer.concat([recordHeader(REC_HEADER, MAGIC.length + 1), MAGIC, Buffer.of(SPOOL_FORMAT_VERSION)]);
  const json = Buffer.from(JSON.stringify(envelope), 'utf8');
  if (bodyBytes > MAX_RECORD_BYTES || json.length > MAX_RECORD_BYTES) throw new RangeError('queue file record too large');
  return Buffer.concat([header, recordHeader(REC_ENVELOPE, json.length), json, recordHeader(REC_MESSAGE, bodyBytes)]);
}

/** encodeSpoolFileTail - the END record, given the crc32 of every byte before it. */
export function encodeSpoolFileTail(crc: number): Buffer {
  const tail = Buffer.concat([recordHeader(REC_END, 4), Buffer.alloc(4)]);
  tail.writeUInt32BE(crc >>> 0, RECORD_HEADER_BYTES);
  return tail;
}

/** The largest body a queue file can hold (the message record's length is a uint32). */
export const MAX_SPOOL_BODY_BYTES = MAX_RECORD_BYTES;

/** encodeSpoolFile - the records of one queue file; the envelope must already be checked. */
export function encodeSpoolFile(envelope: MessageEnvelope, body: readonly Buffer[]): EncodedSpoolFile {
  let bodyBytes = 0;
  for (const chunk of body) bodyBytes += chunk.length;
  const head = encodeSpoolFileHead(envelope, bodyBytes);
  let crc = crc32(head);
  const chunks = body.filter((c) => c.length > 0);
  for (const chunk of chunks) crc = crc32(chunk, crc);
  const tail = encodeSpoolFileTail(crc);
  return { buffers: [head, ...chunks, tail], bytes: head.length + bodyBytes + tail.length };
}

interface RawRecord {
  type: number;
  start: number;
  payload: Buffer;
}

function readRecord(file: Buffer, offset: number): RawRecord | null {
  if (offset + RECORD_HEADER_BYTES > file.length) return null;
  const type = file[offset] ?? 0;
  const length = file.readUInt32BE(offset + 1);
  const payloadStart = offset + RECORD_HEADER_BYTES;
  if (payloadStart + length > file.length) return null;
  return { type, start: offset, payload: file.subarray(payloadStart, payloadStart + length) };
}

const EXPECTED = [REC_HEADER, REC_ENVELOPE, REC_MESSAGE, REC_END];

/** decodeSpoolFile - validate and split one queue file; the body is a view, not a copy. */
export function decodeSpoolFile(file: Buffer): DecodedSpoolFile {
  const records: RawRecord[] = [];
  let offset = 0;
  for (const type of EXPECTED) {
    if (offset === file.length) return { ok: false, reason: 'missingEnd' };
    const record = readRecord(file, offset);
    if (record === null) return { ok: false, reason: 'truncated' };
    if (record.type !== type) {
      return { ok: false, reason: `unexpectedRecord:${String.fromCharCode(record.type)}@${offset}` };
    }
    records.push(record);
    offset = record.start + RECORD_HEADER_BYTES + record.payload.length;
  }
  if (offset !== file.length) return { ok: false, reason: 'trailingBytes' };
  const [header, envelopeRec, message, end] = records as [RawRecord, RawRecord, RawRecord, RawRecord];
  if (end.payload.length !== 4) return { ok: false, reason: 'badEndRecord' };
  if (crc32(file.subarray(0, end.start)) >>> 0 !== end.payload.readUInt32BE(0)) {
    return { ok: false, reason: 'badChecksum' };
  }
  if (header.payload.length < MAGIC.length + 1 || !header.payload.subarray(0, MAGIC.length).equals(MAGIC)) {
    return { ok: false, reason: 'badHeader' };
  }
  const version = header.payload[MAGIC.length] ?? 0;
  if (version !== SPOOL_FORMAT_VERSION) return { ok: false, reason: `unsupportedVersion:${version}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(envelopeRec.payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'badEnvelope:json' };
  }
  const checked = checkEnvelope(parsed);
  if (!checked.ok) return { ok: false, reason: `badEnvelope:${checked.reason}` };
  if (checked.envelope.size !== message.payload.length) return { ok: false, reason: 'sizeMismatch' };
  return { ok: true, version, envelope: checked.envelope, body: message.payload };
}

/*
 * relay/spool/snapshot - what a spool holds, read without opening it (no recovery, no writes).
 *
 * For tools and tests that look at a hub's queue while the hub runs: the commit log is
 * replayed (log-format.ts) and the state directories are read; a file wins over a frame with
 * the same id, as at recovery. Frames being appended at that moment may show as a damaged
 * tail and are skipped, and a message moving between states can be missed or seen twice:
 * callers that need a stable answer read twice and compare.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeMessageFrame, replayFrames, scanSegment, segmentName, segmentSeq, type LogFileKind, type SegmentFrames } from './log-format.ts';
import { isSpoolMessageId } from './message-id.ts';
import { LIVE_QUEUE_STATES } from './queue-state.ts';
import { decodeSpoolFile } from './record-format.ts';
import type { MessageEnvelope } from '../delivery/envelope.ts';
import type { QueueState } from '../queue/queue-store.ts';

export interface QueuedMessage {
  id: string;
  /** For a message in the log: `incoming` (whether a delivery attempt runs is not on disk). */
  state: QueueState;
  envelope: MessageEnvelope;
  body: Buffer;
}

const isMissing = (err: unknown): boolean => (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

/** readQueueSnapshot - every queued message (log, then incoming/ active/ deferred/ hold/). */
export function readQueueSnapshot(spoolDir: string): QueuedMessage[] {
  const logDir = path.join(spoolDir, 'log');
  const names = readdirOrEmpty(logDir);
  const read = (kind: LogFileKind): Array<SegmentFrames & { buf: Buffer }> =>
    names.map((n) => segmentSeq(n, kind)).filter((s): s is number => s !== null).sort((a, b) => a - b).flatMap((seq) => {
      try {
        const buf = readFileSync(path.join(logDir, segmentName(seq, kind)));
        return [{ seq, buf, frames: scanSegment(buf).frames }];
      } catch (err) {
        if (isMissing(err)) return []; // deleted since the listing: nothing queued was in it
        throw err;
      }
    });
  // markers first (they may be newer than this listing of messages: then they just end less);
  // files are read after the log, so a message moved out meanwhile is found as its file
  const markers = read('done').flatMap((f) => f.frames);
  const segments = read('log');
  const bufs = new Map(segments.map((s) => [s.seq, s.buf]));
  const logged = new Map<string, QueuedMessage>();
  for (const [id, { seq, frame }] of replayFrames(markers, segments, new Set())) {
    const decoded = decodeMessageFrame((bufs.get(seq) as Buffer).subarray(frame.offset, frame.offset + frame.length), id);
    if (decoded.ok) logged.set(id, { id, state: 'incoming', envelope: decoded.envelope, body: decoded.body });
  }
  const files: QueuedMessage[] = [];
  for (const state of LIVE_QUEUE_STATES) {
    for (const id of readdirOrEmpty(path.join(spoolDir, state)).sort()) {
      if (!isSpoolMessageId(id)) continue;
      let bytes: Buffer;
      try {
        bytes = readFileSync(path.join(spoolDir, state, id));
      } catch (err) {
        if (isMissing(err)) continue; // moved or removed since the listing
        throw err;
      }
      const decoded = decodeSpoolFile(bytes);
      if (!decoded.ok) throw new Error(`spool file ${state}/${id} does not decode: ${decoded.reason}`);
      logged.delete(id);
      files.push({ id, state, envelope: decoded.envelope, body: decoded.body });
    }
  }
  return [...logged.values(), ...files];
}

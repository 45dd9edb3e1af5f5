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
import { FRAME_HEADER_BYTES, FRAME_MESSAGE, ID_BYTES, scanSegment, segmentName, segmentSeq, type LogFileKind, type ScannedFrame } from './log-format.ts';
import { isSpoolMessageId } from './message-id.ts';
import { LIVE_QUEUE_STATES } from './queue-state.ts';
import { decodeSpoolFile } from './record-format.ts';
import type { SpoolEnvelope } from './envelope.ts';
import type { QueueState } from './queue-state.ts';

export interface QueuedMessage {
  id: string;
  /** For a message in the log: `incoming` (whether a delivery attempt runs is not on disk). */
  state: QueueState;
  envelope: SpoolEnvelope;
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
  const logged = new Map<string, QueuedMessage>();
  const logDir = path.join(spoolDir, 'log');
  const names = readdirOrEmpty(logDir);
  const read = (kind: LogFileKind): Array<{ buf: Buffer; frames: ScannedFrame[] }> =>
    names.map((n) => segmentSeq(n, kind)).filter((s): s is number => s !== null).sort((a, b) => a - b).flatMap((seq) => {
      try {
        const buf = readFileSync(path.join(logDir, segmentName(seq, kind)));
        return [{ buf, frames: scanSegment(buf).frames }];
      } catch (err) {
        if (isMissing(err)) return []; // deleted since the listing: nothing queued was in it
        throw err;
      }
    });
  // markers first (they may be newer than this listing of messages: then they just end less)
  const ended = new Set(read('done').flatMap(({ frames }) => frames.map((f) => f.id)));
  for (const { buf, frames } of read('log')) {
    for (const frame of frames) {
      if (frame.type !== FRAME_MESSAGE) {
        logged.delete(frame.id);
        continue;
      }
      if (ended.has(frame.id)) continue;
      const decoded = decodeSpoolFile(buf.subarray(frame.offset + FRAME_HEADER_BYTES + ID_BYTES, frame.offset + frame.length));
      if (decoded.ok) logged.set(frame.id, { id: frame.id, state: 'incoming', envelope: decoded.envelope, body: decoded.body });
    }
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

/*
 * Issue 17 item 13: damage inside a commit-log segment costs only the frames it touches.
 *
 * A table of corruptions, each applied to a segment of six acknowledged messages written by a
 * real Spool; the spool is reopened and each row states exactly which messages come back,
 * what is copied to corrupt/ and how the damage is reported (an error-level logDamaged, or
 * the normal tornLogTailDiscarded after a crash mid-append). Two rows put a valid frame inside
 * a message body (someone mailed spool bytes) to check resynchronisation never turns a body
 * into a message of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FRAME_MESSAGE, frameHeader, scanSegment, type ScannedFrame } from './log-format.ts';
import { encodeSpoolFile } from './record-format.ts';
import { Spool, spoolEventLevel } from './spool.ts';
import { testBody, testEnvelope } from '../../test/support/spool-messages.ts';
import type { SpoolLogEvent } from './spool.ts';

const MESSAGES = 6;
const PAGE = 4096;
const GARBAGE = Buffer.from('this is not a frame, and not a torn append either. '.repeat(6), 'latin1');
/** The id of the frame hidden in a body: well-formed, so only its place can give it away. */
const EMBEDDED_ID = 'e'.repeat(28);

/** embeddedFrame - a complete, valid M frame (a message to someone the relay never accepted). */
function embeddedFrame(): Buffer {
  const envelope = { ...testEnvelope(64, 99), rcptTo: [{ address: 'victim@elsewhere.test' }], sessionId: 'crafted' };
  const encoded = encodeSpoolFile(envelope, [Buffer.alloc(64, 0x61)]);
  const payload = Buffer.concat([Buffer.from(EMBEDDED_ID, 'latin1'), ...encoded.buffers]);
  return Buffer.concat([frameHeader(FRAME_MESSAGE, EMBEDDED_ID, payload.length).subarray(0, 9), payload]);
}

interface Written {
  dir: string;
  file: string;
  ids: string[];
  frames: ScannedFrame[];
  bytes: Buffer;
}

/** writeSegment - six messages, one commit each (frame order is commit order); `carrier` gets a body that holds a valid frame. */
async function writeSegment(carrier?: number): Promise<Written> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-log-corruption-'));
  const spool = await Spool.open(dir, { minFreeBytes: 0, log: () => undefined });
  const ids: string[] = [];
  for (let seq = 1; seq <= MESSAGES; seq++) {
    const body = seq === carrier ? Buffer.concat([testBody(seq, 700), embeddedFrame(), testBody(seq, 700)]) : testBody(seq, 1500);
    ids.push(await spool.commitMessage(testEnvelope(body.length, seq), body));
  }
  await spool.close();
  const name = (await fs.readdir(path.join(dir, 'log'))).filter((n) => n.endsWith('.log')).sort().at(-1) as string;
  const file = path.join(dir, 'log', name);
  const bytes = await fs.readFile(file);
  const { frames } = scanSegment(bytes);
  assert.equal(frames.length, MESSAGES, 'the intact segment has one frame per message');
  return { dir, file, ids, frames, bytes };
}

interface Row {
  name: string;
  carrier?: number;
  /** Change the segment's bytes; return the new content. */
  damage(w: Written): Buffer;
  /** Indexes (0-based) of the messages that must come back, exactly. */
  recovered(w: Written): number[];
  /** The damaged ranges copied to corrupt/ (offset, length), in order; [] for none. */
  quarantined(w: Written): Array<[number, number]>;
  /** Torn tails cut (logged at info, counted as discarded). */
  torn: number;
  /** Frames recovered from after the first damaged range. */
  framesAfterDamage(w: Written): number;
}

const frameOf = (w: Written, i: number): ScannedFrame => w.frames[i] as ScannedFrame;
const endOf = (f: ScannedFrame): number => f.offset + f.length;
const flip = (w: Written, at: number): Buffer => {
  const b = Buffer.from(w.bytes);
  b[at] = (b[at] ?? 0) ^ 0x20;
  return b;
};
const all = (): number[] => [0, 1, 2, 3, 4, 5];
const allBut = (...lost: number[]): number[] => all().filter((i) => !lost.includes(i));
/** The frames a zeroed page at [PAGE, 2*PAGE) touches: the messages that must be lost. */
const touchedByPage = (w: Written): number[] => w.frames.flatMap((f, i) => (f.offset < 2 * PAGE && endOf(f) > PAGE ? [i] : []));

const rows: Row[] = [
  {
    name: 'one byte of the segment header',
    damage: (w) => flip(w, 2),
    recovered: all,
    quarantined: () => [[0, 8]],
    torn: 0,
    framesAfterDamage: () => MESSAGES,
  },
  {
    name: "a frame header's type byte",
    damage: (w) => flip(w, frameOf(w, 2).offset),
    recovered: () => allBut(2),
    quarantined: (w) => [[frameOf(w, 2).offset, frameOf(w, 2).length]],
    torn: 0,
    framesAfterDamage: () => 3,
  },
  {
    name: "a frame header's length (not covered by any checksum)",
    damage: (w) => {
      const b = Buffer.from(w.bytes);
      b.writeUInt32BE(b.readUInt32BE(frameOf(w, 2).offset + 1) + 0x10000, frameOf(w, 2).offset + 1);
      return b;
    },
    recovered: () => allBut(2),
    quarantined: (w) => [[frameOf(w, 2).offset, frameOf(w, 2).length]],
    torn: 0,
    framesAfterDamage: () => 3,
  },
  {
    name: "a frame header's id",
    damage: (w) => flip(w, frameOf(w, 2).offset + 12),
    recovered: () => allBut(2),
    quarantined: (w) => [[frameOf(w, 2).offset, frameOf(w, 2).length]],
    torn: 0,
    framesAfterDamage: () => 3,
  },
  {
    name: 'a body byte',
    damage: (w) => flip(w, frameOf(w, 2).offset + 900),
    recovered: () => allBut(2),
    quarantined: (w) => [[frameOf(w, 2).offset, frameOf(w, 2).length]],
    torn: 0,
    framesAfterDamage: () => 3,
  },
  {
    name: 'a zeroed 4 KiB page in the middle',
    damage: (w) => {
      const b = Buffer.from(w.bytes);
      b.fill(0, PAGE, 2 * PAGE);
      return b;
    },
    recovered: (w) => allBut(...touchedByPage(w)),
    quarantined: (w) => {
      const lost = touchedByPage(w);
      const first = frameOf(w, lost[0] as number);
      return [[first.offset, endOf(frameOf(w, lost.at(-1) as number)) - first.offset]];
    },
    torn: 0,
    framesAfterDamage: (w) => MESSAGES - 1 - (touchedByPage(w).at(-1) as number),
  },
  {
    name: 'garbage appended after the last frame',
    damage: (w) => Buffer.concat([w.bytes, GARBAGE]),
    recovered: all,
    quarantined: (w) => [[w.bytes.length, GARBAGE.length]],
    torn: 0,
    framesAfterDamage: () => 0,
  },
  {
    name: 'a byte of the last frame, whole (acknowledged, not torn)',
    damage: (w) => flip(w, frameOf(w, 5).offset + 700),
    recovered: () => allBut(5),
    quarantined: (w) => [[frameOf(w, 5).offset, frameOf(w, 5).length]],
    torn: 0,
    framesAfterDamage: () => 0,
  },
  {
    name: 'a truncated tail (a crash during the last append)',
    damage: (w) => w.bytes.subarray(0, frameOf(w, 5).offset + 600),
    recovered: () => allBut(5),
    quarantined: () => [],
    torn: 1,
    framesAfterDamage: () => 0,
  },
  {
    name: 'a truncated tail followed by zeros (file size reached the disk, data did not)',
    damage: (w) => Buffer.concat([w.bytes.subarray(0, frameOf(w, 5).offset + 600), Buffer.alloc(PAGE)]),
    recovered: () => allBut(5),
    quarantined: () => [],
    torn: 1,
    framesAfterDamage: () => 0,
  },
  {
    name: 'a truncated tail whose body holds a valid frame: no message is made of it',
    carrier: 6,
    damage: (w) => {
      const inner = w.bytes.indexOf(Buffer.from(EMBEDDED_ID, 'latin1'), frameOf(w, 5).offset + 40) - 9;
      return w.bytes.subarray(0, inner + embeddedFrame().length + 50);
    },
    recovered: () => allBut(5),
    quarantined: () => [],
    torn: 1,
    framesAfterDamage: () => 0,
  },
  {
    name: 'a damaged body that holds a valid frame: no message is made of it',
    carrier: 3,
    damage: (w) => flip(w, frameOf(w, 2).offset + 100),
    recovered: () => allBut(2),
    quarantined: (w) => [[frameOf(w, 2).offset, frameOf(w, 2).length]],
    torn: 0,
    framesAfterDamage: () => 3,
  },
  {
    name: 'two frame headers zeroed, the first message holding a valid frame: no message is made of it',
    carrier: 3,
    damage: (w) => {
      const b = Buffer.from(w.bytes);
      b.fill(0, frameOf(w, 2).offset, frameOf(w, 2).offset + 37);
      b.fill(0, frameOf(w, 3).offset, frameOf(w, 3).offset + 37);
      return b;
    },
    recovered: () => allBut(2, 3),
    quarantined: (w) => [[frameOf(w, 2).offset, frameOf(w, 2).length + frameOf(w, 3).length]],
    torn: 0,
    framesAfterDamage: () => 2,
  },
];

for (const row of rows) {
  void test(`log corruption: ${row.name}`, async (t) => {
    const w = await writeSegment(row.carrier);
    t.after(() => fs.rm(w.dir, { recursive: true, force: true }));
    const damaged = row.damage(w);
    await fs.writeFile(w.file, damaged);

    const log: SpoolLogEvent[] = [];
    const spool = await Spool.open(w.dir, { minFreeBytes: 0, log: (e) => log.push(e) });
    t.after(() => spool.close());
    const expected = row.recovered(w).map((i) => w.ids[i] as string);
    assert.deepEqual(await spool.listMessages('incoming'), expected, 'exactly these messages come back');
    for (const id of expected) {
      const seq = w.ids.indexOf(id) + 1;
      const message = await spool.readMessage('incoming', id);
      assert.equal(message.envelope.sessionId, `session-${seq}`, `${id} is message ${seq}, intact`);
      if (seq !== row.carrier) assert.deepEqual(message.body, testBody(seq, 1500));
    }
    assert.ok(!(await spool.listMessages('incoming')).includes(EMBEDDED_ID), 'a frame inside a body never becomes a message');

    const ranges = row.quarantined(w);
    const segment = path.basename(w.file);
    const damagedEvents = log.filter((e): e is Extract<SpoolLogEvent, { event: 'logDamaged' }> => e.event === 'logDamaged');
    assert.deepEqual(damagedEvents.map((e) => [e.offset, e.bytes]), ranges, 'the damaged ranges, exactly');
    for (const e of damagedEvents) {
      assert.equal(e.file, segment);
      assert.equal(spoolEventLevel(e), 'error', 'damage to acknowledged bytes is logged at error');
      assert.equal(e.quarantinedAs, `${segment}.${e.offset.toString(16)}.damaged`);
      assert.equal(e.framesRecovered, expected.length);
    }
    const aside = (await fs.readdir(path.join(w.dir, 'corrupt'))).sort();
    assert.deepEqual(aside, ranges.map(([offset]) => `${segment}.${offset.toString(16)}.damaged`).sort(), 'one copy in corrupt/ per range');
    for (const [offset, length] of ranges) {
      assert.deepEqual(await fs.readFile(path.join(w.dir, 'corrupt', `${segment}.${offset.toString(16)}.damaged`)), damaged.subarray(offset, offset + length), 'the copy holds the damaged bytes');
    }

    const tornEvents = log.filter((e) => e.event === 'tornLogTailDiscarded');
    assert.equal(tornEvents.length, row.torn);
    for (const e of tornEvents) assert.equal(spoolEventLevel(e), 'info', 'a torn tail is the normal trace of a crash');
    assert.deepEqual(spool.recovery, { kept: expected.length, discarded: row.torn, corrupt: ranges.length });
    assert.deepEqual(spool.damage, { corruptBytes: ranges.reduce((sum, [, length]) => sum + length, 0), framesAfterDamage: row.framesAfterDamage(w) });
    if (row.torn > 0) assert.equal((await fs.stat(w.file)).size, endOf(frameOf(w, 4)), 'the torn tail is cut at the last whole frame');
  });
}

void test('log corruption: a damaged range found again at the next start is not copied twice, and messages stay', async (t) => {
  const w = await writeSegment();
  t.after(() => fs.rm(w.dir, { recursive: true, force: true }));
  await fs.writeFile(w.file, flip(w, 3));
  const first = await Spool.open(w.dir, { minFreeBytes: 0, log: () => undefined });
  assert.equal((await first.listMessages('incoming')).length, MESSAGES);
  await first.close();
  const log: SpoolLogEvent[] = [];
  const again = await Spool.open(w.dir, { minFreeBytes: 0, log: (e) => log.push(e) });
  t.after(() => again.close());
  assert.deepEqual(await again.listMessages('incoming'), w.ids);
  assert.deepEqual(await fs.readdir(path.join(w.dir, 'corrupt')), [`${path.basename(w.file)}.0.damaged`]);
  assert.equal(log.filter((e) => e.event === 'logDamaged').length, 1, 'still reported while the segment holds queued messages');
});

void test('log corruption: a segment cut at any byte (a crash mid-append) is only ever a torn tail, never damage or a phantom message', async (t) => {
  for (const carrier of [undefined, 6]) {
    const w = await writeSegment(carrier);
    t.after(() => fs.rm(w.dir, { recursive: true, force: true }));
    for (let cut = 9; cut < w.bytes.length; cut++) {
      // a kill cuts a write anywhere; a power loss can also leave the file longer than its
      // data, zero-filled from a sector boundary on
      for (const zeros of cut % 512 === 0 ? [0, 700] : [0]) {
        const scanned = scanSegment(Buffer.concat([w.bytes.subarray(0, cut), Buffer.alloc(zeros)]));
        const whole = w.frames.filter((f) => endOf(f) <= cut);
        assert.deepEqual(scanned.frames.map((f) => f.id), whole.map((f) => f.id), `cut at ${cut} (+${zeros} zeros): the whole frames before it`);
        assert.ok(scanned.damaged.every((r) => r.torn), `cut at ${cut} (+${zeros} zeros): ${JSON.stringify(scanned.damaged)} must be a torn tail`);
      }
    }
  }
});

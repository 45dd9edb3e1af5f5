/*
 * Header parsing is linear in the size of the header block (issue 17 item 6), shown by counting
 * work, never by timing (a loaded CI machine makes any time bound either flaky or meaningless).
 *
 * While a function runs, Buffer.prototype.indexOf is wrapped to add up the bytes each search
 * examined (from its start offset to the match, or to the end of the buffer when there is
 * none): every byte scan of these parsers goes through it, and a search restarted too far back
 * (the old colon search ran from each line to the next colon of the block) shows up as work
 * growing with the square of the size. RegExp.prototype.exec is wrapped to refuse any regular
 * expression over more than REGEX_LIMIT characters: a backtracking pattern (the old trim of a
 * field name, /[ \t]+$/) is quadratic while examining each byte "once", so no byte count would
 * show it; the parsers run no regular expression on client bytes at all.
 *
 * Each reader of the DATA path and of the delivery side gets header blocks of 256 KiB and
 * 2 MiB in several shapes (the adversarial review's and ours); the 2 MiB block may cost at most
 * 8x the work of the 256 KiB one (plus slack for fixed costs) and at most WORK_PER_BYTE per byte.
 * Before the fix a block of colon-less lines cost 64x (and seconds), and a 256 KiB field name of
 * blanks ran a regular expression over all of it (26 s).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Right } from '../config/schema.ts';
import { DataNormalizer } from './data-normalizer.ts';
import { countReceivedHeaders, filterHeaders } from './header-firewall.ts';
import { headerSection, headerValue } from '../delivery/message-headers.ts';
import { headerLines as lines } from '../../test/support/header-blocks.ts';

const KiB = 1024;
const SMALL = 256 * KiB;
const LARGE = 2048 * KiB;
/** What 8x the input may cost in work: 8x, plus 10% for per-call costs that do not scale. */
const MAX_RATIO = (LARGE / SMALL) * 1.1;
/** Bytes examined per byte of block: each parser scans a byte a few times (LF, CR, NUL, colon, blank line). */
const WORK_PER_BYTE = 8;
/** Longest text a regular expression may see during a parse (a header name or value is client input). */
const REGEX_LIMIT = 4 * KiB;
const NONE = new Set<Right>();

/** The shapes: each makes a header block of about `size` bytes, ending with its empty line. */
const SHAPES: Record<string, (size: number) => Buffer> = {
  'many short fields': (size) => lines(size, (i) => `X-Hdr-${i}: value ${i}`),
  'a few long folded fields': (size) => lines(size, (i) => (i % Math.ceil(size / 4 / 72) === 0 ? `Subject-${i}: start` : `\t${'w'.repeat(69)}`)),
  'colon-less lines': (size) => lines(size, (i) => (i === 0 ? 'Subject: s' : `garbage line ${i}`)),
  'a field name of blanks': (size) => Buffer.from(`X${' '.repeat(size)}y: v\r\nSubject: s\r\n\r\n`, 'latin1'),
  'Received fields to strip': (size) => lines(size, (i) => `Received: from hop-${i} by relay`),
  'bare LF line ends': (size) => Buffer.from(lines(size, (i) => `X-Hdr-${i}: value ${i}`).toString('latin1').replace(/\r\n/g, '\n'), 'latin1'),
};

/** The readers, each given a header block followed by a short body. */
const READERS: Record<string, (message: Buffer, block: Buffer) => unknown> = {
  'DataNormalizer, 64 KiB chunks': (message) => normalize(message, 64 * KiB),
  'DataNormalizer, 1 KiB chunks': (message) => normalize(message, KiB),
  filterHeaders: (_message, block) => filterHeaders(block, NONE),
  countReceivedHeaders: (_message, block) => countReceivedHeaders(block),
  headerSection: (message) => headerSection(message),
  'headerValue (Subject, Message-ID)': (message) => [headerValue(message, 'subject'), headerValue(message, 'message-id')],
};

function normalize(message: Buffer, chunk: number): Buffer | null {
  const normalizer = new DataNormalizer({ bareLineFeeds: 'Normalize', maxHeaderSize: 0 });
  let headers: Buffer | null = null;
  for (let at = 0; at < message.length; at += chunk) headers ??= normalizer.push(message.subarray(at, at + chunk)).headers;
  return headers ?? normalizer.end().headers;
}

type IndexOf = (this: Buffer, ...args: Parameters<Buffer['indexOf']>) => number;
type Exec = (this: RegExp, text: string) => RegExpExecArray | null;
/** The two prototypes, as the properties this test swaps. */
const bufferPrototype = Buffer.prototype as unknown as { indexOf: IndexOf };
const regexpPrototype = RegExp.prototype as unknown as { exec: Exec };

/** work - bytes examined by Buffer searches while `run` runs; throws if a regular expression sees more than REGEX_LIMIT characters. */
function work(run: () => unknown): number {
  const indexOf = bufferPrototype.indexOf;
  const exec = regexpPrototype.exec;
  let examined = 0;
  const counting = function (this: Buffer, ...args: Parameters<IndexOf>): number {
    const found = Reflect.apply(indexOf, this, args);
    const offset = typeof args[1] === 'number' ? args[1] : 0;
    const from = offset < 0 ? Math.max(0, this.length + offset) : Math.min(offset, this.length);
    examined += Math.max(0, (found === -1 ? this.length : found + 1) - from);
    return found;
  };
  const guarded = function (this: RegExp, text: string): RegExpExecArray | null {
    if (text.length > REGEX_LIMIT) throw new Error(`a regular expression (${String(this)}) ran over ${text.length} characters of header text`);
    return exec.call(this, text);
  };
  bufferPrototype.indexOf = counting;
  regexpPrototype.exec = guarded;
  try {
    run();
  } finally {
    bufferPrototype.indexOf = indexOf;
    regexpPrototype.exec = exec;
  }
  return examined;
}

const BODY = Buffer.from('body line\r\n');

for (const [shape, make] of Object.entries(SHAPES)) {
  const small = make(SMALL);
  const large = make(LARGE);
  const smallMessage = Buffer.concat([small, BODY]);
  const largeMessage = Buffer.concat([large, BODY]);
  for (const [reader, read] of Object.entries(READERS)) {
    test(`${reader} is linear in the header block: ${shape}`, () => {
      const smallWork = work(() => read(smallMessage, small));
      const largeWork = work(() => read(largeMessage, large));
      assert.ok(largeWork <= WORK_PER_BYTE * largeMessage.length, `${largeWork} bytes examined for a ${largeMessage.length}-byte message: more than ${WORK_PER_BYTE} per byte`);
      assert.ok(largeWork <= MAX_RATIO * smallWork + 4 * KiB, `8x the block cost ${(largeWork / Math.max(1, smallWork)).toFixed(1)}x the work (${smallWork} -> ${largeWork} bytes examined)`);
    });
  }
}

test('the work counter sees a search restarted from each line (the old colon search), and the regex guard a long pattern match', () => {
  // the instruments themselves: a test that could not see the old defect would prove nothing
  const block = SHAPES['colon-less lines']?.(64 * KiB) ?? Buffer.alloc(0);
  const perLine = (b: Buffer): void => {
    for (let pos = 0, nl = b.indexOf(0x0a); nl !== -1; pos = nl + 1, nl = b.indexOf(0x0a, pos)) b.indexOf(0x3a, pos);
  };
  assert.ok(work(() => perLine(block)) > 100 * block.length, 'a colon search from every line to the end of the block is counted as quadratic work');
  assert.throws(() => work(() => ' '.repeat(REGEX_LIMIT + 1).replace(/[ \t]+$/, '')), /regular expression/);
  assert.equal(bufferPrototype.indexOf.name, 'indexOf', 'the wrapper is removed afterwards');
});

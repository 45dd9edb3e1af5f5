/*
 * test/support/header-injection-cases - test-only: look-alike line breaks and a checker.
 *
 * Issue 17 item 2: text encoded with Buffer.from(s, 'latin1') keeps only the low byte of each
 * UTF-16 code unit, so U+010D U+010A (accepted in an SMTPUTF8 address) became CR LF and a
 * client wrote header lines into our DSN. BREAKS lists code points whose low byte (or whose
 * surrogates' low bytes) is CR, LF, NUL, TAB, SP or DEL, plus the real Unicode line breaks
 * (NEL, LINE/PARAGRAPH SEPARATOR) that some parsers honour. payload() puts an injected
 * `X-Injected:` field after each; assertNoInjectedLine() checks the bytes we produce.
 * Trust: test-only; nothing in the relay imports this file.
 */
import assert from 'node:assert/strict';

export interface BreakCase {
  name: string;
  /** What stands for "end of line" in the payload. */
  brk: string;
}

export const BREAKS: readonly BreakCase[] = [
  { name: 'U+010D U+010A (low bytes CR LF)', brk: '\u010d\u010a' },
  { name: 'U+010A (low byte LF)', brk: '\u010a' },
  { name: 'U+010D (low byte CR)', brk: '\u010d' },
  { name: 'U+0A0D U+0D0A (low bytes CR LF)', brk: '\u0a0d\u0d0a' },
  { name: 'U+FF0D U+FF0A (fullwidth, low bytes CR LF)', brk: '\uff0d\uff0a' },
  { name: 'U+1F00D U+1F00A (astral: surrogates end in CR, LF)', brk: '\u{1f00d}\u{1f00a}' },
  { name: 'U+010A U+0100 (LF, NUL)', brk: '\u010a\u0100' },
  { name: 'U+010A U+0109 (LF, TAB: a folded line)', brk: '\u010a\u0109' },
  { name: 'U+010A U+0120 (LF, SP: a folded line)', brk: '\u010a\u0120' },
  { name: 'U+010A U+017F (LF, long s: low byte DEL)', brk: '\u010a\u017f' },
  { name: 'U+0085 NEXT LINE', brk: '\u0085' },
  { name: 'U+2028 LINE SEPARATOR', brk: '\u2028' },
  { name: 'U+2029 PARAGRAPH SEPARATOR', brk: '\u2029' },
];

/** A local part (no spaces, as smtp-server accepts it) that injects `X-Injected: yes` twice. */
export function payload(brk: string): string {
  // U+0120 and U+0109 have SP and TAB as low bytes: the injected field even has its space
  return `x${brk}X-Injected:\u0120yes${brk}${brk}X-Injected:\u0109body`;
}

/** The injected field may follow a real or look-alike break, so look at bytes and at text. */
export function assertNoInjectedLine(bytes: Buffer, label: string): void {
  const raw = bytes.toString('latin1');
  assert.doesNotMatch(raw, /\r(?!\n)|(?<!\r)\n/, `${label}: bare CR or LF`);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(raw, /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/, `${label}: control byte`);
  assert.doesNotMatch(raw, /(?:^|\n)[ \t]*X-Injected/i, `${label}: a line starts with the injected field`);
  const text = bytes.toString('utf8');
  assert.doesNotMatch(text, /[\u0080-\u009f\u2028\u2029]/, `${label}: C1 control or Unicode line break`);
  assert.doesNotMatch(text, /[\u0085\u2028\u2029][ \t]*X-Injected/i, `${label}: injected after a Unicode line break`);
}

/** Field names of a header section (unfolded), for "nothing but ours" checks. */
export function fieldNames(section: string): string[] {
  return section
    .split('\r\n')
    .filter((line) => line !== '' && !/^[ \t]/.test(line))
    .map((line) => line.slice(0, Math.max(0, line.indexOf(':'))));
}

/*
 * test/support/header-blocks - synthetic header blocks of a given size, for the header-parsing
 * scaling test (relay/session/header-scaling.test.ts) and benchmark (bench/header-parse.ts).
 */

/** headerLines - `line(0)`, `line(1)`, ... each ending CRLF until `size` bytes, then the blank line. */
export function headerLines(size: number, line: (i: number) => string): Buffer {
  const out: string[] = [];
  for (let i = 0, n = 0; n < size; i++) {
    const text = `${line(i)}\r\n`;
    out.push(text);
    n += text.length;
  }
  out.push('\r\n');
  return Buffer.from(out.join(''), 'latin1');
}

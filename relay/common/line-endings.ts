/*
 * relay/common/line-endings - CRLF line ends: the one place that checks and makes them.
 *
 * Checking: CanonicalScanner / findBareLineEnd find a CR not followed by LF or an LF not
 * preceded by CR (the SMTP smuggling raw material), across chunk boundaries; the spool uses
 * them for its assertCanonical option (it stores exactly the bytes it is given).
 * Making: LineEndCanonicalizer removes NUL bytes, then turns a bare LF and a bare CR into CRLF,
 * over a stream that arrives in chunks (a CR ending one chunk is emitted at once and the LF
 * it needs, if any, goes before the next chunk's first byte), counting what it fixed. The
 * session runs DATA through it; canonicalBody runs a whole body through it before anything
 * leaves the hub (SMTP or drop directory), so no receiver can read `\r.\r`, `\n.\n` or `\0`
 * tricks as an end of data (SMTP smuggling, SEC Consult 2023). Already canonical chunks are
 * returned as they are (no copy); scans use indexOf.
 */

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const CR_BUF = Buffer.from([CR]);
const LF_BUF = Buffer.from([LF]);
const EMPTY = Buffer.alloc(0);

function firstBareLf(chunk: Buffer, prevByte: number): number {
  for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
    if ((i > 0 ? chunk[i - 1] : prevByte) !== CR) return i;
  }
  return -1;
}

function firstBareCr(chunk: Buffer): number {
  for (let i = chunk.indexOf(CR); i !== -1 && i < chunk.length - 1; i = chunk.indexOf(CR, i + 1)) {
    if (chunk[i + 1] !== LF) return i;
  }
  return -1;
}

/** CanonicalScanner - findBareLineEnd over a body that arrives in pieces (a spilled body copied in chunks). */
export class CanonicalScanner {
  #base = 0;
  #prevByte = -1;

  /** push - body offset of the first bare CR or LF this chunk shows, or -1. */
  push(chunk: Buffer): number {
    if (chunk.length === 0) return -1;
    if (this.#prevByte === CR && chunk[0] !== LF) return this.#base - 1; // CR ended the previous chunk
    const lf = firstBareLf(chunk, this.#prevByte);
    const cr = firstBareCr(chunk);
    if (lf !== -1 || cr !== -1) return this.#base + (lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr));
    this.#prevByte = chunk[chunk.length - 1] ?? -1;
    this.#base += chunk.length;
    return -1;
  }

  /** end - the body ended: a CR at its very end is bare. */
  end(): number {
    return this.#prevByte === CR ? this.#base - 1 : -1;
  }
}

/** findBareLineEnd - offset of the first bare CR or LF in the body, or -1. */
export function findBareLineEnd(body: readonly Buffer[]): number {
  const scanner = new CanonicalScanner();
  for (const chunk of body) {
    const bad = scanner.push(chunk);
    if (bad !== -1) return bad;
  }
  return scanner.end();
}

/** What one chunk needed: NUL bytes removed, CRs added before bare LFs, LFs added after bare CRs. */
export interface LineEndFixes {
  nul: number;
  bareLF: number;
  bareCR: number;
}

function removeNul(chunk: Buffer): { data: Buffer; count: number } {
  const parts: Buffer[] = [];
  let count = 0;
  let from = 0;
  for (let i = chunk.indexOf(NUL); i !== -1; i = chunk.indexOf(NUL, i + 1)) {
    if (i > from) parts.push(chunk.subarray(from, i));
    from = i + 1;
    count++;
  }
  if (from < chunk.length) parts.push(chunk.subarray(from));
  return { data: Buffer.concat(parts), count };
}

/** LineEndCanonicalizer - CRLF line ends and no NUL, over a stream of chunks (see the manual above). */
export class LineEndCanonicalizer {
  #prevCR = false;

  /** push - the chunk made canonical, and what it needed. */
  push(input: Buffer): { data: Buffer; fixes: LineEndFixes } {
    const fixes: LineEndFixes = { nul: 0, bareLF: 0, bareCR: 0 };
    let c = input;
    if (c.indexOf(NUL) !== -1) {
      const { data, count } = removeNul(c);
      fixes.nul = count;
      c = data;
      if (c.length === 0) return { data: EMPTY, fixes };
    }
    // positions before which a CR goes (bare LF), and before which an LF goes (after a bare CR)
    const addCR: number[] = [];
    const addLF: number[] = [];
    if (this.#prevCR && c[0] !== LF) addLF.push(0);
    for (let i = c.indexOf(LF); i !== -1; i = c.indexOf(LF, i + 1)) {
      if (i === 0 ? !this.#prevCR : c[i - 1] !== CR) addCR.push(i);
    }
    for (let i = c.indexOf(CR); i !== -1 && i < c.length - 1; i = c.indexOf(CR, i + 1)) {
      if (c[i + 1] !== LF) addLF.push(i + 1);
    }
    this.#prevCR = c[c.length - 1] === CR;
    fixes.bareCR = addLF.length;
    fixes.bareLF = addCR.length;
    if (addCR.length === 0 && addLF.length === 0) return { data: c, fixes };
    // merge the two sorted lists; a position never appears in both (see the tests)
    const parts: Buffer[] = [];
    let from = 0;
    let a = 0;
    let b = 0;
    while (a < addCR.length || b < addLF.length) {
      const takeCR = b >= addLF.length || (a < addCR.length && (addCR[a] as number) < (addLF[b] as number));
      const pos = takeCR ? (addCR[a++] as number) : (addLF[b++] as number);
      if (pos > from) parts.push(c.subarray(from, pos));
      parts.push(takeCR ? CR_BUF : LF_BUF);
      from = pos;
    }
    if (from < c.length) parts.push(c.subarray(from));
    return { data: Buffer.concat(parts), fixes };
  }

  /** end - the stream ended: the LF a final bare CR needs, or nothing. */
  end(): Buffer {
    if (!this.#prevCR) return EMPTY;
    this.#prevCR = false;
    return LF_BUF;
  }
}

/** isCanonicalBody - CRLF line ends only and no NUL byte. */
export function isCanonicalBody(body: Buffer): boolean {
  return body.indexOf(NUL) === -1 && findBareLineEnd([body]) === -1;
}

/** canonicalBody - the body with CRLF line ends only and without NUL bytes (itself when it already is). */
export function canonicalBody(body: Buffer): Buffer {
  if (isCanonicalBody(body)) return body;
  const canonicalizer = new LineEndCanonicalizer();
  const { data } = canonicalizer.push(body);
  const last = canonicalizer.end();
  return last.length === 0 ? Buffer.from(data) : Buffer.concat([data, last]);
}

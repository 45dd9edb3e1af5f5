/*
 * relay/spool/canonical - a cheap check that a body uses CRLF line ends only.
 *
 * The spool stores exactly the bytes it is given; canonicalising is the caller's job. With
 * the assertCanonical option the spool refuses a body that has a CR not followed by LF or
 * an LF not preceded by CR (the SMTP smuggling raw material), across chunk boundaries.
 */

const CR = 0x0d;
const LF = 0x0a;

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

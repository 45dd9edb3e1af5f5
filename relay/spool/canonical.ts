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

/** findBareLineEnd - offset of the first bare CR or LF in the body, or -1. */
export function findBareLineEnd(body: readonly Buffer[]): number {
  let base = 0;
  let prevByte = -1;
  for (const chunk of body) {
    if (chunk.length === 0) continue;
    if (prevByte === CR && chunk[0] !== LF) return base - 1; // CR ended the previous chunk
    const lf = firstBareLf(chunk, prevByte);
    const cr = firstBareCr(chunk);
    if (lf !== -1 || cr !== -1) return base + (lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr));
    prevByte = chunk[chunk.length - 1] ?? -1;
    base += chunk.length;
  }
  return prevByte === CR ? base - 1 : -1;
}

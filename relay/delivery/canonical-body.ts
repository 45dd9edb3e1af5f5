/*
 * relay/delivery/canonical-body - nothing bare leaves the hub.
 *
 * Before a message goes out (SMTP or drop directory) every line end becomes CRLF: a bare LF
 * gets its CR, a bare CR gets its LF, and NUL bytes are dropped. Together with dot-stuffing
 * on the wire (nodemailer's DataStream) no receiver can read `\r.\r`, `\n.\n` or `\0` tricks
 * as an end of data (SMTP smuggling, SEC Consult 2023), whatever the session accepted.
 * A body that is already canonical is returned as is (no copy).
 */
import { findBareLineEnd } from '../spool/canonical.ts';

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;

/** isCanonicalBody - CRLF line ends only and no NUL byte. */
export function isCanonicalBody(body: Buffer): boolean {
  return body.indexOf(NUL) === -1 && findBareLineEnd([body]) === -1;
}

/** canonicalBody - the body with CRLF line ends only and without NUL bytes. */
export function canonicalBody(body: Buffer): Buffer {
  if (isCanonicalBody(body)) return body;
  const out = Buffer.allocUnsafe(body.length * 2);
  let n = 0;
  for (let i = 0; i < body.length; i += 1) {
    const byte = body[i] as number;
    if (byte === NUL) continue;
    if (byte === CR) {
      out[n++] = CR;
      out[n++] = LF;
      if (body[i + 1] === LF) i += 1;
      continue;
    }
    if (byte === LF) {
      out[n++] = CR;
      out[n++] = LF;
      continue;
    }
    out[n++] = byte;
  }
  return Buffer.from(out.subarray(0, n));
}

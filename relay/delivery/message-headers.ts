/*
 * relay/delivery/message-headers - read a few header fields of a stored message.
 *
 * For the tracking log (Message-ID), DSNs (Subject, the header block for RET=HDRS) and
 * nothing else: a lenient reader of the header section up to the first empty line, with
 * folded lines unfolded. Never used to decide routing or trust.
 */

/** headerSection - the header block including its terminating empty line (or the whole body). */
export function headerSection(body: Buffer): Buffer {
  const crlf = body.indexOf('\r\n\r\n');
  const lf = body.indexOf('\n\n');
  if (crlf === -1 && lf === -1) return body;
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return body.subarray(0, crlf + 4);
  return body.subarray(0, lf + 2);
}

/** headerValue - the first field called `name`, unfolded and trimmed; null when absent. */
export function headerValue(body: Buffer, name: string): string | null {
  // latin1 as a lossless byte view for reading; whoever writes a value back into a message
  // must re-encode and check it for its place (dsn.ts does; issue 17)
  const text = headerSection(body).subarray(0, 256 * 1024).toString('latin1');
  const lines = text.split(/\r?\n/);
  const wanted = `${name.toLowerCase()}:`;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] as string;
    if (!line.toLowerCase().startsWith(wanted)) continue;
    let value = line.slice(wanted.length);
    while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1] as string)) value += ` ${(lines[++i] as string).trim()}`;
    return value.trim();
  }
  return null;
}

/** decodeXtext - RFC 3461 xtext (`+2B` is `+`). */
export function decodeXtext(value: string): string {
  return value.replace(/\+([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

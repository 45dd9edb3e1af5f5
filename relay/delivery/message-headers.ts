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
  // an LF LF that comes first starts before the CRLF CRLF: look no further than that (not
  // through the whole body of every message read for a Message-ID or a DSN)
  const lf = (crlf === -1 ? body : body.subarray(0, crlf + 1)).indexOf('\n\n');
  if (crlf === -1 && lf === -1) return body;
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return body.subarray(0, crlf + 4);
  return body.subarray(0, lf + 2);
}

/** headerValue - the first field called `name`, unfolded and trimmed; null when absent. */
export function headerValue(body: Buffer, name: string): string | null {
  // latin1 as a lossless byte view for reading; whoever writes a value back into a message
  // must re-encode and check it for its place (dsn.ts does; issue 17)
  const text = headerSection(body).subarray(0, 256 * 1024).toString('latin1');
  // lines split on LF with one CR before it dropped (what /\r?\n/ did), and only each line's
  // first name-length characters lowercased: no regular expression and no copy of the block
  // per line, so the cost stays linear whatever the client wrote (issue 17 item 6)
  const lines = text.split('\n');
  const wanted = `${name.toLowerCase()}:`;
  const lineAt = (i: number): string => {
    const line = lines[i] as string;
    return line.endsWith('\r') ? line.slice(0, -1) : line;
  };
  for (let i = 0; i < lines.length; i += 1) {
    const line = lineAt(i);
    if (line.slice(0, wanted.length).toLowerCase() !== wanted) continue;
    let value = line.slice(wanted.length);
    while (i + 1 < lines.length && isContinuation(lines[i + 1] as string)) value += ` ${lineAt(++i).trim()}`;
    return value.trim();
  }
  return null;
}

/** A folded line: it starts with SP or HT. */
function isContinuation(line: string): boolean {
  const first = line.charCodeAt(0);
  return first === 0x20 || first === 0x09;
}

/** decodeXtext - RFC 3461 xtext (`+2B` is `+`). */
export function decodeXtext(value: string): string {
  return value.replace(/\+([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/*
 * test/relay/support-smuggling - the SMTP smuggling sequences (SEC Consult 2023, The-Login's
 * SMTP-Smuggling-Tools) and the message that carries one, shared by the inbound and outbound
 * smuggling suites.
 */

/**
 * [name as written, bytes]: the fake end-of-data sequences, the reference's inbound list and
 * its two outbound additions (CR CR LF, which a receiver stripping one CR reads as CR LF).
 */
export const SMUGGLING_SEQUENCES: ReadonlyArray<readonly [string, string]> = [
  ['\\n.\\n', '\n.\n'],
  ['\\n.\\r\\n', '\n.\r\n'],
  ['\\r.\\r', '\r.\r'],
  ['\\r\\n.\\r', '\r\n.\r'],
  ['\\r\\n.\\n', '\r\n.\n'],
  ['\\n.\\r', '\n.\r'],
  ['\\r.\\n', '\r.\n'],
  ['\\r.\\r\\n', '\r.\r\n'],
  ['\\r\\n\\x00.\\r\\n', '\r\n\x00.\r\n'],
  ['\\r\\n.\\r\\r\\n', '\r\n.\r\r\n'],
  ['\\r\\r\\n.\\r\\r\\n', '\r\r\n.\r\r\n'],
];

/** Offsets of bytes that are not canonical: LF without CR before it, CR without LF after it, NUL. */
export function strayBytes(body: Buffer): string[] {
  const found: string[] = [];
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    if (byte === 0x0a && body[i - 1] !== 0x0d) found.push(`bare LF at ${i}`);
    if (byte === 0x0d && body[i + 1] !== 0x0a) found.push(`bare CR at ${i}`);
    if (byte === 0x00) found.push(`NUL at ${i}`);
  }
  return found;
}

/** The message content: our headers, text, the fake terminator, then a whole smuggled transaction. */
export function smugglingContent(tag: string, fake: string): string {
  return [
    `From: <outer-${tag}@fabrikam.test>\r\nTo: <victim@tailspin.test>\r\nSubject: smuggling ${tag}\r\n\r\n`,
    'first part',
    fake,
    `MAIL FROM:<smuggled-${tag}@evil.test>\r\n`,
    'RCPT TO:<victim2@tailspin.test>\r\n',
    'DATA\r\n',
    'From: <ceo@tailspin.test>\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n',
  ].join('');
}

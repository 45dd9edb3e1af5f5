/*
 * test/support/spool-messages - envelopes and bodies shared by the spool tests,
 * the crash writer and the benchmark. Bodies are deterministic so a reader can check
 * byte for byte what a writer committed.
 */
import type { MessageEnvelope } from '../../relay/delivery/envelope.ts';

/** testBody - a CRLF body of about `bytes` bytes, unique to `seq`. */
export function testBody(seq: number, bytes = 4096): Buffer {
  const head = `Subject: spool test ${seq}\r\nMessage-ID: <${seq}@spool.test>\r\n\r\n`;
  const line = `line of message ${seq} xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n`;
  const lines = Math.max(0, Math.ceil((bytes - head.length) / line.length));
  return Buffer.from(head + line.repeat(lines), 'latin1').subarray(0, Math.max(bytes, head.length));
}

/** testEnvelope - a full envelope for a body of `size` bytes. */
export function testEnvelope(size: number, seq = 0): MessageEnvelope {
  return {
    mailFrom: 'sender@example.org',
    rcptTo: [
      { address: 'a@example.com', notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;a@example.com' },
      { address: 'b@example.com' },
    ],
    receivedAt: new Date(1_760_000_000_000 + seq).toISOString(),
    connectorId: 'default/internal',
    sessionId: `session-${seq}`,
    clientAddress: '192.0.2.10',
    authUser: 'app1',
    size,
    dsnRet: 'HDRS',
    dsnEnvid: `envid-${seq}`,
  };
}

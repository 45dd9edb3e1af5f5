/*
 * test/support/lenient-smtp-sink - an SMTP receiver as lax as the ones SMTP smuggling abuses:
 * a line ends at CR LF, a bare LF or a bare CR, NUL bytes are ignored, and a line holding only
 * "." ends DATA whatever ends it (Postfix before smtpd_forbid_bare_newline, Sendmail before 8.18, Exim
 * before 4.97.1 behave like this for some of the sequences). Whatever follows the end of DATA
 * is read as commands, so a smuggled transaction becomes a second message here.
 *
 * Postfix's smtp-sink cannot play this part: it ends DATA only at CR LF . CR LF (checked with
 * 3.7.11), so it would hide exactly the split this sink exists to show.
 *
 * Each transaction keeps the raw DATA bytes as received (before dot-unstuffing), so a test
 * can also check that the sender wrote nothing but CR LF line ends.
 */
import { createServer, type Server, type Socket } from 'node:net';

export interface SinkTransaction {
  mailFrom: string;
  rcptTo: string[];
  /** The DATA bytes as received, up to (not including) the line that ended it. */
  raw: Buffer;
}

export interface LenientSink {
  port: number;
  transactions: SinkTransaction[];
  /** Resolves once at least `count` transactions have ended with 250; rejects after timeoutMs. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** The next line of `buffer` from `from`: [text, index after its terminator], or null if unterminated. */
function nextLine(buffer: Buffer, from: number): [string, number] | null {
  for (let i = from; i < buffer.length; i++) {
    const byte = buffer[i];
    if (byte === 0x0a) return [buffer.toString('latin1', from, i), i + 1];
    if (byte === 0x0d) {
      // CR LF is one terminator; a CR at the end of the buffer may still get its LF
      if (i + 1 >= buffer.length) return null;
      return [buffer.toString('latin1', from, i), buffer[i + 1] === 0x0a ? i + 2 : i + 1];
    }
  }
  return null;
}

function serve(socket: Socket, transactions: SinkTransaction[], changed: () => void): void {
  let buffer = Buffer.alloc(0);
  let inData = false;
  let dataStart = 0;
  let current: SinkTransaction = { mailFrom: '', rcptTo: [], raw: Buffer.alloc(0) };
  const reply = (line: string): void => void socket.write(`${line}\r\n`);
  socket.on('error', () => undefined);
  reply('220 lenient-sink ESMTP');
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    let at = 0;
    for (let line = nextLine(buffer, at); line; line = nextLine(buffer, at)) {
      const [text, next] = line;
      if (inData) {
        if (text.replaceAll('\0', '') === '.') {
          current.raw = buffer.subarray(dataStart, at);
          transactions.push(current);
          current = { mailFrom: '', rcptTo: [], raw: Buffer.alloc(0) };
          inData = false;
          reply('250 2.0.0 Ok: queued');
          changed();
        }
        at = next;
        continue;
      }
      at = next;
      const verb = text.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') reply('250-lenient-sink\r\n250-PIPELINING\r\n250 8BITMIME');
      else if (verb === 'HELO' || verb === 'RSET' || verb === 'NOOP') reply('250 2.0.0 Ok');
      else if (verb === 'MAIL') {
        current.mailFrom = /<([^>]*)>/.exec(text)?.[1] ?? '';
        reply('250 2.1.0 Ok');
      } else if (verb === 'RCPT') {
        current.rcptTo.push(/<([^>]*)>/.exec(text)?.[1] ?? '');
        reply('250 2.1.5 Ok');
      } else if (verb === 'DATA') {
        inData = true;
        dataStart = at;
        reply('354 End data with <CR><LF>.<CR><LF>');
      } else if (verb === 'QUIT') {
        reply('221 2.0.0 Bye');
        socket.end();
      } else reply('502 5.5.2 Error: command not recognized');
    }
    // keep the unread tail (and, inside DATA, everything since DATA for `raw`)
    const keepFrom = inData ? Math.min(dataStart, at) : at;
    buffer = buffer.subarray(keepFrom);
    dataStart -= keepFrom;
  });
}

export async function startLenientSink(host: string): Promise<LenientSink> {
  const transactions: SinkTransaction[] = [];
  let waiters: Array<() => void> = [];
  const changed = (): void => {
    const current = waiters;
    waiters = [];
    for (const wake of current) wake();
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serve(socket, transactions, changed);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('sink has no TCP address');
  return {
    port: address.port,
    transactions,
    async waitFor(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (transactions.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`sink has ${transactions.length} of ${count} transactions after ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

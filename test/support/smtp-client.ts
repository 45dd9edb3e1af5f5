/*
 * test/support/smtp-client - the raw SMTP client of the relay tests: exact lines over a socket.
 *
 * Nothing is interpreted for the test: it sees the exact lines the relay sent, every reply kept
 * in order (multi-line replies parsed), and the raw bytes received (for checks on line
 * endings). It can bind a loopback source address (so one machine plays many clients), write a
 * PROXY header before anything is read, and STARTTLS on the same socket. Strings are written
 * as UTF-8 (ASCII for every command; SMTPUTF8 tests send UTF-8), Buffers exactly as given.
 * A reply read after the relay closed the connection is CLOSED (code 0); a reply that does not
 * come in time rejects.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface SmtpReply {
  /** 0 when the connection closed without (another) reply. */
  code: number;
  /** Every line of the reply as sent, without CRLF. */
  lines: string[];
  /** The last line, e.g. `550 5.7.54 Unable to relay recipient in non-accepted domain`. */
  line: string;
  /** The lines without their code, joined with '\n'. */
  text: string;
  /** ms since the client started connecting. */
  at: number;
}

export interface SmtpClientOptions {
  host: string;
  port: number;
  /** Source address to bind (any 127.x works on loopback). */
  localAddress?: string;
  family?: 4 | 6;
  /** Bytes written before anything is read (a PROXY protocol header). */
  preface?: Buffer | string;
}

export interface StartTlsOptions {
  ca?: string;
  servername?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
  /**
   * Cleartext written in the same segment right after STARTTLS CR LF (the CVE-2011-0411
   * injection), which the server must never answer.
   */
  pipelined?: string;
}

export class SmtpClient {
  readonly replies: SmtpReply[] = [];
  readonly started = performance.now();
  /** Raw bytes received, for checks on line endings. */
  received = Buffer.alloc(0);
  closedAt: number | null = null;
  /** The greeting, once connect() read it (CLOSED before, or after open()). */
  greeting: SmtpReply;
  /** The client's own address and port as the relay sees them without PROXY, kept after the close. */
  readonly localAddress: string;
  readonly localPort: number;
  readonly closed: Promise<void>;
  #socket: Socket | TLSSocket;
  #buffer = '';
  #pending: string[] = [];
  #read = 0;
  #waiters: Array<() => void> = [];
  #markClosed!: () => void;

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
    this.greeting = this.#closedReply();
    this.closed = new Promise((resolve) => (this.#markClosed = resolve));
    this.#attach(socket);
  }

  /** open - connect and write the preface, if any (the greeting is not awaited: call reply() for it). */
  static async open(options: SmtpClientOptions): Promise<SmtpClient> {
    const socket = netConnect({ host: options.host, port: options.port, ...(options.localAddress ? { localAddress: options.localAddress } : {}), ...(options.family ? { family: options.family } : {}) });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new SmtpClient(socket);
    if (options.preface !== undefined) socket.write(options.preface);
    return client;
  }

  /** connect - open and read the greeting (client.greeting). */
  static async connect(options: SmtpClientOptions): Promise<SmtpClient> {
    const client = await SmtpClient.open(options);
    client.greeting = await client.reply();
    return client;
  }

  get isClosed(): boolean {
    return this.closedAt !== null;
  }

  /** The socket now: the TLS socket after startTls. */
  get socket(): Socket | TLSSocket {
    return this.#socket;
  }

  #closedReply(): SmtpReply {
    return { code: 0, lines: [], line: 'connection closed', text: 'connection closed', at: performance.now() - this.started };
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      if (socket !== this.#socket) return;
      this.closedAt = performance.now() - this.started;
      this.#wake();
      this.#markClosed();
    });
  }

  #onData(chunk: Buffer): void {
    this.received = Buffer.concat([this.received, chunk]);
    this.#buffer += chunk.toString('latin1');
    let nl: number;
    while ((nl = this.#buffer.indexOf('\r\n')) >= 0) {
      const line = this.#buffer.slice(0, nl);
      this.#buffer = this.#buffer.slice(nl + 2);
      this.#pending.push(line);
      if (!/^\d{3}-/.test(line)) {
        const lines = this.#pending;
        this.#pending = [];
        this.replies.push({ code: Number(line.slice(0, 3)) || -1, lines, line, text: lines.map((l) => l.slice(4)).join('\n'), at: performance.now() - this.started });
      }
    }
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** reply - the next reply not yet read; CLOSED (code 0) if the connection closed first; rejects on timeout. */
  async reply(timeoutMs = 10_000): Promise<SmtpReply> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const next = this.replies[this.#read];
      if (next) {
        this.#read++;
        return next;
      }
      if (this.isClosed) return this.#closedReply();
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms (got so far: ${JSON.stringify(this.replies.map((r) => r.line))})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** write - raw bytes exactly as given; a string as UTF-8. Nothing once closed. */
  write(data: string | Buffer): void {
    if (!this.isClosed) this.#socket.write(data);
  }

  /** send - one command line (CRLF added) and its reply. */
  async send(line: string, timeoutMs?: number): Promise<SmtpReply> {
    this.write(`${line}\r\n`);
    return this.reply(timeoutMs);
  }

  /** envelope - MAIL FROM and each RCPT TO; the replies in order. */
  async envelope(from: string, to: string[]): Promise<SmtpReply[]> {
    const replies = [await this.send(`MAIL FROM:<${from}>`)];
    for (const rcpt of to) replies.push(await this.send(`RCPT TO:<${rcpt}>`));
    return replies;
  }

  /** data - DATA, the message (line ends made CRLF, dot-stuffed), the final dot; the final reply (or the DATA refusal). */
  async data(message: string): Promise<SmtpReply> {
    const go = await this.send('DATA');
    if (go.code !== 354) return go;
    const body = message.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    this.write(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.\r\n`);
    return this.reply(30_000);
  }

  /** startTls - STARTTLS, then the TLS handshake on the same socket; the STARTTLS reply, and the TLS socket when it succeeded. */
  async startTls(options: StartTlsOptions = {}): Promise<{ reply: SmtpReply; socket: TLSSocket | null }> {
    this.write(`STARTTLS\r\n${options.pipelined ?? ''}`);
    const reply = await this.reply();
    if (reply.code !== 220) return { reply, socket: null };
    const plain = this.#socket;
    plain.removeAllListeners('data');
    const secure = tlsConnect({
      socket: plain,
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.servername ? { servername: options.servername } : {}),
      ...(options.cert ? { cert: options.cert, key: options.key } : {}),
      rejectUnauthorized: options.rejectUnauthorized ?? true,
    });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    this.#socket = secure;
    this.#attach(secure);
    return { reply, socket: secure };
  }

  /** waitClosed - resolves when the relay closed the connection; rejects after timeoutMs. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * quit - QUIT and its reply (CLOSED when none came within 5 s, say behind a tarpit), then a
   * polite close (FIN, wait for the relay's close) so no RST is sent.
   */
  async quit(): Promise<SmtpReply> {
    const reply = await this.send('QUIT', 5000).catch(() => this.#closedReply());
    this.#socket.end();
    await this.waitClosed();
    return reply;
  }

  /** close - drop the connection at once. */
  close(): void {
    this.#socket.destroy();
  }
}

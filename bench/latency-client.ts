/*
 * bench/latency-client - DATA-to-250 latency of an SMTP server under load: N sessions on raw
 * sockets, each sending messages back to back (MAIL, RCPT, DATA, body, final dot) until told to
 * stop, timing each message from the write of the end-of-data dot to the 250 that answers it.
 *
 * smtp-source (the load of bench/run.ts) reports only its total wall time, not per-message
 * latency, so bench/noisy-scenario.ts runs this beside it against Postfix and the hub alike.
 * The interval is what a client waits for its message to be made durable and acknowledged:
 * Postfix's cleanup(8) write + fsync, or the hub's group commit. Nothing is pipelined (as
 * smtp-source), Nagle is off, and the clock is performance.now() (monotonic).
 *
 * A reply that is not the one expected (or none within REPLY_TIMEOUT_MS) ends that session and
 * is reported in `errors` with the command and the reply: a latency figure from a server that
 * refused some messages would flatter it.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const REPLY_TIMEOUT_MS = 30_000;

export interface SmtpReply {
  code: number;
  /** the text of each line, without code and separator */
  lines: string[];
}

/**
 * ReplyReader - splits what a server sends into complete SMTP replies (RFC 5321 4.2: lines
 * "ddd-text" continue a reply, "ddd text" or "ddd" ends it). Chunks may end anywhere, also
 * inside a CR LF. A line that is not a reply line is an error naming it.
 */
export class ReplyReader {
  #buffer = '';
  #lines: string[] = [];
  #code: number | null = null;

  /** push - feed received text; returns the replies it completed, in order. */
  push(chunk: string): SmtpReply[] {
    this.#buffer += chunk;
    const replies: SmtpReply[] = [];
    for (let eol = this.#buffer.indexOf('\n'); eol >= 0; eol = this.#buffer.indexOf('\n')) {
      const line = this.#buffer.slice(0, eol).replace(/\r$/, '');
      this.#buffer = this.#buffer.slice(eol + 1);
      const match = /^([2-5]\d\d)([ -]|$)(.*)$/.exec(line);
      if (!match) throw new Error(`not an SMTP reply line: ${JSON.stringify(line.slice(0, 200))}`);
      const code = Number(match[1]);
      if (this.#code !== null && code !== this.#code) throw new Error(`reply code changed inside a multi-line reply: ${this.#code} then ${JSON.stringify(line.slice(0, 200))}`);
      this.#code = code;
      this.#lines.push(match[3] ?? '');
      if (match[2] !== '-') {
        replies.push({ code, lines: this.#lines });
        this.#code = null;
        this.#lines = [];
      }
    }
    if (this.#buffer.length > 4096) throw new Error(`reply line longer than 4096 bytes: ${JSON.stringify(this.#buffer.slice(0, 200))}...`);
    return replies;
  }
}

export interface LatencyClientOptions {
  host: string;
  port: number;
  sessions: number;
  /** payload bytes per message (as smtp-source -l), headers excluded */
  size: number;
  from: string;
  to: string;
  helo: string;
}

export interface LatencySample {
  /** performance.now() when the final dot was written */
  at: number;
  /** milliseconds from that write to the 250 */
  ms: number;
}

export interface LatencyResult {
  samples: LatencySample[];
  /** messages the server accepted (= samples.length) */
  accepted: number;
  /** what ended a session early: command, and the reply or error */
  errors: string[];
}

export interface LatencyClient {
  /** resolves once every session has had its greeting and EHLO answered */
  ready: Promise<void>;
  /** finish the message in flight in each session, QUIT, and return what was measured */
  stop(): Promise<LatencyResult>;
}

/** messageBody - the DATA of one message: a few headers and `size` bytes of 'x' in lines of at most 78. */
export function messageBody(opts: Pick<LatencyClientOptions, 'size' | 'from' | 'to'>, n: number): string {
  const lines: string[] = [];
  for (let left = opts.size; left > 0; left -= 80) lines.push('x'.repeat(Math.max(0, Math.min(78, left - 2))));
  return `From: <${opts.from}>\r\nTo: <${opts.to}>\r\nSubject: latency probe ${n}\r\n\r\n${lines.join('\r\n')}\r\n`;
}

/** Session - one SMTP connection: a reply queue over the socket and a per-reply timeout. */
class Session {
  readonly #socket: net.Socket;
  readonly #reader = new ReplyReader();
  readonly #replies: SmtpReply[] = [];
  #waiting: ((reply: SmtpReply | Error) => void) | null = null;
  #failure: Error | null = null;

  constructor(host: string, port: number) {
    this.#socket = net.connect({ host, port, noDelay: true });
    this.#socket.setEncoding('latin1');
    this.#socket.on('data', (chunk: string) => {
      try {
        for (const reply of this.#reader.push(chunk)) this.#deliver(reply);
      } catch (err) {
        this.#fail(err as Error);
      }
    });
    this.#socket.on('error', (err) => this.#fail(err));
    this.#socket.on('close', () => this.#fail(new Error('connection closed by the server')));
  }

  #deliver(reply: SmtpReply): void {
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = null;
      waiting(reply);
    } else {
      this.#replies.push(reply);
    }
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.(err);
  }

  /** reply - the next reply; rejects when the connection fails or nothing comes in time. */
  reply(): Promise<SmtpReply> {
    const queued = this.#replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new Error(`no reply within ${REPLY_TIMEOUT_MS / 1000} s`)), REPLY_TIMEOUT_MS);
      this.#waiting = (reply) => {
        clearTimeout(timer);
        if (reply instanceof Error) reject(reply);
        else resolve(reply);
      };
    });
  }

  write(text: string): void {
    this.#socket.write(text, 'latin1');
  }

  /** expect - send `line` (if any) and require a reply of `code`; the error names both. */
  async expect(line: string | null, code: number, what = line ?? 'greeting'): Promise<SmtpReply> {
    if (line !== null) this.write(`${line}\r\n`);
    const reply = await this.reply().catch((err: Error) => {
      throw new Error(`${what}: ${err.message}`);
    });
    if (reply.code !== code) throw new Error(`${what}: expected ${code}, got ${reply.code} ${reply.lines.join(' / ')}`);
    return reply;
  }

  close(): void {
    this.#socket.destroy();
  }
}

/**
 * runSession - greet, EHLO, then messages until `stopping()`; each 250 after the final dot is
 * one sample. Resolves when the session has said QUIT (or failed: the reason in `errors`).
 */
async function runSession(opts: LatencyClientOptions, stopping: () => boolean, onGreeted: () => void, out: LatencyResult): Promise<void> {
  const session = new Session(opts.host, opts.port);
  let greetedYet = false;
  const greeted = (): void => {
    if (!greetedYet) onGreeted();
    greetedYet = true;
  };
  try {
    await session.expect(null, 220);
    await session.expect(`EHLO ${opts.helo}`, 250);
    greeted();
    for (let n = 1; !stopping(); n++) {
      await session.expect(`MAIL FROM:<${opts.from}>`, 250);
      await session.expect(`RCPT TO:<${opts.to}>`, 250);
      await session.expect('DATA', 354);
      session.write(messageBody(opts, n));
      const at = performance.now();
      session.write('.\r\n');
      await session.expect(null, 250, 'end of data (.)');
      out.samples.push({ at, ms: performance.now() - at });
      out.accepted++;
    }
    await session.expect('QUIT', 221);
  } catch (err) {
    out.errors.push(`${opts.host}:${opts.port}: ${(err as Error).message}`);
    greeted(); // a session that failed early must not hold up `ready`
  } finally {
    session.close();
  }
}

/** startLatencyClient - opens `sessions` sessions to host:port and keeps sending until stop(). */
export function startLatencyClient(opts: LatencyClientOptions): LatencyClient {
  if (!Number.isInteger(opts.sessions) || opts.sessions < 1) throw new Error(`latency client: sessions must be an integer >= 1, got ${opts.sessions}`);
  let stopping = false;
  const out: LatencyResult = { samples: [], accepted: 0, errors: [] };
  let greetedCount = 0;
  let allGreeted: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (allGreeted = resolve));
  const greeted = (): void => {
    if (++greetedCount === opts.sessions) allGreeted();
  };
  const sessions = Array.from({ length: opts.sessions }, () => runSession(opts, () => stopping, greeted, out));
  return {
    ready,
    stop: async () => {
      stopping = true;
      await Promise.all(sessions);
      return out;
    },
  };
}

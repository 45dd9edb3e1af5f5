/*
 * test/support/smtp-peers - real SMTP peers for the delivery tests, on loopback only.
 *
 * startSmtpSink: Postfix's smtp-sink(1) (`-u nobody` as root; `-d` dumps each transaction;
 *   `-r`/`-f` answer 4xx/5xx to the named commands, `-Q` 421 and disconnect); smtpSinkFor
 *   starts one on a free port for the length of a test.
 * startCapturePeer: an smtp-server that records every transaction (envelope, data bytes,
 *   TLS, AUTH user) and can require STARTTLS + AUTH or refuse chosen recipients.
 * startTap: a TCP relay in front of a peer that records the exact bytes the client sent.
 * Trust: test-only; nothing in the relay imports this file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { freePort } from '../controlplane/controlplane.ts';

export const SMTP_SINK = '/usr/sbin/smtp-sink';
export const hasSmtpSink = (): boolean => existsSync(SMTP_SINK);

export async function until(check: () => Promise<boolean> | boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export interface RunningPeer {
  port: number;
  stop(): Promise<void>;
}

/** startSmtpSink - smtp-sink on 127.0.0.1:port with extra args; resolves once it listens. */
export async function startSmtpSink(port: number, args: string[] = []): Promise<RunningPeer & { child: ChildProcess }> {
  const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const child = spawn(SMTP_SINK, [...user, ...args, `127.0.0.1:${port}`, '64'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`smtp-sink exited ${child.exitCode}: ${stderr}`);
    return portOpen('127.0.0.1', port);
  }, 'smtp-sink to listen', 5000);
  return {
    port,
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** smtpSinkFor - startSmtpSink on a free loopback port, stopped when test `t` ends. */
export async function smtpSinkFor(t: TestContext, args: string[] = []): Promise<RunningPeer> {
  const sink = await startSmtpSink(await freePort(), args);
  t.after(() => sink.stop());
  return sink;
}

export interface CapturedMessage {
  mailFrom: string;
  rcptTo: string[];
  data: Buffer;
  secure: boolean;
  user: string | undefined;
  helo: string;
}

export interface CapturePeer extends RunningPeer {
  messages: CapturedMessage[];
  connections: number;
}

export interface CapturePeerOptions {
  host?: string;
  port?: number;
  tls?: { key: string; cert: string };
  /** Require AUTH (PLAIN/LOGIN) with these credentials, only after STARTTLS. */
  auth?: { user: string; pass: string };
  /** Recipients answered with this reply (`550 5.1.1 no such user`). */
  refuse?: Record<string, string>;
}

/** startCapturePeer - an smtp-server that records what it receives. */
export async function startCapturePeer(options: CapturePeerOptions = {}): Promise<CapturePeer> {
  const messages: CapturedMessage[] = [];
  const peer = { connections: 0 };
  const serverOptions: SMTPServerOptions = {
    logger: false,
    disableReverseLookup: true,
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : { disabledCommands: ['STARTTLS'] }),
    ...(options.auth ? { authOptional: false, allowInsecureAuth: false, authMethods: ['PLAIN', 'LOGIN'] } : { authOptional: true, disabledCommands: ['AUTH', ...(options.tls ? [] : ['STARTTLS'])] }),
    onConnect: (_session, callback) => {
      peer.connections += 1;
      callback();
    },
    onAuth: (auth, _session, callback) => {
      if (auth.username === options.auth?.user && auth.password === options.auth?.pass) return callback(null, { user: auth.username });
      return callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo: (address, _session, callback) => {
      const reply = options.refuse?.[address.address];
      if (!reply) return callback();
      return callback(Object.assign(new Error(reply.slice(4)), { responseCode: Number(reply.slice(0, 3)) }));
    },
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        messages.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks),
          secure: session.secure,
          user: typeof session.user === 'string' ? session.user : undefined,
          helo: session.hostNameAppearsAs,
        });
        callback();
      });
    },
  };
  const server = new SMTPServer(serverOptions);
  server.on('error', () => {});
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    messages,
    get connections() {
      return peer.connections;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** startTap - listen on 127.0.0.1 and relay to upstreamPort, recording client->server bytes. */
export async function startTap(upstreamPort: number): Promise<RunningPeer & { sent: () => Buffer; chunks: () => Buffer[] }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: upstreamPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    sent: () => Buffer.concat(chunks),
    chunks: () => [...chunks],
    stop: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

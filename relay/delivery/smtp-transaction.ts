/*
 * relay/delivery/smtp-transaction - one SMTP session step on nodemailer's SMTPConnection.
 *
 * openSmtp: connect, EHLO (name = connector fqdn), STARTTLS per tls.mode (None: ignoreTLS;
 * Opportunistic: STARTTLS when offered, unverified, plaintext on a refused STARTTLS, and
 * one plaintext retry by the caller on a failed handshake; Required: STARTTLS or fail,
 * certificate and name verified when tls.verify), then AUTH with the connector's
 * credentials when the peer offers it; the password goes in clear only with tls.mode None
 * (else an unencrypted session is an auth failure: defer, never a bounce on a later 530). Failures come back as a StepFailure {phase, code,
 * reply} for failure-policy.ts, never as exceptions.
 * sendSmtpTransaction: MAIL/RCPT/DATA for one batch (PIPELINING is nodemailer's when the
 * peer announces it; SIZE, BODY=8BITMIME, DSN RET/ENVID/NOTIFY/ORCPT when announced) and
 * per-recipient results. The body handed in is canonical; nodemailer dot-stuffs it.
 */
import { isAscii } from 'node:buffer';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { SMTPConnectionOptions, SMTPConnectionSendInfo, SMTPEnvelope } from 'nodemailer/lib/smtp-connection';
import { isIP } from 'node:net';
import type { SendConnectorConfig } from '../config/schema.ts';
import { readCredentials } from './credentials.ts';
import type { SmtpPhase } from './failure-policy.ts';
import type { NextHopHost } from './next-hop.ts';
import type { PooledSmtp } from './smtp-pool.ts';

export interface StepFailure {
  phase: SmtpPhase;
  code: number | null;
  reply: string;
  /** The system or TLS error code underneath (ECONNREFUSED, ETIMEDOUT, CERT_HAS_EXPIRED, ...). */
  errno?: string;
}

export interface SmtpTimeouts {
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
}

export interface OpenSmtpInput {
  connector: SendConnectorConfig;
  host: NextHopHost;
  key: string;
  timeouts: SmtpTimeouts;
  /** Extra trust anchors for verified TLS (tests, private CAs). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Skip STARTTLS (the plaintext retry after a failed opportunistic handshake). */
  plaintext?: boolean;
  /** Allow AUTH without TLS even when tls.mode is not None (never set by the agent). */
  plaintextAuth?: boolean;
}

interface ErrorLike {
  code?: string;
  /** nodemailer keeps the socket's own code here when it sets its own (ESOCKET, ...). */
  originalCode?: string;
  command?: string;
  response?: string;
  responseCode?: number;
  message?: string;
  rejectedErrors?: ErrorLike[];
  recipient?: string;
}

/** Certificate and handshake errors, which nodemailer reports as socket errors (ESOCKET). */
const TLS_ERROR = /^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_CERT)/;

/** stepFailureOf - a nodemailer error as a policy input. */
export function stepFailureOf(err: unknown, fallback: SmtpPhase): StepFailure {
  const e = (err ?? {}) as ErrorLike;
  const errno = e.originalCode ?? e.code;
  const phase: SmtpPhase =
    e.code === 'ETLS' || e.command === 'STARTTLS' || TLS_ERROR.test(errno ?? '') ? 'tls'
      : e.code === 'EAUTH' || e.code === 'ENOAUTH' || /^AUTH\b/.test(e.command ?? '') ? 'auth'
        : e.command === 'MAIL FROM' ? 'mail'
          : e.command === 'RCPT TO' ? 'rcpt'
            : e.command === 'DATA' ? 'data'
              : fallback;
  return { phase, code: typeof e.responseCode === 'number' ? e.responseCode : null, reply: (e.response ?? e.message ?? 'unknown error').trim(), ...(errno ? { errno } : {}) };
}

function connectionOptions(input: OpenSmtpInput): SMTPConnectionOptions {
  const { connector, host, timeouts } = input;
  const servername = isIP(host.name) ? undefined : host.name;
  const mode = input.plaintext ? 'None' : connector.tls.mode;
  const verify = mode === 'Required' && connector.tls.verify;
  return {
    host: host.address,
    port: host.port,
    name: connector.fqdn,
    ...(servername ? { servername } : {}),
    ignoreTLS: mode === 'None',
    requireTLS: mode === 'Required',
    opportunisticTLS: mode === 'Opportunistic',
    tls: { rejectUnauthorized: verify, ...(servername ? { servername } : {}), ...(input.ca ? { ca: input.ca } : {}) },
    connectionTimeout: timeouts.connectTimeoutMs,
    greetingTimeout: timeouts.greetingTimeoutMs,
    socketTimeout: timeouts.socketTimeoutMs,
    socketCloseTimeout: 0,
    allowInternalNetworkInterfaces: true,
    logger: false,
  };
}

/** openSmtp - a connected (and authenticated) session, or the step that failed. */
export function openSmtp(input: OpenSmtpInput): Promise<{ ok: true; pooled: PooledSmtp } | { ok: false; failure: StepFailure }> {
  let credentials: ReturnType<typeof readCredentials>;
  try {
    credentials = readCredentials(input.connector.authFile);
  } catch (err) {
    return Promise.resolve({ ok: false, failure: { phase: 'auth', code: null, reply: (err as Error).message } });
  }
  return new Promise((resolve) => {
    const conn = new SMTPConnection(connectionOptions(input));
    let settled = false;
    const fail = (err: unknown, phase: SmtpPhase): void => {
      if (settled) return;
      settled = true;
      conn.close();
      resolve({ ok: false, failure: stepFailureOf(err, phase) });
    };
    conn.on('error', (err) => fail(err, 'connect'));
    conn.once('end', () => fail(new Error('connection closed by the peer'), 'connect'));
    conn.connect(() => {
      if (settled) return;
      const ready = (): void => {
        if (settled) return;
        settled = true;
        resolve({ ok: true, pooled: { conn, key: input.key, messages: 0, dead: false, peerDsn: false } });
      };
      if (!credentials || !conn.allowsAuth) return ready();
      if (!conn.secure && input.connector.tls.mode !== 'None' && !input.plaintextAuth) {
        // never send the smart host password in clear unless the connector says tls.mode None
        return fail(Object.assign(new Error('credentials are not sent over an unencrypted session'), { code: 'EAUTH' }), 'auth');
      }
      conn.login({ user: credentials.user, pass: credentials.pass }, (err) => (err ? fail(err, 'auth') : ready()));
    });
  });
}

export interface TransactionInput {
  mailFrom: string;
  recipients: Array<{ index: number; address: string }>;
  body: Buffer;
  dsn?: SMTPEnvelope['dsn'];
}

export type RecipientReply = { index: number; ok: true; reply: string; peerDsn: boolean } | { index: number; ok: false; failure: StepFailure };

export interface TransactionResult {
  replies: RecipientReply[];
  /** The session may carry another transaction. */
  reusable: boolean;
  /** The peer announced DSN (known after the first transaction on a connection). */
  peerDsn: boolean;
}

/**
 * withEnd - settle `start` with its callback, or with `closed` once the connection ends:
 * nodemailer forgets a send in flight when the connection is closed locally (stop).
 */
function withEnd<T>(conn: SMTPConnection, closed: T, start: (done: (value: T) => void) => void): Promise<T> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (value: T): void => {
      if (settled) return;
      settled = true;
      conn.removeListener('end', onEnd);
      resolve(value);
    };
    const onEnd = (): void => done(closed);
    conn.once('end', onEnd);
    start(done);
  });
}

const CLOSED: ErrorLike = { code: 'ECONNECTION', message: 'connection closed' };

function send(conn: SMTPConnection, envelope: SMTPEnvelope, body: Buffer): Promise<{ info: SMTPConnectionSendInfo } | { err: ErrorLike }> {
  return withEnd<{ info: SMTPConnectionSendInfo } | { err: ErrorLike }>(conn, { err: CLOSED }, (done) =>
    conn.send(envelope, body, (err, info) => done(err || !info ? { err: err ?? {} } : { info })));
}

function reset(conn: SMTPConnection): Promise<boolean> {
  return withEnd(conn, false, (done) => conn.reset((err) => done(!err)));
}

/** sendSmtpTransaction - one MAIL transaction; a reply for every recipient of the batch. */
export async function sendSmtpTransaction(pooled: PooledSmtp, input: TransactionInput): Promise<TransactionResult> {
  const envelope: SMTPEnvelope = {
    from: input.mailFrom,
    to: input.recipients.map((r) => r.address),
    size: input.body.length,
    use8BitMime: !isAscii(input.body), // native scan; a per-byte callback cost ~50 us per 10 KiB
    ...(input.dsn ? { dsn: input.dsn } : {}),
  };
  const outcome = await send(pooled.conn, envelope, input.body);
  pooled.messages += 1;
  const byAddress = (address: string): number[] => input.recipients.filter((r) => r.address === address).map((r) => r.index);
  if ('info' in outcome) {
    const info = outcome.info;
    pooled.peerDsn = (info.ehlo ?? []).some((line) => /^DSN\b/i.test(line));
    const replies: RecipientReply[] = info.accepted.flatMap((a) => byAddress(a).map((index): RecipientReply => ({ index, ok: true, reply: info.response.trim(), peerDsn: pooled.peerDsn })));
    for (const e of info.rejectedErrors ?? []) {
      for (const index of byAddress(e.recipient ?? '')) replies.push({ index, ok: false, failure: stepFailureOf(e, 'rcpt') });
    }
    return { replies, reusable: !pooled.dead, peerDsn: pooled.peerDsn };
  }
  const err = outcome.err;
  if (err.command === 'RCPT TO' && err.rejectedErrors) {
    const replies = err.rejectedErrors.flatMap((e) => byAddress(e.recipient ?? '').map((index): RecipientReply => ({ index, ok: false, failure: stepFailureOf(e, 'rcpt') })));
    const answered = new Set(replies.map((r) => r.index));
    for (const r of input.recipients) if (!answered.has(r.index)) replies.push({ index: r.index, ok: false, failure: stepFailureOf(err, 'rcpt') });
    return { replies, reusable: !pooled.dead && (await reset(pooled.conn)), peerDsn: pooled.peerDsn };
  }
  const failure = stepFailureOf(err, 'data');
  const protocolRefusal = (err.code === 'EENVELOPE' || err.code === 'EMESSAGE') && failure.code !== 421 && !pooled.dead;
  return {
    replies: input.recipients.map((r) => ({ index: r.index, ok: false, failure })),
    reusable: protocolRefusal && (await reset(pooled.conn)),
    peerDsn: pooled.peerDsn,
  };
}

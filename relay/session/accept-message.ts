/*
 * relay/session/accept-message - the DATA of a session, from the first byte to the 250.
 *
 * receiveMessage reads the DATA stream: canonicalised to CRLF as it arrives (data-normalizer.ts),
 * the body spilled to the spool past a small threshold with every byte held in memory counted
 * in the hub's budget (data-sink.ts), reading paused while the spill catches up, and nothing
 * kept past the size limit. acceptMessage is the step after the final dot: the end-of-data
 * policy (size, bare line feeds, header size, hop count, Send-As on the header senders), the
 * header firewall, the Received and X-Relay-Antispam headers (and Message-ID and Date when the
 * client sent none), then the spool commit; only
 * after the spool has the message on disk with fsync does the client get 250.
 * Failure modes: a refusal goes through the connector's refuse (tarpit, count, log); memory or
 * spool trouble answers 451/452 (replies.ts) and the message is not queued.
 */
import { randomUUID } from 'node:crypto';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { DsnNotify } from '../delivery/envelope.ts';
import { MAX_SPOOL_BODY_BYTES } from '../spool/record-format.ts';
import { isSpoolFull } from '../spool/errors.ts';
import { runAntiSpamChecks } from './antispam.ts';
import type { ConnectorContext } from './connector-context.ts';
import { DataNormalizer } from './data-normalizer.ts';
import { DEFAULT_MAX_DATA_MEMORY_BYTES } from '../config/settings.ts';
import { DataSink } from './data-sink.ts';
import { buildReceivedHeader, countReceivedHeaders, filterHeaders, missingOriginFields, receivedProtocol } from './header-firewall.ts';
import { decideDataEnd, type Decision } from './policy.ts';
import { REPLIES } from './replies.ts';
import { smtpError, type SessionState, type SmtpError } from './session-state.ts';

/** A session without a size limit still stops at what a queue file holds, less room for the headers the hub adds. */
const MAX_UNLIMITED_MESSAGE_BYTES = MAX_SPOOL_BODY_BYTES - 1024 * 1024;

/** What receiveMessage hands to acceptMessage at the final dot. */
interface ReceivedData {
  normalizer: DataNormalizer;
  /** The client's header block as received (before the firewall). */
  rawHeaders: Buffer;
  sink: DataSink;
  /** No size limit for this session (BypassMessageSizeLimit, or maxMessageSize 0). */
  unlimited: boolean;
}

/** receiveMessage - smtp-server's onData: read the stream, then accept (or refuse) the message. */
export function receiveMessage(context: ConnectorContext, stream: SMTPServerDataStream, session: SMTPServerSession, state: SessionState, callback: (err: SmtpError | null, reply?: string) => void): void {
  const normalizer = new DataNormalizer({ bareLineFeeds: context.connector.bareLineFeeds, maxHeaderSize: context.connector.limits.maxHeaderSize });
  // no size limit still has one: what a queue file can hold (its length field), less room for our headers
  const unlimited = state.rights.rights.has('BypassMessageSizeLimit') || context.connector.limits.maxMessageSize === 0;
  const limit = unlimited ? MAX_UNLIMITED_MESSAGE_BYTES : context.connector.limits.maxMessageSize;
  // the body is never held whole: past a small threshold it goes to a spill file in the
  // spool as it arrives, and every byte held in memory counts in the hub's budget (data-sink.ts)
  const sink = new DataSink({ spool: context.runtime.spool, budget: context.dataMemory, maxMemoryBytes: context.runtime.hub.spool?.maxDataMemoryBytes ?? DEFAULT_MAX_DATA_MEMORY_BYTES });
  let headers: Buffer | null = null;
  let ended = false;
  const take = (out: { headers: Buffer | null; body: Buffer | null }): Promise<void> | null => {
    if (out.headers) headers = out.headers;
    sink.headerBytes(headers ? headers.length : normalizer.headerBytesHeld);
    if (normalizer.bytesIn > limit) {
      sink.drop(); // refused at the final dot (552); what follows is only counted
      return null;
    }
    return out.body ? sink.write(out.body) : null;
  };
  stream.on('data', (chunk: Buffer) => {
    const wait = take(normalizer.push(chunk));
    if (wait === null) return;
    // the spill is slower than the socket: stop reading (smtp-server then stops reading
    // the socket) until the batch is written, so nothing piles up in memory
    stream.pause();
    void wait.then(() => stream.resume());
  });
  // the client went away before the final dot: smtp-server destroys the stream
  stream.once('close', () => {
    if (!ended) void sink.release();
  });
  stream.once('error', () => undefined);
  stream.once('end', () => {
    ended = true;
    void take(normalizer.end()); // acceptMessage waits for the spill writes (sink.finish)
    void acceptMessage(context, session, state, { normalizer, rawHeaders: headers ?? Buffer.alloc(0), sink, unlimited })
      .finally(() => sink.release())
      .then(
        (reply) => callback(null, reply),
        (error: SmtpError) => callback(error),
      );
  });
}

/** acceptMessage - after the final dot: decide, add our headers, commit to the spool; the 250 text. */
export async function acceptMessage(context: ConnectorContext, session: SMTPServerSession, state: SessionState, received: ReceivedData): Promise<string> {
  const { normalizer, rawHeaders, sink, unlimited } = received;
  const { connector, labels } = context;
  const { hub, spool, metrics } = context.runtime;
  const decision: Decision = unlimited && normalizer.bytesIn > MAX_UNLIMITED_MESSAGE_BYTES
    ? REPLIES.messageTooBigForSpool
    : decideDataEnd({
      ...context.policyContext(session, state),
      bareLineFeedRejected: normalizer.rejected,
      headerSizeExceeded: normalizer.headerSizeExceeded,
      size: normalizer.bytesIn,
      receivedCount: countReceivedHeaders(rawHeaders),
      headers: rawHeaders, // the From/Sender (Send-As) check
    });
  if (!decision.ok) {
    return new Promise((_resolve, reject) => void context.refuse(session, decision, 'DATA', reject));
  }
  const sunk = await sink.finish();
  const failure = sink.failure;
  if (failure) {
    const full = failure.kind === 'spool' && isSpoolFull(failure.error);
    const refusal = failure.kind === 'memory' ? REPLIES.dataMemoryFull : full ? REPLIES.spoolFull : REPLIES.spoolError;
    const reason = refusal.reason;
    metrics.refusals.inc({ ...labels, reason });
    if (failure.kind === 'memory') {
      state.log.write('*', `DATA refused: ${refusal.code} ${refusal.enhanced} hub DATA memory limit reached (${failure.heldBytes} of ${failure.limitBytes} bytes held)`, reason, true);
      throw smtpError(refusal);
    }
    state.log.write('*', `spool ${full ? 'full' : 'error'} while receiving: ${failure.error.message}`, reason, true);
    throw smtpError(refusal);
  }
  const violations = Object.entries(normalizer.violations).filter(([, count]) => count > 0);
  if (violations.length > 0) {
    state.log.write('*', `normalized ${violations.map(([kind, count]) => `${kind} x${count}`).join(', ')} to CRLF (SMTP smuggling defence)`, 'bareLineFeedNormalized', true);
  }
  const filtered = filterHeaders(rawHeaders, state.rights.rights);
  if (filtered.stripped.length > 0) state.log.write('*', `stripped ${filtered.stripped.join(', ')}`, 'headerFirewall');
  if (filtered.leadingWhitespace) state.log.write('*', 'header section starts with whitespace: stored as body, after our own headers (as Postfix)', 'headerFirewall');
  const id = randomUUID();
  const now = new Date();
  const recipients = session.envelope.rcptTo.map((r) => r.address);
  const added: string[] = [
    buildReceivedHeader({
      fromHelo: session.hostNameAppearsAs || '',
      clientAddress: session.remoteAddress,
      byFqdn: connector.fqdn,
      withProtocol: receivedProtocol({ esmtp: session.openingCommand === 'EHLO', secure: session.secure, authenticated: state.user !== undefined }),
      id,
      ...(recipients.length === 1 && recipients[0] ? { forRecipient: recipients[0] } : {}),
      date: now,
    }),
    ...missingOriginFields(filtered.leadingWhitespace ? Buffer.alloc(0) : filtered.headers, { id, fqdn: connector.fqdn, date: now }),
  ];
  if (!state.rights.rights.has('BypassAntiSpam') && !hub.antiSpam.spf && hub.antiSpam.dnsbl.length === 0) {
    // No check configured: what runAntiSpamChecks would conclude, without its promises.
    added.push(`X-Relay-Antispam: checks=none client-ip=${session.remoteAddress}\r\n`);
  } else if (!state.rights.rights.has('BypassAntiSpam')) {
    const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const result = await (state.antispam ?? runAntiSpamChecks(context.antiSpamInput(session, mailFrom)));
    state.antispam = null;
    added.push(...result.headers);
    if (result.headers.length === 0) added.push(`X-Relay-Antispam: checks=none client-ip=${session.remoteAddress}\r\n`);
  }
  const parts = [Buffer.from(added.join('')), filtered.headers, ...sunk.memory];
  const size = parts.reduce((n, p) => n + p.length, 0) + (sunk.spill?.bytes ?? 0);
  const started = performance.now();
  try {
    const queued = await spool.commitMessage(
      {
        mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        rcptTo: session.envelope.rcptTo.map((r) => ({
          address: r.address,
          ...(r.dsn?.notify && r.dsn.notify.length > 0 ? { notify: r.dsn.notify as DsnNotify[] } : {}),
          ...(r.dsn?.orcpt ? { orcpt: r.dsn.orcpt } : {}),
        })),
        ...(session.envelope.dsn?.ret === 'FULL' || session.envelope.dsn?.ret === 'HDRS' ? { dsnRet: session.envelope.dsn.ret } : {}),
        ...(session.envelope.dsn?.envid ? { dsnEnvid: session.envelope.dsn.envid } : {}),
        receivedAt: new Date().toISOString(),
        connectorId: connector.id,
        sessionId: state.sessionId,
        clientAddress: session.remoteAddress,
        ...(state.user ? { authUser: state.user.name } : {}),
        size,
      },
      parts,
      sunk.spill ? { spill: sunk.spill } : {},
    );
    metrics.fsyncSeconds.observe((performance.now() - started) / 1000);
    state.messages++;
    metrics.messages.inc(labels);
    metrics.bytes.inc(labels, size);
    state.log.write('>', `250 2.6.0 <${id}> Queued mail for delivery`, `queued ${queued} size ${size} recipients ${recipients.length}`);
    return `2.6.0 <${id}> Queued mail for delivery as ${queued}`;
  } catch (error) {
    const full = isSpoolFull(error);
    const refusal = full ? REPLIES.spoolFull : REPLIES.spoolError;
    metrics.refusals.inc({ ...labels, reason: refusal.reason });
    state.log.write('*', `spool ${full ? 'full' : 'error'}: ${(error as Error).message}`, refusal.reason, true);
    throw smtpError(refusal);
  }
}

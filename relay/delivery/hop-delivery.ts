/*
 * relay/delivery/hop-delivery - deliver one message to one next hop (a RouteGroup).
 *
 * JOB       drop directory: write the .eml file. SMTP: resolve the hosts (next-hop.ts), hold
 *           a per-destination slot (DestinationLimiter), then try the hosts in order: reuse
 *           a pooled session or open one, send the recipients still open, and ask
 *           failure-policy.ts what each failure means: delivered, bounce, defer, or move on
 *           to the next host (failover between smart hosts and MX hosts). A host that could
 *           not be reached is skipped while host-health.ts remembers it down.
 * BATCHES   Recipients with different NOTIFY/ORCPT go in separate transactions on the same
 *           session (nodemailer carries DSN parameters per transaction).
 * FAILURES  Over the connector's maxMessageSize -> bounce 5.3.4. Nothing here throws for a
 *           delivery failure; an aborted signal (stop) throws DeliveryStoppedError.
 */
import type { SMTPEnvelope } from 'nodemailer/lib/smtp-connection';
import type { MessageEnvelope } from './envelope.ts';
import type { RecipientOutcome } from './job.ts';
import { writeDropFile } from './drop-directory.ts';
import { DeliveryStoppedError } from './errors.ts';
import { decideFailure } from './failure-policy.ts';
import { skippedFailure, type HostHealth } from './host-health.ts';
import { decodeXtext } from './message-headers.ts';
import { resolveMxHosts, resolveSmartHosts, type DeliveryDnsResolver, type NextHopHost, type SelfCheck } from './next-hop.ts';
import type { RouteGroup } from './routing.ts';
import type { DestinationLimiter, PooledSmtp, SmtpConnectionPool } from './smtp-pool.ts';
import { openSmtp, sendSmtpTransaction, type RecipientReply, type SmtpTimeouts, type StepFailure } from './smtp-transaction.ts';

export interface HopContext {
  resolver: DeliveryDnsResolver;
  pool: SmtpConnectionPool;
  limiter: DestinationLimiter;
  destinationConcurrency: number;
  timeouts: SmtpTimeouts;
  ca?: string | Buffer | Array<string | Buffer>;
  random: () => number;
  signal: AbortSignal;
  /** The hub's own listening addresses: an MX host among them is a loop (next-hop.ts). */
  isSelf?: SelfCheck;
  /** Hosts that could not be reached lately (shared by every attempt of the hub). */
  health: HostHealth;
  /** How long a host that could not be reached is skipped (the queue's minBackoff). */
  hostDownMs: number;
  /** A host was marked down (it was up before) or came back (it was down). */
  onHostHealth?: (host: string, change: { down: true; untilMs: number; reason: string } | { down: false }) => void;
}

/** The message an attempt delivers: the envelope as queued, and the body made canonical. */
export interface HopMessage {
  queueId: string;
  envelope: MessageEnvelope;
  /** Canonical body (relay/common/line-endings.ts). */
  body: Buffer;
}

type Open = { index: number; address: string };

function outcomeFor(group: RouteGroup, index: number, result: RecipientOutcome['result'], dsnStatus: string, reply: string, host?: NextHopHost): RecipientOutcome {
  const nextHop = group.kind === 'smartHost' && host ? `${host.name}:${host.port}` : group.kind;
  return { index, result, dsnStatus, reply, nextHop, connectorId: group.connector.id, ...(host ? { remoteMta: host.name } : {}) };
}

function batchesOf(message: HopMessage, open: Open[]): Array<{ recipients: Open[]; dsn?: SMTPEnvelope['dsn'] }> {
  const batches = new Map<string, { recipients: Open[]; dsn?: SMTPEnvelope['dsn'] }>();
  for (const r of open) {
    const rcpt = message.envelope.rcptTo[r.index];
    const notify = rcpt?.notify;
    const orcpt = rcpt?.orcpt ? decodeXtext(rcpt.orcpt) : undefined;
    const key = JSON.stringify([notify ?? null, orcpt ?? null]);
    let batch = batches.get(key);
    if (!batch) {
      const dsn: SMTPEnvelope['dsn'] = {
        ...(message.envelope.dsnRet ? { ret: message.envelope.dsnRet } : {}),
        ...(message.envelope.dsnEnvid ? { envid: decodeXtext(message.envelope.dsnEnvid) } : {}),
        ...(notify ? { notify } : {}),
        ...(orcpt ? { orcpt } : {}),
      };
      batch = { recipients: [], ...(Object.keys(dsn).length > 0 ? { dsn } : {}) };
      batches.set(key, batch);
    }
    batch.recipients.push(r);
  }
  return [...batches.values()];
}

async function session(ctx: HopContext, group: RouteGroup, host: NextHopHost, key: string): Promise<{ ok: true; pooled: PooledSmtp; reused: boolean } | { ok: false; failure: StepFailure }> {
  const reused = ctx.pool.take(key);
  if (reused) return { ok: true, pooled: reused, reused: true };
  const hostKey = `${host.address}:${host.port}`;
  const down = ctx.health.down(hostKey);
  if (down) return { ok: false, failure: skippedFailure(`${host.name}:${host.port}`, down) };
  const input = { connector: group.connector, host, key, timeouts: ctx.timeouts, ...(ctx.ca ? { ca: ctx.ca } : {}) };
  let opened = await openSmtp(input);
  if (!opened.ok && opened.failure.phase === 'tls' && group.connector.tls.mode === 'Opportunistic') opened = await openSmtp({ ...input, plaintext: true });
  if (!opened.ok) {
    const marked = ctx.health.recordFailure(hostKey, opened.failure, ctx.hostDownMs, host);
    if (marked) ctx.onHostHealth?.(`${host.name}:${host.port}`, { down: true, untilMs: marked.untilMs, reason: marked.failure.reply });
    return opened;
  }
  if (ctx.health.markUp(hostKey)) ctx.onHostHealth?.(`${host.name}:${host.port}`, { down: false });
  ctx.pool.watch(opened.pooled);
  return { ok: true, pooled: opened.pooled, reused: false };
}

/** tryHost - every open recipient gets a reply from this host (or the failure that ended it). */
async function tryHost(ctx: HopContext, group: RouteGroup, host: NextHopHost, message: HopMessage, open: Open[]): Promise<RecipientReply[]> {
  const c = group.connector;
  const key = [c.id, host.address, host.port, c.tls.mode, c.tls.verify, c.authFile ?? '', c.fqdn].join('|');
  const replies: RecipientReply[] = [];
  let sessionFailure: StepFailure | null = null;
  for (const batch of batchesOf(message, open)) {
    if (sessionFailure) {
      const failure = sessionFailure;
      replies.push(...batch.recipients.map((r): RecipientReply => ({ index: r.index, ok: false, failure })));
      continue;
    }
    const input = { mailFrom: message.envelope.mailFrom, recipients: batch.recipients, body: message.body, ...(batch.dsn ? { dsn: batch.dsn } : {}) };
    let result: RecipientReply[] | null = null;
    for (let tries = 0; tries < 2 && result === null; tries += 1) {
      const s = await session(ctx, group, host, key);
      if (!s.ok) {
        sessionFailure = s.failure; // this host is no use for the other batches either
        result = batch.recipients.map((r) => ({ index: r.index, ok: false, failure: s.failure }));
        break;
      }
      const sent = await sendSmtpTransaction(s.pooled, input);
      ctx.pool.give(s.pooled, sent.reusable);
      const stale = s.reused && sent.replies.every((r) => !r.ok && r.failure.code === null);
      if (!stale) result = sent.replies; // a cached session the peer had dropped: once more on a new one
    }
    replies.push(...(result ?? []));
  }
  return replies;
}

async function deliverSmtp(ctx: HopContext, group: RouteGroup, message: HopMessage, open: Open[]): Promise<RecipientOutcome[]> {
  const resolved = group.kind === 'mx'
    ? await resolveMxHosts(group.domain, group.connector.port, ctx.resolver, ctx.random, ctx.isSelf)
    : await resolveSmartHosts(group.connector, ctx.resolver);
  if (!resolved.ok) {
    return open.map((r) => outcomeFor(group, r.index, resolved.result, resolved.dsnStatus, resolved.reply));
  }
  const release = await ctx.limiter.acquire(group.key, ctx.destinationConcurrency);
  const outcomes: RecipientOutcome[] = [];
  try {
    let remaining = open;
    for (let h = 0; h < resolved.hosts.length && remaining.length > 0; h += 1) {
      if (ctx.signal.aborted) throw new DeliveryStoppedError();
      const host = resolved.hosts[h] as NextHopHost;
      const finalHost = h === resolved.hosts.length - 1;
      const replies = await tryHost(ctx, group, host, message, remaining);
      const next: Open[] = [];
      for (const reply of replies) {
        if (reply.ok) {
          outcomes.push({ ...outcomeFor(group, reply.index, 'delivered', '2.0.0', reply.reply, host), dsnPassedOn: reply.peerDsn });
          continue;
        }
        const decision = decideFailure({ ...reply.failure, finalHost });
        if (decision.action === 'nextHost') next.push(remaining.find((r) => r.index === reply.index) as Open);
        else outcomes.push(outcomeFor(group, reply.index, decision.action, decision.dsnStatus, reply.failure.reply, host));
      }
      remaining = next;
    }
  } finally {
    release();
  }
  if (ctx.signal.aborted) throw new DeliveryStoppedError();
  return outcomes;
}

/** deliverRouteGroup - outcomes for the group's recipients (see the manual above). */
export async function deliverRouteGroup(ctx: HopContext, group: RouteGroup, message: HopMessage): Promise<RecipientOutcome[]> {
  if (ctx.signal.aborted) throw new DeliveryStoppedError();
  const open = group.recipients.map((index) => ({ index, address: message.envelope.rcptTo[index]?.address ?? '' }));
  const c = group.connector;
  if (message.body.length > c.maxMessageSize) {
    return open.map((r) => outcomeFor(group, r.index, 'failed', '5.3.4', `message size ${message.body.length} exceeds the limit ${c.maxMessageSize} of send connector ${c.id}`));
  }
  if (group.kind === 'drop') {
    try {
      const file = await writeDropFile({ dir: c.dropDirectory as string, queueId: message.queueId, connectorId: c.id, mailFrom: message.envelope.mailFrom, recipients: open.map((r) => r.address), body: message.body });
      return open.map((r) => outcomeFor(group, r.index, 'delivered', '2.0.0', `written to ${file}`));
    } catch (err) {
      return open.map((r) => outcomeFor(group, r.index, 'deferred', '4.3.0', `drop directory ${c.dropDirectory} write failed: ${(err as Error).message}`));
    }
  }
  return deliverSmtp(ctx, group, message, open);
}

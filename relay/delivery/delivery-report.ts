/*
 * relay/delivery/delivery-report - what follows from an attempt's outcomes (the QueueJobReporter).
 *
 * Runs after the expiry rule and before the queue manager persists the attempt:
 *   tracking log  one SEND / DEFER / FAIL line per (result, connector, next hop);
 *   metrics       one delivery count per recipient, latency for delivered ones;
 *   DSNs          failures (and SUCCESS requests: `delivered` for a drop directory, `relayed`
 *                 for a next hop that did not take the DSN parameters) as one RFC 3464 report
 *                 per action, committed to the spool before this resolves, so a crash after
 *                 it can duplicate a DSN but never lose one. Never for a null-sender message.
 *   delay notice  a deferral while job.delayNoticeDue, for a recipient whose state is not yet
 *                 delayNotified, is reported as `delayed` (NOTIFY permitting), with
 *                 Will-Retry-Until = job.expiresAtMs (receivedAt + maxAge): one report per attempt for all such
 *                 recipients. The queue manager then marks them delayNotified, so a recipient
 *                 gets at most one (a second only when a crash, or a failure to write the
 *                 delivery state, falls between this and that write: repeated, never lost).
 * The DSN comes from postmaster@<default accepted domain> (else the first Authoritative
 * domain, else the hub FQDN).
 */
import type { RenderedConfig } from '../config/schema.ts';
import type { QueueJob, RecipientOutcome } from './job.ts';
import type { TrackingLog } from '../log/tracking-log.ts';
import type { MessageEnvelope } from './envelope.ts';
import { networkMessageId } from './delivery-attempt.ts';
import { buildDsn, wantsDsn, type DsnAction, type DsnRecipientReport } from './dsn.ts';
import type { DeliveryMetrics } from './metrics.ts';

/** DsnSubmitter - where DSNs are committed: the spool, wired by the hub (delivery never imports it). */
export interface DsnSubmitter {
  /** Durable before it resolves with the new message's queue id; intoReserve: past the free-space reserve. */
  commitMessage(envelope: MessageEnvelope, body: Buffer, options: { intoReserve: boolean }): Promise<string>;
}

export interface ReportContext {
  spool: DsnSubmitter;
  config: RenderedConfig;
  tracking: TrackingLog;
  metrics: DeliveryMetrics;
  now: () => number;
  /** Called with the queue id of each DSN committed. */
  onDsn?: (id: string) => void;
}

/** postmasterAddress - the From of our DSNs. */
export function postmasterAddress(config: RenderedConfig): string {
  const domains = config.acceptedDomains;
  const chosen = domains.find((d) => d.default) ?? domains.find((d) => d.type === 'Authoritative');
  return `postmaster@${chosen ? chosen.domain.replace(/^\*\./, '') : config.hub.fqdn}`;
}

const EVENT = { delivered: 'SEND', deferred: 'DEFER', failed: 'FAIL' } as const;

function logOutcomes(job: QueueJob, outcomes: readonly RecipientOutcome[], tracking: TrackingLog): void {
  const groups = new Map<string, RecipientOutcome[]>();
  for (const o of outcomes) {
    const key = `${o.result}|${o.connectorId ?? ''}|${o.nextHop ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), o]);
  }
  const env = job.message.envelope;
  for (const list of groups.values()) {
    const first = list[0] as RecipientOutcome;
    tracking.write({
      'event-id': EVENT[first.result],
      source: 'QUEUE',
      'connector-id': first.connectorId ?? '',
      'internal-message-id': job.id,
      'network-message-id': networkMessageId(job.message.body),
      'sender-address': env.mailFrom,
      'recipient-address': list.map((o) => env.rcptTo[o.index]?.address ?? ''),
      'recipient-status': list.map((o) => o.reply),
      'recipient-count': list.length,
      'total-bytes': env.size,
      ...(first.nextHop ? { 'server-hostname': first.nextHop } : {}),
      ...(job.expired && first.result === 'failed' ? { 'source-context': 'expired' } : {}),
    });
  }
}

function dsnAction(job: QueueJob, o: RecipientOutcome): DsnAction | null {
  if (o.result === 'failed') return 'failed';
  if (o.result === 'deferred') return job.delayNoticeDue && job.recipients[o.index]?.delayNotified !== true ? 'delayed' : null;
  if (o.nextHop === 'drop') return 'delivered';
  return o.dsnPassedOn ? null : 'relayed';
}

async function queueDsns(job: QueueJob, outcomes: readonly RecipientOutcome[], ctx: ReportContext): Promise<void> {
  const env = job.message.envelope;
  const willRetryUntil = new Date(job.expiresAtMs).toISOString();
  const byAction = new Map<DsnAction, DsnRecipientReport[]>();
  for (const o of outcomes) {
    const action = dsnAction(job, o);
    if (!action || !wantsDsn(env, o.index, action)) continue;
    const report: DsnRecipientReport = {
      index: o.index, action, status: o.dsnStatus, diagnostic: o.reply, lastAttemptAt: new Date(ctx.now()).toISOString(),
      ...(o.remoteMta ? { remoteMta: o.remoteMta } : {}), ...(action === 'delayed' ? { willRetryUntil } : {}),
    };
    byAction.set(action, [...(byAction.get(action) ?? []), report]);
  }
  for (const [action, recipients] of byAction) {
    const dsn = buildDsn({
      queueId: job.id, envelope: env, body: job.message.body, recipients,
      reportingMta: ctx.config.hub.fqdn, postmaster: postmasterAddress(ctx.config), now: new Date(ctx.now()),
    });
    // into the reserve: a refused DSN would leave the attempt unrecorded and its delivered
    // recipients delivered again at every retry
    const id = await ctx.spool.commitMessage(dsn.envelope, dsn.body, { intoReserve: true });
    ctx.metrics.dsn(action);
    ctx.tracking.write({
      'event-id': 'DSN', source: 'DSN', 'connector-id': 'dsn', 'internal-message-id': id,
      'network-message-id': networkMessageId(dsn.body), 'sender-address': '', 'recipient-address': [env.mailFrom],
      'recipient-status': recipients.map((r) => `${action} ${r.status} ${env.rcptTo[r.index]?.address ?? ''}`),
      'recipient-count': 1, 'total-bytes': dsn.body.length, reference: job.id,
    });
    ctx.onDsn?.(id);
  }
}

/** reportAttempt - tracking, metrics and DSNs for one attempt (see the manual above). */
export async function reportAttempt(job: QueueJob, outcomes: readonly RecipientOutcome[], ctx: ReportContext): Promise<void> {
  logOutcomes(job, outcomes, ctx.tracking);
  const arrived = Date.parse(job.message.envelope.receivedAt);
  for (const o of outcomes) {
    ctx.metrics.delivery(o.result, o.nextHop ?? 'none', o.connectorId ?? '');
    if (o.result === 'delivered') ctx.metrics.deliveryLatency(Math.max(0, (ctx.now() - arrived) / 1000));
  }
  await queueDsns(job, outcomes, ctx);
}

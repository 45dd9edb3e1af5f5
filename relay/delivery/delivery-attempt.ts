/*
 * relay/delivery/delivery-attempt - one delivery attempt of one message (the QueueJobRunner).
 *
 * Canonicalises the body once (nothing bare leaves the hub), routes the pending recipients
 * (routing.ts), and delivers every next-hop group in parallel (hop-delivery.ts). Recipients
 * that no SendConnector serves are deferred (4.4.0): a config reload may add a route before
 * the message expires. On the first attempt the message is logged as RECEIVE.
 */
import type { RenderedConfig } from '../config/schema.ts';
import type { QueueJob, RecipientOutcome } from './job.ts';
import type { TrackingLog } from '../log/tracking-log.ts';
import { canonicalBody } from '../common/line-endings.ts';
import { deliverRouteGroup, type HopContext } from './hop-delivery.ts';
import { headerValue } from './message-headers.ts';
import { domainOf, planRoutes } from './routing.ts';

/** networkMessageId - the Message-ID header without angle brackets ('' when absent). */
export function networkMessageId(body: Buffer): string {
  return (headerValue(body, 'message-id') ?? '').replace(/^<|>$/g, '');
}

/** logReceive - the RECEIVE tracking event for a message the queue sees for the first time. */
export function logReceive(job: QueueJob, tracking: TrackingLog): void {
  const env = job.message.envelope;
  tracking.write({
    'event-id': 'RECEIVE',
    source: env.connectorId === 'dsn' ? 'DSN' : 'SMTP',
    'connector-id': env.connectorId,
    'internal-message-id': job.id,
    'network-message-id': networkMessageId(job.message.body),
    'sender-address': env.mailFrom,
    'recipient-address': env.rcptTo.map((r) => r.address),
    'recipient-status': env.rcptTo.map(() => ''),
    'recipient-count': env.rcptTo.length,
    'total-bytes': env.size,
    ...(env.clientAddress ? { 'client-ip': env.clientAddress } : {}),
    'source-context': env.sessionId,
  });
}

/** attemptDelivery - outcomes for every pending recipient of the job. */
export async function attemptDelivery(job: QueueJob, config: RenderedConfig, hop: Omit<HopContext, 'signal'>): Promise<RecipientOutcome[]> {
  const env = job.message.envelope;
  const body = canonicalBody(job.message.body);
  const recipients = job.pending.map((index) => ({ index, address: env.rcptTo[index]?.address ?? '' }));
  const plan = planRoutes(recipients, config.sendConnectors);
  const outcomes: RecipientOutcome[] = plan.unroutable.map((index) => ({
    index,
    result: 'deferred',
    dsnStatus: '4.4.0',
    reply: `no send connector serves the domain of ${env.rcptTo[index]?.address ?? ''} (${domainOf(env.rcptTo[index]?.address ?? '') || 'no domain'})`,
    nextHop: 'none',
    connectorId: '',
  }));
  const message = { queueId: job.id, envelope: env, body };
  const ctx: HopContext = { ...hop, signal: job.signal };
  const perGroup = await Promise.all(plan.groups.map((group) => deliverRouteGroup(ctx, group, message)));
  return [...outcomes, ...perGroup.flat()];
}

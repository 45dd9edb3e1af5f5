/*
 * relay/queue/queue-view - the queue as an administrator reads it (Exchange's Get-Queue and
 * Get-Message, Postfix's mailq): next-hop queues, messages with filters, one message.
 *
 * NEXT HOP  A message's pending recipients are routed as delivery would route them now
 *           (relay/delivery/routing.ts): a smart-host or drop SendConnector is one next hop
 *           (its id); DNS MX delivery is one per domain (`connector/domain`); a recipient no
 *           connector takes is `unreachable` (Exchange's Unreachable queue). A message with
 *           recipients on several hops is in each of their queues, as in Exchange.
 * SOURCES   The state directories (what is on disk now), the envelopes (read from the spool)
 *           and the per-recipient delivery states (attempts, last reply, next retry). Bodies
 *           are never returned: showMessage gives the header block only.
 * PAGES     Messages come in arrival order (queue ids sort by arrival); a page ends with the
 *           id to pass as `after` for the next one.
 */
import type { RenderedConfig, SendConnectorConfig } from '../config/schema.ts';
import { planRoutes } from '../delivery/routing.ts';
import type { QueuedMessage, RecipientDeliveryState } from '../delivery/job.ts';
import { MESSAGE_CORRUPT_CODE, MESSAGE_NOT_FOUND_CODE, QUEUE_STATES, type DeliveryStates, type MessageDeliveryState, type QueueState, type QueueStore } from './queue-store.ts';
import { arrivalMsOfId } from './queue-depth.ts';
import { QueueArgumentError, QueueMessageNotFoundError } from './errors.ts';

export const UNREACHABLE_HOP = 'unreachable';
/** The states the view and the actions look at; corrupt/ messages have no envelope to show. */
const VIEW_STATES: readonly QueueState[] = ['incoming', 'active', 'deferred', 'hold'];
export const MAX_PAGE = 1000;

export interface RecipientView {
  address: string;
  status: RecipientDeliveryState['status'];
  nextHop: string | null;
  attempts: number;
  lastAttemptAt?: string;
  dsnStatus?: string;
  lastReply?: string;
  remoteMta?: string;
}

export interface MessageSummary {
  id: string;
  state: QueueState;
  sender: string;
  recipients: number;
  pending: number;
  size: number;
  receivedAt: string;
  ageSeconds: number;
  nextHops: string[];
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
}

export interface MessageDetail extends MessageSummary {
  connectorId: string;
  clientAddress: string;
  authUser?: string;
  recipientStates: RecipientView[];
  /** The header block as received (up to the first empty line); never the body. */
  headers: string;
}

export interface NextHopQueue {
  nextHop: string;
  count: number;
  byState: Record<'incoming' | 'active' | 'deferred' | 'hold', number>;
  oldestAgeSeconds: number;
  lastError: string | null;
  nextRetryAt: string | null;
}

export interface MessageFilter {
  sender?: string;
  recipient?: string;
  nextHop?: string;
  state?: QueueState;
  /** Only messages at least this old. */
  olderThanSeconds?: number;
  limit?: number;
  /** The last id of the previous page. */
  after?: string;
}

export interface MessagePage {
  messages: MessageSummary[];
  /** Pass as `after` for the next page; null on the last one. */
  next: string | null;
}

export interface LoadedMessage {
  id: string;
  state: QueueState;
  message: QueuedMessage;
  delivery: MessageDeliveryState | null;
}

export interface QueueViewSource {
  spool: QueueStore;
  store: DeliveryStates;
  config: () => RenderedConfig;
  now: () => number;
}

/** nextHopOf - the next-hop id of a route (see the manual above). */
function hopLabel(kind: string, connector: SendConnectorConfig, domain: string): string {
  return kind === 'mx' ? `${connector.id}/${domain}` : connector.id;
}

/** wildcard - `*` matches any run of characters; otherwise the whole text, case-insensitive. */
function matcher(pattern: string): (text: string) => boolean {
  const source = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  const regex = new RegExp(`^${source}$`, 'i');
  return (text) => regex.test(text);
}

export class QueueView {
  readonly #s: QueueViewSource;

  constructor(source: QueueViewSource) {
    this.#s = source;
  }

  /** load - a message wherever it is now (not corrupt/), with its delivery state; QueueMessageNotFoundError when gone. */
  async load(id: string): Promise<LoadedMessage> {
    if (!/^[0-9a-f]{28}$/.test(id)) throw new QueueArgumentError(`message id "${id}" is not a queue id (hex digits, as \`queue list\` shows them)`);
    for (const state of VIEW_STATES) {
      try {
        const message = await this.#s.spool.readMessage(state, id);
        const read = await this.#s.store.read(id);
        return { id, state, message, delivery: read.ok ? read.state : null };
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (code === MESSAGE_NOT_FOUND_CODE || code === 'RELAY_ERR_SPOOL_INVALID_ARGUMENT') continue;
        if (code === MESSAGE_CORRUPT_CODE) break;
        throw err;
      }
    }
    throw new QueueMessageNotFoundError(id);
  }

  /** recipientsOf - each recipient with its state and its next hop (pending ones). */
  recipientsOf(loaded: LoadedMessage): RecipientView[] {
    const rcpt = loaded.message.envelope.rcptTo;
    const states = loaded.delivery?.recipients.length === rcpt.length ? loaded.delivery.recipients : null;
    const pending = rcpt.flatMap((r, index) => ((states?.[index]?.status ?? 'pending') === 'pending' ? [{ index, address: r.address }] : []));
    const plan = planRoutes(pending, this.#s.config().sendConnectors);
    const hops = new Map<number, string>();
    for (const group of plan.groups) for (const index of group.recipients) hops.set(index, hopLabel(group.kind, group.connector, group.domain));
    for (const index of plan.unroutable) hops.set(index, UNREACHABLE_HOP);
    return rcpt.map((r, index) => {
      const s = states?.[index];
      return {
        address: r.address,
        status: s?.status ?? 'pending',
        nextHop: hops.get(index) ?? null,
        attempts: s?.attempts ?? 0,
        ...(s?.lastAttemptAt ? { lastAttemptAt: s.lastAttemptAt } : {}),
        ...(s?.dsnStatus ? { dsnStatus: s.dsnStatus } : {}),
        ...(s?.reply ? { lastReply: s.reply } : {}),
        ...(s?.remoteMta ? { remoteMta: s.remoteMta } : {}),
      };
    });
  }

  summaryOf(loaded: LoadedMessage, recipients = this.recipientsOf(loaded)): MessageSummary {
    const env = loaded.message.envelope;
    const pending = recipients.filter((r) => r.status === 'pending');
    const lastError = pending.find((r) => r.lastReply)?.lastReply ?? null;
    return {
      id: loaded.id,
      state: loaded.state,
      sender: env.mailFrom,
      recipients: recipients.length,
      pending: pending.length,
      size: env.size,
      receivedAt: env.receivedAt,
      ageSeconds: Math.max(0, Math.floor((this.#s.now() - Date.parse(env.receivedAt)) / 1000)),
      nextHops: [...new Set(pending.flatMap((r) => (r.nextHop ? [r.nextHop] : [])))],
      attempts: loaded.delivery?.attempts ?? 0,
      nextAttemptAt: loaded.state === 'deferred' ? loaded.delivery?.nextAttemptAt ?? null : null,
      lastError,
    };
  }

  /** showMessage - envelope, per-recipient state and last reply, headers only. */
  async showMessage(id: string): Promise<MessageDetail> {
    const loaded = await this.load(id);
    const recipients = this.recipientsOf(loaded);
    const env = loaded.message.envelope;
    const body = loaded.message.body;
    const end = body.indexOf('\r\n\r\n');
    return {
      ...this.summaryOf(loaded, recipients),
      connectorId: env.connectorId,
      clientAddress: env.clientAddress,
      ...(env.authUser ? { authUser: env.authUser } : {}),
      recipientStates: recipients,
      headers: body.subarray(0, end < 0 ? body.length : end + 2).toString('utf8'),
    };
  }

  /** each - every message in the viewed states (or one state), in arrival order, loaded. */
  async *each(state?: QueueState): AsyncGenerator<MessageSummary & { recipientStates: RecipientView[] }> {
    const states = state ? [state] : VIEW_STATES;
    const ids: Array<{ id: string; state: QueueState }> = [];
    for (const s of states) for (const id of await this.#s.spool.listMessages(s)) ids.push({ id, state: s });
    ids.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const { id, state: s } of ids) {
      let loaded: LoadedMessage;
      try {
        const message = await this.#s.spool.readMessage(s, id);
        const read = await this.#s.store.read(id);
        loaded = { id, state: s, message, delivery: read.ok ? read.state : null };
      } catch {
        continue; // moved on (delivered, moved to another state) since the listing, or corrupt
      }
      const recipientStates = this.recipientsOf(loaded);
      yield { ...this.summaryOf(loaded, recipientStates), recipientStates };
    }
  }

  /** listMessages - filtered, one page. */
  async listMessages(filter: MessageFilter = {}): Promise<MessagePage> {
    const limit = filter.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new QueueArgumentError(`limit must be a whole number from 1 to ${MAX_PAGE}`);
    if (filter.state !== undefined && !QUEUE_STATES.includes(filter.state)) throw new QueueArgumentError(`state must be one of ${QUEUE_STATES.join(', ')}`);
    if (filter.state === 'corrupt') throw new QueueArgumentError('state corrupt: corrupt messages cannot be read; see the spool\'s corrupt/ directory');
    const sender = filter.sender !== undefined ? matcher(filter.sender) : null;
    const recipient = filter.recipient !== undefined ? matcher(filter.recipient) : null;
    const messages: MessageSummary[] = [];
    let more = false;
    for await (const m of this.each(filter.state)) {
      if (filter.after !== undefined && m.id <= filter.after) continue;
      if (sender && !sender(m.sender)) continue;
      if (recipient && !m.recipientStates.some((r) => recipient(r.address))) continue;
      if (filter.nextHop !== undefined && !m.nextHops.includes(filter.nextHop)) continue;
      if (filter.olderThanSeconds !== undefined && m.ageSeconds < filter.olderThanSeconds) continue;
      if (messages.length === limit) {
        more = true;
        break;
      }
      const { recipientStates: _recipients, ...summary } = m;
      messages.push(summary);
    }
    return { messages, next: more ? (messages.at(-1)?.id ?? null) : null };
  }

  /** listQueues - one row per next hop, busiest first. */
  async listQueues(): Promise<NextHopQueue[]> {
    const queues = new Map<string, NextHopQueue & { lastErrorAt: string }>();
    const now = this.#s.now();
    for await (const m of this.each()) {
      for (const hop of m.nextHops) {
        let q = queues.get(hop);
        if (!q) {
          q = { nextHop: hop, count: 0, byState: { incoming: 0, active: 0, deferred: 0, hold: 0 }, oldestAgeSeconds: 0, lastError: null, nextRetryAt: null, lastErrorAt: '' };
          queues.set(hop, q);
        }
        q.count += 1;
        if (m.state !== 'corrupt') q.byState[m.state] += 1;
        q.oldestAgeSeconds = Math.max(q.oldestAgeSeconds, Math.floor((now - arrivalMsOfId(m.id)) / 1000));
        for (const r of m.recipientStates) {
          if (r.nextHop !== hop || !r.lastReply || r.status !== 'pending') continue;
          if ((r.lastAttemptAt ?? '') >= q.lastErrorAt) {
            q.lastError = r.lastReply;
            q.lastErrorAt = r.lastAttemptAt ?? '';
          }
        }
        if (m.nextAttemptAt && (q.nextRetryAt === null || m.nextAttemptAt < q.nextRetryAt)) q.nextRetryAt = m.nextAttemptAt;
      }
    }
    return [...queues.values()].map(({ lastErrorAt: _at, ...q }) => q).sort((a, b) => b.count - a.count || a.nextHop.localeCompare(b.nextHop));
  }
}

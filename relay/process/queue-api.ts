/*
 * relay/process/queue-api - the hub's queue API on its HTTP endpoint (beside /metrics).
 *
 *   GET  /queue/queues                          next-hop queues (count, oldest age, last error, next retry)
 *   GET  /queue/messages?sender=&recipient=&nextHop=&state=&olderThan=&limit=&after=
 *                                               messages, one page (`next` is the `after` of the next)
 *   GET  /queue/messages/ID                     one message: envelope, recipients' states and last replies, headers
 *   POST /queue/messages/ID/retry|hold|release  the action; the result says where the message is now
 *   POST /queue/messages/ID/remove[?ndr=true]   remove, with or without non-delivery reports
 *   POST /queue/next-hops/HOP/retry             every deferred message of that next hop, now
 * Answers are JSON; an error is `{ "error": { "code", "message" } }` (code: docs/errors.md, null when unexpected) with 400 (bad argument),
 * 401/403 (access), 404 (no such message), 409 (not now: being delivered, held) or 503 (no
 * queue: delivery on hold, or the hub stopping).
 * TRUST     A request from the loopback interface is served without a token: it comes from
 *           inside the pod (`kubectl exec`, `kubectl port-forward`, both already gated by
 *           RBAC on pods/exec and pods/portforward) or from the machine of a standalone hub.
 *           From anywhere else the API is off unless the hub was given a bearer token
 *           (--queue-api-token-file, a Secret in a cluster), and then the request must carry it.
 * AUDIT     `who` for the tracking log is the X-Relay-Actor header (the CLI sends the local
 *           user name), the client address, and "token" when one was presented.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RelayError } from '../common/errors.ts';
import { QueueArgumentError } from '../queue/errors.ts';
import type { QueueView, MessageFilter } from '../queue/queue-view.ts';
import type { QueueActions } from '../queue/queue-actions.ts';
import { QUEUE_STATES, type QueueState } from '../queue/queue-store.ts';

export interface QueueApiAccess {
  /** The bearer token that opens the API to other interfaces; null: loopback only. */
  token: string | null;
}

export type QueueAdmin = { view: QueueView; actions: QueueActions } | null;

const STATUS_OF_CODE: Partial<Record<string, number>> = {
  RELAY_ERR_QUEUE_INVALID_ARGUMENT: 400,
  RELAY_ERR_QUEUE_MESSAGE_NOT_FOUND: 404,
  RELAY_ERR_QUEUE_ACTION_REFUSED: 409,
};

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4 === '::1' || v4.startsWith('127.');
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(`${JSON.stringify(body, null, 2)}\n`);
}

function sendError(res: ServerResponse, status: number, code: string | null, message: string): void {
  send(res, status, { error: { code, message } });
}

/** queueApiRefusal - null when a request from `remoteAddress` with that Authorization header may use the API, else the refusal. */
export function queueApiRefusal(remoteAddress: string | undefined, header: string | undefined, access: QueueApiAccess): { status: number; message: string } | null {
  const presented = header?.startsWith('Bearer ') ? header.slice(7).trim() : null;
  if (presented !== null && access.token !== null) {
    return timingSafeEqual(digest(presented), digest(access.token)) ? null : { status: 401, message: 'the bearer token does not match the hub\'s --queue-api-token-file' };
  }
  if (isLoopback(remoteAddress)) return null;
  if (access.token === null) return { status: 403, message: 'the queue API answers only on the loopback interface (kubectl port-forward or kubectl exec); start the hub with --queue-api-token-file to open it to other addresses' };
  return { status: 401, message: 'this request needs the bearer token (Authorization: Bearer ..., relay-operator queue --token-file)' };
}

function actorOf(req: IncomingMessage): string {
  const named = String(req.headers['x-relay-actor'] ?? '').replace(/[^\x21-\x7e]/g, '').slice(0, 100) || 'unknown';
  const token = req.headers.authorization?.startsWith('Bearer ') ? ' with token' : '';
  return `${named}@${req.socket.remoteAddress ?? '?'}${token}`;
}

function filterOf(params: URLSearchParams): MessageFilter {
  const number = (name: string): number | undefined => {
    const raw = params.get(name);
    if (raw === null) return undefined;
    if (!/^\d+$/.test(raw)) throw new QueueArgumentError(`${name} must be a whole number, not "${raw}"`);
    return Number(raw);
  };
  const state = params.get('state');
  if (state !== null && !QUEUE_STATES.includes(state as QueueState)) throw new QueueArgumentError(`state must be one of ${QUEUE_STATES.join(', ')}, not "${state}"`);
  const filter: MessageFilter = {};
  for (const name of ['sender', 'recipient', 'nextHop', 'after'] as const) {
    const value = params.get(name);
    if (value !== null) filter[name] = value;
  }
  if (state !== null) filter.state = state as QueueState;
  const olderThan = number('olderThan');
  if (olderThan !== undefined) filter.olderThanSeconds = olderThan;
  const limit = number('limit');
  if (limit !== undefined) filter.limit = limit;
  return filter;
}

async function route(req: IncomingMessage, url: URL, admin: NonNullable<QueueAdmin>): Promise<{ status: number; body: unknown } | null> {
  const parts = url.pathname.split('/').slice(2).map((p) => decodeURIComponent(p));
  const who = actorOf(req);
  if (req.method === 'GET' && parts.length === 1 && parts[0] === 'queues') return { status: 200, body: { queues: await admin.view.listQueues() } };
  if (req.method === 'GET' && parts.length === 1 && parts[0] === 'messages') return { status: 200, body: await admin.view.listMessages(filterOf(url.searchParams)) };
  if (parts[0] === 'messages' && parts.length === 2 && req.method === 'GET') return { status: 200, body: await admin.view.showMessage(parts[1] as string) };
  if (req.method !== 'POST') return null;
  if (parts[0] === 'next-hops' && parts.length === 3 && parts[2] === 'retry') return { status: 200, body: await admin.actions.retryNextHop(parts[1] as string, who) };
  if (parts[0] !== 'messages' || parts.length !== 3) return null;
  const id = parts[1] as string;
  switch (parts[2]) {
    case 'retry': return { status: 200, body: await admin.actions.retryMessage(id, who) };
    case 'hold': return { status: 200, body: await admin.actions.hold(id, who) };
    case 'release': return { status: 200, body: await admin.actions.release(id, who) };
    case 'remove': return { status: 200, body: await admin.actions.remove(id, who, url.searchParams.get('ndr') === 'true') };
    default: return null;
  }
}

/** serveQueueApi - answer one request under /queue/. */
export async function serveQueueApi(req: IncomingMessage, res: ServerResponse, admin: QueueAdmin, access: QueueApiAccess): Promise<void> {
  const refused = queueApiRefusal(req.socket.remoteAddress, req.headers.authorization, access);
  if (refused) return sendError(res, refused.status, 'RELAY_ERR_QUEUE_API_ACCESS', refused.message);
  if (!admin) return sendError(res, 503, 'RELAY_ERR_QUEUE_STOPPED', 'no queue to show: delivery is on hold (--hold-delivery) or the hub is stopping');
  try {
    const url = new URL(req.url ?? '/', 'http://hub');
    const answer = await route(req, url, admin);
    if (!answer) return sendError(res, 404, 'RELAY_ERR_QUEUE_INVALID_ARGUMENT', `no queue API route ${req.method ?? ''} ${url.pathname} (see docs/operations.md)`);
    send(res, answer.status, answer.body);
  } catch (err) {
    const code = err instanceof RelayError ? err.code : null;
    sendError(res, (code && STATUS_OF_CODE[code]) ?? 500, code, (err as Error).message);
  }
}

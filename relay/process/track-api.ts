/*
 * relay/process/track-api - the hub's tracking log search on its HTTP endpoint (beside the
 * queue API): `relay-operator track --hub-url URL` and `track --hub NAME` ask it.
 *
 *   GET /track?sender=&recipient=&messageId=&since=&until=&event=&limit=
 *
 * since/until are RFC 3339 times (the CLI turns `2h` into one before asking); event may repeat
 * or be comma-separated; limit is a whole number (0 = all, default 1000, as the CLI's). The
 * answer is `{ "entries": [...], "truncated": bool, "unreadableLines": n }`, entries oldest
 * first as written; a bad argument is 400 `{ "error": { "code": "RELAY_ERR_TRACK_INVALID_ARGUMENT", "message" } }`.
 * Access follows the queue API's rules (queue-api.ts TRUST): loopback without a token, other
 * addresses only with the hub's bearer token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RelayError } from '../common/errors.ts';
import { searchTrackingLog, type TrackingQuery } from '../log/tracking-log-search.ts';
import { TRACKING_EVENTS, type TrackingEventId } from '../log/tracking-log.ts';
import { queueApiRefusal, type QueueApiAccess } from './queue-api.ts';

/** Exchange's Get-MessageTrackingLog returns 1000 entries unless -ResultSize says otherwise. */
export const DEFAULT_TRACK_API_LIMIT = 1000;

export class TrackArgumentError extends RelayError {
  constructor(message: string) { super('RELAY_ERR_TRACK_INVALID_ARGUMENT', message); }
}

const RFC3339 = /^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?)?$/;

function timeParam(params: URLSearchParams, name: string): number | undefined {
  const raw = params.get(name);
  if (raw === null) return undefined;
  const ms = RFC3339.test(raw) ? Date.parse(raw.length === 10 ? `${raw}T00:00:00Z` : raw) : NaN;
  if (!Number.isFinite(ms)) throw new TrackArgumentError(`${name} must be an RFC 3339 time (2026-12-06T05:00:00Z), not "${raw}"`);
  return ms;
}

/** trackQueryOf - the search a /track request asks for, or a TrackArgumentError naming the parameter. */
export function trackQueryOf(params: URLSearchParams): TrackingQuery {
  const known = new Set(['sender', 'recipient', 'messageId', 'since', 'until', 'event', 'limit']);
  for (const name of params.keys()) if (!known.has(name)) throw new TrackArgumentError(`unknown parameter "${name}" (known: ${[...known].join(', ')})`);
  const query: TrackingQuery = { limit: DEFAULT_TRACK_API_LIMIT };
  for (const name of ['sender', 'recipient', 'messageId'] as const) {
    const value = params.get(name);
    if (value !== null) query[name] = value;
  }
  const since = timeParam(params, 'since');
  if (since !== undefined) query.since = since;
  const until = timeParam(params, 'until');
  if (until !== undefined) query.until = until;
  const events = params.getAll('event').flatMap((v) => v.split(',')).map((v) => v.trim().toUpperCase()).filter((v) => v !== '');
  for (const event of events) {
    if (!(TRACKING_EVENTS as readonly string[]).includes(event)) throw new TrackArgumentError(`event must be one of ${TRACKING_EVENTS.join(', ')}, not "${event}"`);
  }
  if (events.length > 0) query.events = events as TrackingEventId[];
  const limit = params.get('limit');
  if (limit !== null) {
    if (!/^\d+$/.test(limit)) throw new TrackArgumentError(`limit must be a whole number (0 = all), not "${limit}"`);
    query.limit = Number(limit);
  }
  return query;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
}

/** serveTrackApi - answer one request for /track from the tracking folder `trackingDir` (null: this hub keeps none). */
export async function serveTrackApi(req: IncomingMessage, res: ServerResponse, trackingDir: string | null, access: QueueApiAccess): Promise<void> {
  const refused = queueApiRefusal(req.socket.remoteAddress, req.headers.authorization, access);
  if (refused) return send(res, refused.status, { error: { code: 'RELAY_ERR_QUEUE_API_ACCESS', message: refused.message } });
  if (req.method !== 'GET') return send(res, 405, { error: { code: 'RELAY_ERR_TRACK_INVALID_ARGUMENT', message: `${req.method ?? ''} /track: only GET` } });
  if (trackingDir === null) return send(res, 503, { error: { code: null, message: 'this hub keeps no tracking log file to search' } });
  try {
    const query = trackQueryOf(new URL(req.url ?? '/', 'http://hub').searchParams);
    const result = await searchTrackingLog(trackingDir, query);
    send(res, 200, { entries: result.entries, truncated: result.truncated, unreadableLines: result.unreadableLines });
  } catch (err) {
    if (err instanceof TrackArgumentError) return send(res, 400, { error: { code: err.code, message: err.message } });
    send(res, 500, { error: { code: err instanceof RelayError ? err.code : null, message: (err as Error).message } });
  }
}

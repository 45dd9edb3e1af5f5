/*
 * The hub's GET /track: the search of its tracking folder over HTTP, with the queue API's
 * access rules, and a 400 naming the parameter for a bad argument.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHubMetrics } from '../log/hub-metrics.ts';
import { trackingFileName } from '../log/tracking-log-file.ts';
import { trackingLine, type TrackingEvent } from '../log/tracking-log.ts';
import { serveHubHttp } from './http-endpoints.ts';
import { trackQueryOf } from './track-api.ts';

const event = (id: TrackingEvent['event-id'], sender: string, to: string): TrackingEvent => ({
  'event-id': id, source: id === 'RECEIVE' ? 'SMTP' : 'QUEUE', 'internal-message-id': `Q-${to}`, 'network-message-id': `<${to}@app.test>`,
  'sender-address': sender, 'recipient-address': [to], 'recipient-count': 1, 'total-bytes': 100, 'connector-id': 'mail/apps', 'recipient-status': [''],
});

async function serve(t: { after: (fn: () => void) => void }, trackingDir: string | undefined): Promise<string> {
  const server = serveHubHttp({ metrics: createHubMetrics(), ready: { ready: true }, configHash: 'h', pendingConfig: null, ...(trackingDir ? { trackingDir } : {}) }, { host: '127.0.0.1', port: 0 });
  t.after(() => server.close());
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('GET /track answers the entries that match, oldest first, as written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'track-api-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const at = Date.parse('2026-12-06T10:00:00Z');
  writeFileSync(join(dir, trackingFileName(at)), [
    trackingLine(event('RECEIVE', 'app@contoso.test', 'alice@example.org'), new Date(at)),
    trackingLine(event('RECEIVE', 'other@contoso.test', 'bob@example.org'), new Date(at + 1000)),
    trackingLine(event('SEND', 'app@contoso.test', 'alice@example.org'), new Date(at + 2000)),
  ].join(''));
  const base = await serve(t, dir);
  const all = (await (await fetch(`${base}/track?sender=APP@contoso.test`)).json()) as { entries: { 'event-id': string; 'date-time': string }[]; truncated: boolean };
  assert.deepEqual(all.entries.map((e) => e['event-id']), ['RECEIVE', 'SEND']);
  assert.equal(all.truncated, false);
  const sends = (await (await fetch(`${base}/track?sender=app@contoso.test&event=send`)).json()) as { entries: { 'event-id': string }[] };
  assert.deepEqual(sends.entries.map((e) => e['event-id']), ['SEND']);
  const since = (await (await fetch(`${base}/track?since=2026-12-06T10:00:01Z`)).json()) as { entries: { 'date-time': string }[] };
  assert.deepEqual(since.entries.map((e) => e['date-time']), ['2026-12-06T10:00:01.000Z', '2026-12-06T10:00:02.000Z']);
  const limited = (await (await fetch(`${base}/track?limit=1`)).json()) as { entries: unknown[]; truncated: boolean };
  assert.equal(limited.entries.length, 1);
  assert.equal(limited.truncated, true);
});

test('a bad argument is 400 with RELAY_ERR_TRACK_INVALID_ARGUMENT naming the parameter', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'track-api-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const base = await serve(t, dir);
  for (const [query, named] of [['since=2h', /since must be an RFC 3339 time/], ['event=BOUNCE', /event must be one of RECEIVE, SEND/], ['limit=ten', /limit must be a whole number/], ['from=x', /unknown parameter "from"/]] as const) {
    const res = await fetch(`${base}/track?${query}`);
    assert.equal(res.status, 400, query);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'RELAY_ERR_TRACK_INVALID_ARGUMENT', query);
    assert.match(body.error.message, named, query);
  }
  assert.equal((await fetch(`${base}/track`, { method: 'POST' })).status, 405);
});

test('a hub without a tracking folder answers 503; the query defaults to the CLI\'s 1000 entries', async (t) => {
  const base = await serve(t, undefined);
  assert.equal((await fetch(`${base}/track`)).status, 503);
  assert.deepEqual(trackQueryOf(new URLSearchParams('')), { limit: 1000 });
  assert.deepEqual(trackQueryOf(new URLSearchParams('event=SEND,defer&event=DSN&limit=0&messageId=<a@b>')), { limit: 0, events: ['SEND', 'DEFER', 'DSN'], messageId: '<a@b>' });
});

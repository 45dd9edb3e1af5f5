/*
 * The hub's HTTP endpoints over a real socket: what a kubelet probe and Prometheus read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createHubMetrics } from '../log/hub-metrics.ts';
import type { PendingConfig } from '../hub.ts';
import { serveHubHttp, type HubHttpSource } from './http-endpoints.ts';

async function serve(t: { after: (fn: () => void) => void }, hub: HubHttpSource): Promise<string> {
  const server = serveHubHttp(hub, { host: '127.0.0.1', port: 0 });
  t.after(() => server.close());
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('a ready hub: healthz and readyz ok, status with its hash, metrics in the Prometheus format, 404 elsewhere', async (t) => {
  const metrics = createHubMetrics();
  metrics.configInfo.set({ hash: 'abc123' }, 1);
  const base = await serve(t, { metrics, ready: { ready: true }, configHash: 'abc123', pendingConfig: null });
  const healthz = await fetch(`${base}/healthz`);
  assert.equal(healthz.status, 200);
  assert.equal(await healthz.text(), 'ok\n');
  const readyz = await fetch(`${base}/readyz`);
  assert.equal(readyz.status, 200);
  assert.deepEqual(await (await fetch(`${base}/status`)).json(), { configHash: 'abc123', ready: true, pendingConfig: null });
  const scraped = await fetch(`${base}/metrics`);
  assert.equal(scraped.status, 200);
  assert.match(scraped.headers.get('content-type') ?? '', /^text\/plain/);
  assert.match(await scraped.text(), /^relay_config_info\{hash="abc123"\} 1$/m);
  assert.equal((await fetch(`${base}/other`)).status, 404);
});

test('a hub that could not apply its config: readyz 503 with the reason, status names the pending config', async (t) => {
  const pending: PendingConfig = { hash: 'def456', reason: 'listenerBind', message: 'listener 127.0.0.1:25 could not open', since: '2026-01-01T00:00:00.000Z' };
  const reason = 'config def456 not applied, running abc123: listener 127.0.0.1:25 could not open';
  const base = await serve(t, { metrics: createHubMetrics(), ready: { ready: false, reason }, configHash: 'abc123', pendingConfig: pending });
  const readyz = await fetch(`${base}/readyz`);
  assert.equal(readyz.status, 503);
  assert.equal(await readyz.text(), `${reason}\n`);
  assert.equal((await fetch(`${base}/healthz`)).status, 200, 'alive while not ready');
  assert.deepEqual(await (await fetch(`${base}/status`)).json(), { configHash: 'abc123', ready: false, reason, pendingConfig: pending });
});

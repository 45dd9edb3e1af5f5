/*
 * Who may use the queue API: loopback always (kubectl exec / port-forward), other addresses
 * only with the hub's bearer token; and what a hub without a queue answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createHubMetrics } from '../log/hub-metrics.ts';
import { serveHubHttp } from './http-endpoints.ts';
import { queueApiRefusal } from './queue-api.ts';

test('loopback is served without a token; other addresses are refused unless the hub has a token and the request carries it', () => {
  const off = { token: null };
  const on = { token: 's3cret-token' };
  for (const address of ['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1']) assert.equal(queueApiRefusal(address, undefined, off), null, address);
  assert.equal(queueApiRefusal('10.1.2.3', undefined, off)?.status, 403, 'off the loopback the API is off by default');
  assert.match(queueApiRefusal('10.1.2.3', 'Bearer s3cret-token', off)?.message ?? '', /--queue-api-token-file/, 'a token the hub does not have opens nothing');
  assert.equal(queueApiRefusal('10.1.2.3', undefined, on)?.status, 401);
  assert.equal(queueApiRefusal('10.1.2.3', 'Bearer wrong', on)?.status, 401);
  assert.equal(queueApiRefusal('::ffff:10.1.2.3', 'Bearer s3cret-token', on), null);
  assert.equal(queueApiRefusal('127.0.0.1', 'Bearer wrong', on)?.status, 401, 'a wrong token is refused even on loopback: the caller meant to use one');
});

test('a hub without a queue (delivery on hold) answers 503 with the reason', async (t) => {
  const server = serveHubHttp({ metrics: createHubMetrics(), ready: { ready: true }, configHash: 'h', pendingConfig: null, queueAdmin: null }, { host: '127.0.0.1', port: 0 });
  t.after(() => server.close());
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const held = await fetch(`${base}/queue/queues`);
  assert.equal(held.status, 503);
  assert.match(((await held.json()) as { error: { message: string } }).error.message, /delivery is on hold/);
});

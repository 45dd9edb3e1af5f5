import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { HealthServer } from './health.ts';

void test('/healthz, /readyz after every informer synced, /metrics, 404', async (t) => {
  const registry = new Registry();
  new Counter({ name: 'relay_test_total', help: 'test', registers: [registry] }).inc();
  const server = new HealthServer({ port: 0, host: '127.0.0.1', registry });
  let synced = false;
  server.addInformer('relayhubs', { hasSynced: () => synced });
  server.addReadyCheck('always', () => true);
  const { port } = await server.listen();
  t.after(() => server.close());
  const get = async (path: string): Promise<[number, string]> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return [res.status, await res.text()];
  };
  assert.deepEqual(await get('/healthz'), [200, 'ok\n']);
  assert.deepEqual(await get('/readyz'), [503, 'not ready: informer relayhubs\n']);
  synced = true;
  assert.deepEqual(await get('/readyz'), [200, 'ok\n']);
  const [status, text] = await get('/metrics');
  assert.equal(status, 200);
  assert.match(text, /^relay_test_total 1$/m);
  assert.equal((await get('/nope'))[0], 404);
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`, { method: 'POST' })).status, 405);
});

void test('a check that throws counts as not ready', async (t) => {
  const server = new HealthServer({ port: 0, host: '127.0.0.1', registry: new Registry() });
  server.addReadyCheck('broken', () => {
    throw new Error('x');
  });
  const { port } = await server.listen();
  t.after(() => server.close());
  assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 503);
});

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MessageDeliveryState } from '../queue/queue-store.ts';
import { DeliveryStateStore } from './delivery-state.ts';

const ID = '0190000000000001aaaaaaaaaaaa';

async function store(t: TestContext): Promise<{ dir: string; store: DeliveryStateStore }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-dstate-'));
  const s = await DeliveryStateStore.open(dir);
  t.after(async () => {
    await s.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  return { dir, store: s };
}

const state = (id = ID): MessageDeliveryState => ({
  version: 1, id, attempts: 2, firstAttemptAt: '2025-01-01T00:00:00.000Z', lastAttemptAt: '2025-01-01T00:05:00.000Z',
  nextAttemptAt: '2025-01-01T00:15:00.000Z',
  recipients: [{ address: 'a@x.test', status: 'pending', attempts: 2, dsnStatus: '4.4.1', reply: '451 try later', remoteMta: 'mx.x.test' }],
});

void test('write then read gives the state back; files are atomic JSON, no temp left', async (t) => {
  const { store: s } = await store(t);
  assert.deepEqual(await s.read(ID), { ok: true, state: null });
  await s.write(state());
  assert.deepEqual(await s.read(ID), { ok: true, state: state() });
  await s.write({ ...state(), attempts: 3 });
  assert.equal((await s.read(ID)).ok && (await s.read(ID) as { state: MessageDeliveryState }).state.attempts, 3);
  assert.deepEqual(await fs.readdir(s.directory), [`${ID}.json`]);
  await s.remove(ID);
  await s.remove(ID);
  assert.deepEqual(await fs.readdir(s.directory), []);
});

void test('an invalid or foreign state reads as not ok with a reason', async (t) => {
  // the store owns its directory: files put there behind its back are seen at the next open
  const { dir, store: first } = await store(t);
  await fs.writeFile(path.join(first.directory, `${ID}.json`), '{"version":1');
  await first.close();
  const s = await DeliveryStateStore.open(dir);
  t.after(() => s.close());
  const torn = await s.read(ID);
  assert.equal(torn.ok, false);
  await fs.writeFile(path.join(s.directory, `${ID}.json`), JSON.stringify(state('0190000000000002bbbbbbbbbbbb')));
  assert.deepEqual(await s.read(ID), { ok: false, reason: 'belongs to 0190000000000002bbbbbbbbbbbb' });
  await assert.rejects(() => s.read('../etc/passwd'), { code: 'RELAY_ERR_QUEUE_INVALID_ARGUMENT' });
});

void test('delayNotified round-trips; a sidecar written before the field existed still loads; a wrong type does not', async (t) => {
  const { store: s } = await store(t);
  const told = { ...state(), recipients: [{ ...state().recipients[0] as MessageDeliveryState['recipients'][number], delayNotified: true }] };
  await s.write(told);
  assert.deepEqual(await s.read(ID), { ok: true, state: told });
  // an older relay's sidecar, byte for byte: no delayNotified anywhere
  const older = '{"version":1,"id":"' + ID + '","attempts":2,"firstAttemptAt":"2025-01-01T00:00:00.000Z","lastAttemptAt":"2025-01-01T00:05:00.000Z",'
    + '"nextAttemptAt":"2025-01-01T00:15:00.000Z","recipients":[{"address":"a@x.test","status":"pending","attempts":2,"dsnStatus":"4.4.1","reply":"451 try later"}]}\n';
  await fs.writeFile(path.join(s.directory, `${ID}.json`), older);
  const read = await s.read(ID);
  assert.ok(read.ok && read.state, 'older sidecar is valid');
  assert.equal(read.state.recipients[0]?.delayNotified, undefined);
  const wrong = JSON.stringify({ ...state(), recipients: [{ ...state().recipients[0], delayNotified: 'yes' }] });
  await fs.writeFile(path.join(s.directory, `${ID}.json`), wrong);
  assert.deepEqual(await s.read(ID), { ok: false, reason: 'recipients are malformed' });
});

void test('open deletes temp files of a crashed write; prune deletes orphans only', async (t) => {
  const { dir, store: s } = await store(t);
  await s.write(state());
  const other = '0190000000000003cccccccccccc';
  await s.write(state(other));
  await fs.writeFile(path.join(s.directory, `${ID}.json.1234.tmp`), 'half');
  await s.close();
  const reopened = await DeliveryStateStore.open(dir);
  t.after(() => reopened.close());
  assert.deepEqual((await fs.readdir(reopened.directory)).sort(), [`${ID}.json`, `${other}.json`]);
  assert.deepEqual(await reopened.prune(new Set([ID])), [other]);
  assert.deepEqual(await fs.readdir(reopened.directory), [`${ID}.json`]);
});

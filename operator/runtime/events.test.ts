import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { EventRecorder, truncateBytes, type EventSink } from './events.ts';
import type { EventsV1Event } from '@kubernetes/client-node';

interface Write { op: 'create' | 'patch'; namespace: string; name?: string; event?: EventsV1Event; count?: number; time?: string }

function recorder(options: { fail?: boolean } = {}) {
  let now = Date.parse('2026-11-28T10:00:00Z');
  const writes: Write[] = [];
  const sink: EventSink = {
    create(namespace, event) {
      writes.push({ op: 'create', namespace, name: event.metadata?.name, event });
      return options.fail ? Promise.reject(new Error('forbidden')) : Promise.resolve();
    },
    patchSeries(namespace, name, series) {
      writes.push({ op: 'patch', namespace, name, count: series.count, time: series.lastObservedTime.toISOString() });
      return Promise.resolve();
    },
  };
  const registry = new Registry();
  const rec = new EventRecorder({ sink, now: () => now, registry, reportingInstance: 'relay-operator-0', seriesUpdateMs: 120_000 });
  return { rec, writes, registry, advance: (ms: number) => (now += ms) };
}

const hub = { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: 'east', namespace: 'mail', uid: 'u-1' } };
const ready = { type: 'Normal' as const, reason: 'Reconciled', action: 'Reconcile', note: 'config 1a2b applied' };

void test('the first event is created with the events.k8s.io/v1 fields', async () => {
  const { rec, writes } = recorder();
  assert.equal(await rec.record(hub, ready), true);
  const e = writes[0]?.event;
  assert.equal(writes[0]?.namespace, 'mail');
  assert.equal(e?.apiVersion, 'events.k8s.io/v1');
  assert.match(e?.metadata?.name ?? '', /^east\.[0-9a-f]+$/);
  assert.equal(e?.reportingController, 'relay-operator');
  assert.equal(e?.reportingInstance, 'relay-operator-0');
  assert.deepEqual([e?.type, e?.reason, e?.action, e?.note], ['Normal', 'Reconciled', 'Reconcile', 'config 1a2b applied']);
  assert.deepEqual(e?.regarding, { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', name: 'east', namespace: 'mail', uid: 'u-1' });
  assert.equal(e?.eventTime.toISOString(), '2026-11-28T10:00:00.000000Z', 'MicroTime: six fractional digits');
});

void test('repeats within 10 minutes are not written; the series count at most once per seriesUpdateMs', async () => {
  const { rec, writes, registry, advance } = recorder();
  await rec.record(hub, ready);
  for (let i = 0; i < 50; i++) {
    advance(1000);
    await rec.record(hub, ready);
  }
  assert.deepEqual(writes.map((w) => w.op), ['create']);
  advance(70_000); // 120 s after the create
  assert.equal(await rec.record(hub, ready), true);
  assert.deepEqual(writes.map((w) => w.op), ['create', 'patch']);
  assert.equal(writes[1]?.count, 52);
  assert.equal(writes[1]?.name, writes[0]?.name);
  for (let i = 0; i < 10; i++) await rec.record(hub, ready);
  assert.equal(writes.length, 2);
  const metric = await registry.getSingleMetric('relay_operator_api_writes_total')?.get();
  assert.deepEqual(metric?.values.map((v) => [v.labels.verb, v.value]), [['create', 1], ['patch', 1]]);
});

void test('after the window the next repeat creates a new event', async () => {
  const { rec, writes, advance } = recorder();
  await rec.record(hub, ready);
  advance(600_000);
  await rec.record(hub, ready);
  assert.deepEqual(writes.map((w) => w.op), ['create', 'create']);
  assert.notEqual(writes[0]?.name, writes[1]?.name);
});

void test('a different note, reason or object is a different event', async () => {
  const { rec, writes } = recorder();
  await rec.record(hub, ready);
  await rec.record(hub, { ...ready, note: 'config 3c4d applied' });
  await rec.record(hub, { ...ready, type: 'Warning', reason: 'ApplyFailed' });
  await rec.record({ ...hub, metadata: { ...hub.metadata, name: 'west', uid: 'u-2' } }, ready);
  await rec.record(hub, ready);
  assert.equal(writes.length, 4);
});

void test('cluster-scoped objects get their events in default; failures never reject and are retried', async () => {
  const { rec, writes } = recorder({ fail: true });
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', uid: 'n' } };
  assert.equal(await rec.record(node, ready), false);
  assert.equal(await rec.record(node, ready), false);
  assert.equal(writes.length, 2, 'a failed create is not counted as emitted');
  assert.equal(writes[0]?.namespace, 'default');
});

void test('notes are cut to 1024 UTF-8 bytes without splitting a character', async () => {
  const { rec, writes } = recorder();
  await rec.record(hub, { ...ready, note: 'n'.repeat(5000) });
  assert.equal(writes[0]?.event?.note?.length, 1024);
  assert.equal(truncateBytes('é'.repeat(600), 1023), 'é'.repeat(511));
  assert.equal(truncateBytes('short', 1024), 'short');
});

/*
 * Events against a real API server: the recorder's events.k8s.io/v1 Events are accepted
 * (MicroTime, reporting fields, regarding), repeats are aggregated into one Event whose series
 * count is updated, and a different note makes a new Event.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig} from '@kubernetes/client-node';
import { EventsV1Api, type EventsV1Event } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { useTestNamespaces, type TestCluster } from '../support/cluster.ts';
import { EventRecorder } from '../../operator/runtime/events.ts';
import type { KubeObject } from '../../operator/runtime/objects.ts';

let cluster: TestCluster;
let kc: KubeConfig;
const ns = `rt-events-${randomBytes(3).toString('hex')}`;

useTestNamespaces([ns], { crds: true, ready: (c, k) => void ([cluster, kc] = [c, k]) });

async function eventsAbout(name: string): Promise<EventsV1Event[]> {
  const list = await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: ns });
  return list.items.filter((e) => e.regarding?.name === name);
}

void test('repeats are one Event with a series count; a different note is a new Event', async () => {
  cluster.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: 'east', namespace: ns }, spec: {} }));
  const hub = JSON.parse(cluster.kubectl(['-n', ns, 'get', 'relayhub', 'east', '-o', 'json'])) as KubeObject;
  const registry = new Registry();
  const recorder = new EventRecorder({ kubeConfig: kc, registry, reportingInstance: 'relay-operator-test', seriesUpdateMs: 300 });
  const warning = { type: 'Warning' as const, reason: 'ApplyFailed', action: 'ApplyConfig', note: 'ConfigMap east-config: admission webhook denied' };

  assert.equal(await recorder.record(hub, warning), true);
  for (let i = 0; i < 20; i++) assert.equal(await recorder.record(hub, warning), false);
  let events = await eventsAbout('east');
  assert.equal(events.length, 1, 'twenty-one records, one Event');
  const e = events[0];
  assert.equal(e?.reportingController, 'relay-operator');
  assert.equal(e?.reportingInstance, 'relay-operator-test');
  assert.deepEqual([e?.type, e?.reason, e?.action, e?.note], ['Warning', 'ApplyFailed', 'ApplyConfig', warning.note]);
  assert.deepEqual([e?.regarding?.kind, e?.regarding?.namespace, e?.regarding?.uid], ['RelayHub', ns, hub.metadata?.uid]);
  assert.match(String(e?.eventTime), /\.\d{6}Z$/);

  await sleep(350);
  assert.equal(await recorder.record(hub, warning), true, 'series update due');
  events = await eventsAbout('east');
  assert.equal(events.length, 1);
  assert.equal(events[0]?.series?.count, 22);

  await recorder.record(hub, { ...warning, note: 'ConfigMap east-config: quota exceeded' });
  await recorder.record(hub, { type: 'Normal', reason: 'Reconciled', action: 'Reconcile', note: 'config abc applied' });
  assert.equal((await eventsAbout('east')).length, 3);
  const writes = (await registry.getSingleMetric('relay_operator_api_writes_total')?.get())?.values.map((v) => [v.labels.verb, v.labels.resource, v.value]);
  assert.deepEqual(writes, [['create', 'events', 3], ['patch', 'events', 1]]);
});

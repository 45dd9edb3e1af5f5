/*
 * Server-side apply against a real API server: one field manager, force, idempotent
 * (applyIfChanged against the informer cache sends nothing the second time), removal of fields
 * we stop sending, conflicts taken back, and status applies to a custom resource's status
 * subresource under the same manager without disturbing the main-resource entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { useTestNamespaces, type TestCluster } from '../support/cluster.ts';
import { Applier, FIELD_MANAGER } from '../../operator/runtime/apply.ts';
import { Informer, resourcePath } from '../../operator/runtime/informer.ts';
import { ConditionReason, ConditionType, setCondition, type Condition } from '../../operator/runtime/conditions.ts';
import type { KubeObject } from '../../operator/runtime/objects.ts';

interface ConfigMap extends KubeObject { data?: Record<string, string> }
interface Hub extends KubeObject { spec?: Record<string, unknown>; status?: { observedGeneration?: number; configHash?: string; conditions?: Condition[] } }

let cluster: TestCluster;
let kc: KubeConfig;
let registry: Registry;
let applier: Applier;
const ns = `rt-apply-${randomBytes(3).toString('hex')}`;

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function writes(resource: string): Promise<number> {
  const metric = await registry.getSingleMetric('relay_operator_api_writes_total')?.get();
  return metric?.values.filter((v) => v.labels.resource === resource).reduce((a, v) => a + v.value, 0) ?? 0;
}

useTestNamespaces([ns], {
  crds: true,
  ready: (c, k) => {
    [cluster, kc] = [c, k];
    registry = new Registry();
    applier = new Applier({ kubeConfig: kc, registry });
  },
});

const cm = (data: Record<string, string>, labels: Record<string, string> = { app: 'relay' }): ConfigMap =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'rendered', namespace: ns, labels }, data });

void test('apply creates with our field manager; applyIfChanged on the cached copy sends nothing', async (t) => {
  const informer = new Informer<ConfigMap>({ kubeConfig: kc, path: resourcePath({ group: '', version: 'v1', plural: 'configmaps', namespace: ns }) });
  t.after(() => informer.stop());
  await informer.start();

  const first = await applier.applyIfChanged(cm({ 'relay.json': '{"v":1}' }), informer.get(ns, 'rendered'));
  assert.equal(first.applied, true);
  assert.equal(await writes('configmaps'), 1);
  await until('cache', () => informer.get(ns, 'rendered') !== undefined);
  const cached = informer.get(ns, 'rendered');
  const entry = cached?.metadata?.managedFields?.find((e) => e.manager === FIELD_MANAGER);
  assert.equal(entry?.operation, 'Apply');

  for (let i = 0; i < 5; i++) {
    const again = await applier.applyIfChanged(cm({ 'relay.json': '{"v":1}' }), informer.get(ns, 'rendered'));
    assert.equal(again.applied, false);
  }
  assert.equal(await writes('configmaps'), 1, 'zero writes for five identical applies');

  // Even when sent, an identical apply changes nothing on the server.
  const rv = cached?.metadata?.resourceVersion;
  const sent = await applier.apply(cm({ 'relay.json': '{"v":1}' }));
  assert.equal(sent.metadata?.resourceVersion, rv, 'a no-op apply does not bump the resourceVersion');

  const changed = await applier.applyIfChanged(cm({ 'relay.json': '{"v":2}' }), informer.get(ns, 'rendered'));
  assert.equal(changed.applied, true);
  await until('update in cache', () => informer.get(ns, 'rendered')?.data?.['relay.json'] === '{"v":2}');
  assert.equal((await applier.applyIfChanged(cm({ 'relay.json': '{"v":2}' }), informer.get(ns, 'rendered'))).applied, false);
});

void test('fields we stop sending are removed; fields of other managers stay; force takes conflicts back', async () => {
  await applier.apply(cm({ a: '1', b: '2' }, { app: 'relay', tier: 'x' }));
  cluster.kubectl(['-n', ns, 'label', 'configmap', 'rendered', 'owner=kubectl']);
  await applier.apply(cm({ a: '1' }, { app: 'relay' }));
  const after = JSON.parse(cluster.kubectl(['-n', ns, 'get', 'configmap', 'rendered', '-o', 'json'])) as ConfigMap;
  assert.deepEqual(after.data, { a: '1' });
  assert.deepEqual(after.metadata?.labels, { app: 'relay', owner: 'kubectl' });

  const other = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'rendered', namespace: ns }, data: { a: 'theirs' } });
  cluster.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=intruder', '-f', '-'], other);
  await applier.apply(cm({ a: '1' }, { app: 'relay' }));
  const back = JSON.parse(cluster.kubectl(['-n', ns, 'get', 'configmap', 'rendered', '-o', 'json'])) as ConfigMap;
  assert.equal(back.data?.a, '1');
});

void test('status apply on a custom resource: same manager, separate entry, idempotent, spec untouched', async (t) => {
  cluster.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: 'east', namespace: ns }, spec: { replicas: 1 } }));
  const informer = new Informer<Hub>({ kubeConfig: kc, path: resourcePath({ group: 'relayoperator.io', version: 'v1alpha1', plural: 'relayhubs', namespace: ns }) });
  t.after(() => informer.stop());
  await informer.start();
  const cached = (): Hub | undefined => informer.get(ns, 'east');
  const generation = cached()?.metadata?.generation ?? 0;
  const status = (conditions: Condition[] | undefined): Hub => ({
    apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: 'east', namespace: ns },
    status: { observedGeneration: generation, configHash: 'abc', conditions },
  });
  const ready = setCondition(cached()?.status?.conditions, { type: ConditionType.Ready, status: 'True', reason: ConditionReason.Reconciled, message: 'all pods current' }, generation);
  const withDegraded = setCondition(ready, { type: ConditionType.Degraded, status: 'False', reason: ConditionReason.AsExpected, message: '' }, generation);

  assert.equal((await applier.applyStatusIfChanged(status(withDegraded), cached())).applied, true);
  assert.equal(await writes('relayhubs/status'), 1);
  await until('status in cache', () => cached()?.status?.configHash === 'abc');
  assert.equal((await applier.applyStatusIfChanged(status(setCondition(cached()?.status?.conditions, { type: 'Ready', status: 'True', reason: 'Reconciled', message: 'all pods current' }, generation)), cached())).applied, false);
  assert.equal(await writes('relayhubs/status'), 1, 'recomputed identical status: zero writes');

  // A main-resource apply by the same manager does not release our status fields.
  await applier.apply({ apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: 'east', namespace: ns, labels: { managed: 'yes' } } });
  await until('label in cache', () => cached()?.metadata?.labels?.managed === 'yes');
  const entries = cached()?.metadata?.managedFields?.filter((e) => e.manager === FIELD_MANAGER).map((e) => e.subresource ?? '').sort();
  assert.deepEqual(entries, ['', 'status']);
  assert.equal(cached()?.status?.configHash, 'abc');
  assert.equal(cached()?.spec?.replicas, 1, 'spec untouched');
  assert.equal((await applier.applyStatusIfChanged(status(withDegraded), cached())).applied, false);

  // Dropping a condition we own removes it on the server.
  await applier.applyStatusIfChanged(status(ready), cached());
  await until('Degraded removed', () => cached()?.status?.conditions?.length === 1);
  assert.equal(cached()?.status?.conditions?.[0]?.type, 'Ready');
});

void test('delete counts a write and reports whether the object existed', async () => {
  const before = await writes('configmaps');
  assert.equal(await applier.delete(cm({})), true);
  assert.equal(await applier.delete(cm({})), false);
  assert.equal(await writes('configmaps'), before + 2);
});

void test('objects without apiVersion, kind or name are refused before any request', async () => {
  await assert.rejects(applier.apply({ kind: 'ConfigMap', metadata: { name: 'x' } }), { code: 'RELAY_ERR_RUNTIME_INVALID_ARGUMENT' });
});

/*
 * The informer against a real API server: ConfigMaps in one namespace and RelayHubs across all
 * namespaces (label-selected) are listed, watched (create/update/delete), resumed from their
 * resourceVersion after a cut watch, relisted after a real 410 Gone (with deletes for objects
 * that vanished meanwhile), resynced, rescued by the watchdog, and retried with backoff.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { useTestNamespaces, type TestCluster } from '../support/cluster.ts';
import { Informer, resourcePath } from '../../operator/runtime/informer.ts';
import { objectKey, type KubeObject } from '../../operator/runtime/objects.ts';
import type { ReflectorMessage } from '../../operator/runtime/diagnostics.ts';
import type { TestContext } from 'node:test';

interface ConfigMap extends KubeObject { data?: Record<string, string> }

let cluster: TestCluster;
let kc: KubeConfig;
const ns = `rt-informer-${randomBytes(3).toString('hex')}`;
const ns2 = `${ns}-b`;

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function reflectorEvents(t: TestContext, path: string): ReflectorMessage[] {
  const seen: ReflectorMessage[] = [];
  const listener = (m: unknown): void => {
    if ((m as ReflectorMessage).path === path) seen.push(m as ReflectorMessage);
  };
  diagnostics_channel.subscribe('relay:runtime:reflector', listener);
  t.after(() => diagnostics_channel.unsubscribe('relay:runtime:reflector', listener));
  return seen;
}

function hub(name: string, namespace: string, labelled = true): string {
  return JSON.stringify({
    apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub',
    metadata: { name, namespace, labels: labelled ? { 'rt-test': ns } : {} }, spec: { replicas: 1 },
  });
}

useTestNamespaces([ns, ns2], { crds: true, ready: (c, k) => void ([cluster, kc] = [c, k]) });

void test('ConfigMaps: the first list syncs, then create, update and delete arrive; get/list read the cache', async (t) => {
  cluster.kubectl(['-n', ns, 'create', 'configmap', 'pre', '--from-literal=k=v0']);
  const informer = new Informer<ConfigMap>({ kubeConfig: kc, path: resourcePath({ group: '', version: 'v1', plural: 'configmaps', namespace: ns }) });
  t.after(() => informer.stop());
  const seen: ConfigMap[] = [];
  informer.onChange((o) => seen.push(o));
  assert.equal(informer.hasSynced(), false);
  await informer.start();
  assert.equal(informer.hasSynced(), true);
  assert.equal(informer.get(ns, 'pre')?.data?.k, 'v0');
  assert.equal(informer.get(ns, 'pre')?.kind, 'ConfigMap', 'list items get their kind');
  assert.ok(seen.some((o) => o.metadata?.name === 'pre'), 'initial objects are delivered');

  cluster.kubectl(['-n', ns, 'create', 'configmap', 'a', '--from-literal=k=v1']);
  await until('create', () => informer.get(ns, 'a') !== undefined);
  cluster.kubectl(['-n', ns, 'patch', 'configmap', 'a', '--type=merge', '-p', '{"data":{"k":"v2"}}']);
  await until('update', () => informer.get(ns, 'a')?.data?.k === 'v2');
  const listed = informer.list(ns).map(objectKey);
  assert.ok(listed.includes(`${ns}/a`) && listed.includes(`${ns}/pre`), listed.join(','));
  assert.equal(informer.list('elsewhere').length, 0);
  cluster.kubectl(['-n', ns, 'delete', 'configmap', 'a']);
  await until('delete', () => informer.get(ns, 'a') === undefined);
  const last = seen.at(-1);
  assert.equal(last?.metadata?.name, 'a', 'the handler got the deleted object');
  assert.equal(last?.data?.k, 'v2', '... in its last known state');
  assert.throws(() => {
    (informer.get(ns, 'pre')?.data as Record<string, string>).k = 'mutated';
  }, TypeError, 'cached objects are frozen');
});

void test('a cut watch resumes from its resourceVersion: no relist, nothing missed', async (t) => {
  const path = resourcePath({ group: '', version: 'v1', plural: 'configmaps', namespace: ns });
  const events = reflectorEvents(t, path);
  const informer = new Informer<ConfigMap>({ kubeConfig: kc, path, backoff: { initialMs: 100 } });
  t.after(() => informer.stop());
  await informer.start();
  const listedBefore = events.filter((e) => e.event === 'listed').length;
  await until('first watch', () => events.some((e) => e.event === 'watchStarted'));
  informer.interruptWatch();
  cluster.kubectl(['-n', ns, 'create', 'configmap', 'during-cut']);
  await until('object created across the cut', () => informer.get(ns, 'during-cut') !== undefined);

  informer.stop();
  cluster.kubectl(['-n', ns, 'create', 'configmap', 'while-stopped']);
  cluster.kubectl(['-n', ns, 'delete', 'configmap', 'during-cut']);
  await sleep(200);
  assert.ok(informer.get(ns, 'during-cut'), 'stopped: the cache is kept, not updated');
  void informer.start();
  await until('changes made while stopped', () => informer.get(ns, 'while-stopped') !== undefined && informer.get(ns, 'during-cut') === undefined);
  assert.equal(events.filter((e) => e.event === 'listed').length, listedBefore, 'resumed from the RV, never relisted');
  assert.ok(events.filter((e) => e.event === 'watchStarted').length >= 3);
});

void test('410 Gone: an expired RV relists and emits deletes for vanished objects (CRs, all namespaces, label selector)', async (t) => {
  for (const [name, namespace, labelled] of [['h1', ns, true], ['h2', ns, true], ['h3', ns2, true], ['other', ns2, false]] as const) {
    cluster.kubectl(['apply', '-f', '-'], hub(name, namespace, labelled));
  }
  const path = resourcePath({ group: 'relayoperator.io', version: 'v1alpha1', plural: 'relayhubs' });
  const events = reflectorEvents(t, path);
  const informer = new Informer<KubeObject>({ kubeConfig: kc, path, labelSelector: `rt-test=${ns}` });
  t.after(() => informer.stop());
  const deleted: string[] = [];
  informer.onChange((o) => {
    if (!informer.getByKey(objectKey(o))) deleted.push(objectKey(o));
  });
  await informer.start();
  assert.deepEqual(informer.keys().sort(), [`${ns}/h1`, `${ns}/h2`, `${ns2}/h3`].sort());

  informer.stop();
  cluster.kubectl(['-n', ns, 'delete', 'relayhub', 'h2']);
  cluster.kubectl(['apply', '-f', '-'], hub('h4', ns2));
  informer.interruptWatch('1'); // older than the watch cache of this CRD: the server answers 410 Expired
  void informer.start();
  await until('relist after 410', () => informer.get(ns2, 'h4') !== undefined && informer.get(ns, 'h2') === undefined);
  assert.deepEqual(deleted, [`${ns}/h2`], 'the vanished object was delivered as deleted, once');
  const kinds = events.map((e) => e.event);
  assert.ok(kinds.indexOf('gone') > 0 && kinds.lastIndexOf('listed') > kinds.indexOf('gone'), kinds.join(','));
  assert.deepEqual(informer.keys().sort(), [`${ns}/h1`, `${ns2}/h3`, `${ns2}/h4`].sort());
});

void test('resync re-delivers every cached object without any change', async (t) => {
  const informer = new Informer<ConfigMap>({ kubeConfig: kc, path: resourcePath({ group: '', version: 'v1', plural: 'configmaps', namespace: ns }), resyncMs: 300 });
  t.after(() => informer.stop());
  const counts = new Map<string, number>();
  informer.onChange((o) => counts.set(objectKey(o), (counts.get(objectKey(o)) ?? 0) + 1));
  await informer.start();
  await sleep(1000);
  const pre = counts.get(`${ns}/pre`) ?? 0;
  assert.ok(pre >= 3, `pre delivered ${pre} times in 1 s with resync 300 ms`);
});

void test('the watchdog ends a watch that delivers nothing and the informer carries on', async (t) => {
  const quiet = `${ns}-quiet`;
  cluster.kubectl(['create', 'namespace', quiet]);
  t.after(() => cluster.tryKubectl(['delete', 'namespace', quiet, '--wait=false']));
  const path = resourcePath({ group: '', version: 'v1', plural: 'secrets', namespace: quiet });
  const events = reflectorEvents(t, path);
  const informer = new Informer<KubeObject>({ kubeConfig: kc, path, watchdogMs: 1200 });
  t.after(() => informer.stop());
  await informer.start();
  await until('watchdog', () => events.some((e) => e.event === 'stalled'), 5000);
  cluster.kubectl(['-n', quiet, 'create', 'secret', 'generic', 'after-stall', '--from-literal=a=b']);
  await until('event after the stall', () => informer.get(quiet, 'after-stall') !== undefined);
  assert.equal(events.filter((e) => e.event === 'listed').length, 1, 'a stall resumes from the RV');
});

void test('an unknown resource is retried with growing backoff; stop() rejects the pending start()', async (t) => {
  const path = resourcePath({ group: 'relayoperator.io', version: 'v1alpha1', plural: 'nosuchthings', namespace: ns });
  const events = reflectorEvents(t, path);
  const informer = new Informer<KubeObject>({ kubeConfig: kc, path, backoff: { initialMs: 50, maxMs: 200 } });
  const started = informer.start();
  await until('four list errors', () => events.filter((e) => e.event === 'listError').length >= 4);
  informer.stop();
  await assert.rejects(started, { code: 'RELAY_ERR_RUNTIME_STOPPED' });
  const delays = events.filter((e) => e.event === 'listError').map((e) => e.retryInMs);
  assert.deepEqual(delays.slice(0, 4), [50, 100, 200, 200]);
  assert.match(String((events[0]?.error as Error).message), /HTTP 404/);
});

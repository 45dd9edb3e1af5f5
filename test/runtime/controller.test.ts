/*
 * The pieces together on a real API server, the way a controller of the operator wires them:
 * informers (the owner kind and the owned kind mapped back through its controller
 * ownerReference) -> workqueue -> Controller -> applyIfChanged. Checks level-triggered
 * convergence, GC of owned objects, /readyz after sync, and that a resync reconciles every
 * object again while sending ZERO writes when nothing changed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { useTestNamespaces, type TestCluster } from '../support/cluster.ts';
import { Informer, resourcePath } from '../../operator/runtime/informer.ts';
import { WorkQueue } from '../../operator/runtime/workqueue.ts';
import { Controller } from '../../operator/runtime/controller.ts';
import { Applier } from '../../operator/runtime/apply.ts';
import { HealthServer } from '../../operator/runtime/health.ts';
import { controllerOwnerKey, objectKey, splitKey, type KubeObject } from '../../operator/runtime/objects.ts';

interface ConfigMap extends KubeObject { data?: Record<string, string> }

let cluster: TestCluster;
let kc: KubeConfig;
const ns = `rt-controller-${randomBytes(3).toString('hex')}`;

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

useTestNamespaces([ns], { ready: (c, k) => void ([cluster, kc] = [c, k]) });

void test('source ConfigMaps are mirrored; a resync with nothing changed writes nothing', async (t) => {
  const registry = new Registry();
  const path = resourcePath({ group: '', version: 'v1', plural: 'configmaps', namespace: ns });
  const sources = new Informer<ConfigMap>({ kubeConfig: kc, path, labelSelector: 'role=source' });
  const mirrors = new Informer<ConfigMap>({ kubeConfig: kc, path, labelSelector: 'role=mirror' });
  const queue = new WorkQueue({ name: 'mirror', registry });
  const applier = new Applier({ kubeConfig: kc, registry });
  let reconciles = 0;
  const controller = new Controller({
    name: 'mirror', queue, registry, maxConcurrentReconciles: 2,
    reconcile: async (key) => {
      reconciles++;
      const { namespace, name } = splitKey(key);
      const source = sources.get(namespace, name);
      if (!source) return; // deleted: the mirror goes with it (ownerReference + GC)
      const desired: ConfigMap = {
        apiVersion: 'v1', kind: 'ConfigMap',
        metadata: {
          name: `${name}-mirror`, namespace, labels: { role: 'mirror' },
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name, uid: source.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
        },
        data: { ...source.data },
      };
      await applier.applyIfChanged(desired, mirrors.get(namespace, `${name}-mirror`));
    },
  });
  sources.onChange((o) => queue.add(objectKey(o)));
  mirrors.onChange((o) => {
    const owner = controllerOwnerKey(o, { group: '', kind: 'ConfigMap' });
    if (owner) queue.add(owner);
  });
  const health = new HealthServer({ port: 0, host: '127.0.0.1', registry });
  health.addInformer('sources', sources);
  health.addInformer('mirrors', mirrors);
  const { port } = await health.listen();
  t.after(async () => {
    await controller.stop();
    sources.stop();
    mirrors.stop();
    await health.close();
  });
  const readyz = async (): Promise<number> => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
  const writes = async (): Promise<number> =>
    (await registry.getSingleMetric('relay_operator_api_writes_total')?.get())?.values.reduce((a, v) => a + v.value, 0) ?? 0;

  for (const n of ['one', 'two', 'three']) cluster.kubectl(['-n', ns, 'create', 'configmap', n, `--from-literal=name=${n}`]);
  cluster.kubectl(['-n', ns, 'label', 'configmap', 'one', 'two', 'three', 'role=source']);
  assert.equal(await readyz(), 503);
  await Promise.all([sources.start(), mirrors.start()]);
  assert.equal(await readyz(), 200);
  controller.start();

  await until('three mirrors', () => ['one', 'two', 'three'].every((n) => mirrors.get(ns, `${n}-mirror`)?.data?.name === n));
  await until('queue idle', () => queue.len() === 0 && controller.activeWorkers === 0);
  const afterCreate = await writes();
  assert.ok(afterCreate >= 3, `writes ${afterCreate}`);

  // Nothing changed: a resync of both informers reconciles every key again and writes nothing.
  const before = reconciles;
  sources.resync();
  mirrors.resync();
  await until('resync reconciled', () => reconciles >= before + 3);
  await until('queue idle', () => queue.len() === 0 && controller.activeWorkers === 0);
  assert.equal(await writes(), afterCreate, 'a no-op resync sends zero writes');

  // Level-triggered: a change to the source, or a hand edit of the mirror, converges.
  cluster.kubectl(['-n', ns, 'patch', 'configmap', 'two', '--type=merge', '-p', '{"data":{"name":"TWO"}}']);
  await until('mirror follows the source', () => mirrors.get(ns, 'two-mirror')?.data?.name === 'TWO');
  cluster.kubectl(['-n', ns, 'patch', 'configmap', 'three-mirror', '--type=merge', '-p', '{"data":{"name":"tampered"}}']);
  await until('tampering undone', () => mirrors.get(ns, 'three-mirror')?.data?.name === 'three');

  // Deleting a source: garbage collection removes its mirror; the controller has nothing to do.
  cluster.kubectl(['-n', ns, 'delete', 'configmap', 'one']);
  await until('mirror collected', () => mirrors.get(ns, 'one-mirror') === undefined, 30_000);

  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /^controller_runtime_reconcile_total\{controller="mirror",result="success"\} \d+$/m);
  assert.match(metrics, /^controller_runtime_reconcile_errors_total\{controller="mirror"\} 0$/m);
  assert.match(metrics, /^workqueue_adds_total\{name="mirror",controller="mirror"\} \d+$/m);
  assert.match(metrics, /^relay_operator_api_writes_total\{verb="apply",resource="configmaps"\} \d+$/m);
});

/*
 * test/operator/stranded-mail - issue 12 item 3, the operator half, on the real API server with
 * the StatefulSet controller (kube-controller-manager) and the operator as a process.
 *
 * A hub with 2 replicas: the StatefulSet controller makes pods and spool PVCs
 * spool-<hub>-relay-0 and -1, and the operator makes the hub's hand-off token Secret (once:
 * a value put there by a person is never overwritten). Scaled to 1, the StatefulSet keeps the
 * PVC of ordinal 1: the RelayHub gets StrandedMail=True naming it, and a Warning event.
 * Scaled up to 2 again, the pod comes back on that PVC: StrandedMail=False.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { TestCluster } from '../support/cluster.ts';
import { applyObjects, kubeClient, useOperatorNamespace, until } from '../support/operator-process.ts';

const ns = `op-stranded-${randomBytes(3).toString('hex')}`;
const HUB = 'hub-s';
interface Condition { type: string; status: string; reason: string; message: string }
interface HubView { status?: { conditions?: Condition[] } }
interface EventView { reason?: string; type?: string; note?: string; regarding?: { name?: string; kind?: string } }
interface SecretView { data?: Record<string, string> }
interface StatefulSetView { spec: { template: { spec: { containers: Array<{ args: string[] }>; volumes: Array<{ name: string; secret?: { secretName: string } }> } } } }

let cluster: TestCluster;
useOperatorNamespace(ns, { ready: (c) => void (cluster = c) });

const hub = (replicas: number): object => ({
  apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB, namespace: ns },
  spec: { replicas, addresses: [{ name: 'relay', ip: '192.168.7.27' }] },
});

test('a scale-down that leaves a spool PVC gives StrandedMail and a Warning event; scaling up again clears it', { timeout: 120_000 }, async () => {
  const kube = kubeClient(cluster);
  const stranded = async (): Promise<Condition | undefined> => (await kube.tryGet<HubView>(ns, 'relayhub', HUB))?.status?.conditions?.find((c) => c.type === 'StrandedMail');

  applyObjects(cluster, [hub(2)]);
  for (const ordinal of [0, 1]) await until(`PVC spool-${HUB}-relay-${ordinal} (StatefulSet controller)`, () => kube.tryGet(ns, 'persistentvolumeclaim', `spool-${HUB}-relay-${ordinal}`), 30_000);
  const first = await until('StrandedMail=False with 2 replicas', async () => ((await stranded())?.status === 'False' ? await stranded() : undefined), 30_000);
  assert.equal(first?.reason, 'NoOrphanedSpool');

  // the hand-off token: created by the operator, mounted by the pods, never overwritten
  const secret = await until('token Secret', () => kube.tryGet<SecretView>(ns, 'secret', `${HUB}-relay-queue-token`), 20_000);
  const token = Buffer.from(secret.data?.token ?? '', 'base64').toString();
  assert.ok(token.length >= 32, 'a random token');
  const sts = await kube.get<StatefulSetView>(ns, 'statefulset', `${HUB}-relay`);
  assert.ok(sts.spec.template.spec.volumes.some((v) => v.secret?.secretName === `${HUB}-relay-queue-token`), 'the pods mount it');
  assert.ok(sts.spec.template.spec.containers[0]?.args.includes('--hand-off-token-file'));
  await kube.mergePatch(ns, 'secret', `${HUB}-relay-queue-token`, { stringData: { token: 'rotated-by-a-person' } });

  applyObjects(cluster, [hub(1)]);
  const condition = await until('StrandedMail=True after the scale-down', async () => ((await stranded())?.status === 'True' ? await stranded() : undefined), 30_000);
  assert.equal(condition?.reason, 'OrphanedSpoolVolumes');
  assert.match(condition?.message ?? '', new RegExp(`spool-${HUB}-relay-1`));
  assert.doesNotMatch(condition?.message ?? '', new RegExp(`spool-${HUB}-relay-0`));
  assert.match(condition?.message ?? '', /relay-operator drain --hub hub-s/);
  const event = await until('a Warning event naming the PVC', async () => {
    const res = await kube.request('GET', `/apis/events.k8s.io/v1/namespaces/${ns}/events`);
    return (JSON.parse(res.body) as { items: EventView[] }).items.find((e) => e.reason === 'OrphanedSpoolVolumes' && e.regarding?.name === HUB);
  }, 20_000);
  assert.equal(event.type, 'Warning');
  assert.match(event.note ?? '', new RegExp(`spool-${HUB}-relay-1`));

  applyObjects(cluster, [hub(2)]);
  const cleared = await until('StrandedMail=False after scaling up again', async () => ((await stranded())?.status === 'False' ? await stranded() : undefined), 30_000);
  assert.equal(cleared?.reason, 'NoOrphanedSpool');
  const after = await kube.get<SecretView>(ns, 'secret', `${HUB}-relay-queue-token`);
  assert.equal(Buffer.from(after.data?.token ?? '', 'base64').toString(), 'rotated-by-a-person', 'the operator never overwrites the token');
});

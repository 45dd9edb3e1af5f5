/*
 * test/operator/apiserver-restart - the API server crashes (SIGKILL) and comes back on the same
 * port and etcd under a running operator. The operator must not need a person: it stays up and
 * leading (its renew deadline outlasts the outage), its informers re-list and re-watch, and it
 * reconciles a change a user makes after the restart and re-creates an owned object deleted
 * after it. Nothing it rendered before is lost or re-created.
 *
 * This file starts its own control plane (restarting the shared one would break every other
 * file of the run); without kube-controller-manager, which nothing here needs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlane, type ControlPlane } from '../controlplane/controlplane.ts';
import { clusterOfControlPlane, type TestCluster } from '../support/cluster.ts';
import { applyObjects, kubeClient, startOperator, until, type KubeClient, type OperatorProcess } from '../support/operator-process.ts';

const ns = 'op-apiserver-restart';
const GROUP = 'relayoperator.io/v1alpha1';
const HUB = 'hub-restart';
/** Seconds: lease, renew deadline, retry. The renew deadline outlasts an API server restart. */
const LEASE: [number, number, number] = [45, 40, 1];

let plane: ControlPlane;
let cluster: TestCluster;
let operator: OperatorProcess | undefined;

const kube = (): KubeClient => kubeClient(cluster);
interface Meta { metadata: { uid: string } }
const configRanges = async (): Promise<string[]> => {
  const cm = await kube().get<{ data?: Record<string, string> }>(ns, 'configmap', `${HUB}-relay-config`);
  const config = JSON.parse(cm.data?.['config.json'] ?? '{}') as { connectors?: Array<{ remoteIPRanges: string[] }> };
  return config.connectors?.[0]?.remoteIPRanges ?? [];
};
const uid = async (kind: string, name: string): Promise<string | undefined> => (await kube().tryGet<Meta>(ns, kind, name))?.metadata.uid;

before(async () => {
  plane = await startControlPlane();
  cluster = clusterOfControlPlane(plane);
  cluster.kubectl(['apply', '--server-side', '-f', 'crds/']);
  cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', 'crds/']);
  cluster.kubectl(['create', 'namespace', ns]);
  applyObjects(cluster, [
    { apiVersion: GROUP, kind: 'RelayHub', metadata: { name: HUB, namespace: ns }, spec: { replicas: 1, addresses: [{ name: 'relay', ip: '192.168.7.18' }] } },
    {
      apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name: 'apps', namespace: ns },
      spec: { hubs: [HUB], usage: 'Custom', bindings: ['relay:25'], remoteIPRanges: ['10.1.0.0/16'], permissionGroups: ['AnonymousUsers'] },
    },
  ]);
});

after(async () => {
  await operator?.kill();
  await plane?.stop();
});

describe('API server restarted under a running operator', { timeout: 150_000 }, () => {
  const original: Record<string, string | undefined> = {};

  test('the operator renders the hub before the restart', async () => {
    operator = await startOperator({ cluster, namespace: ns, identity: 'op-restart', lease: LEASE, waitFor: 'leader' });
    await until('the ConfigMap with the first range', async () => (await configRanges()).includes('10.1.0.0/16'), 30_000);
    await until('the Service and the StatefulSet', async () => Boolean(await uid('service', `${HUB}-relay`)) && Boolean(await uid('statefulset', `${HUB}-relay`)), 30_000);
    for (const [kind, name] of [['configmap', `${HUB}-relay-config`], ['service', `${HUB}-relay`], ['statefulset', `${HUB}-relay`]] as const) original[kind] = await uid(kind, name);
  });

  test('after a SIGKILL and restart of kube-apiserver, a change and a deletion are reconciled without a person', async () => {
    assert.ok(operator);
    const started = Date.now();
    await plane.restartApiServer(2000);
    const outageMs = Date.now() - started;

    // a user's change made after the restart reaches the hub's ConfigMap through re-established watches
    cluster.kubectl(['-n', ns, 'patch', 'receiveconnector', 'apps', '--type=merge', '-p', JSON.stringify({ spec: { remoteIPRanges: ['10.1.0.0/16', '10.2.0.0/16'] } })]);
    await until('the change made after the restart rendered', async () => (await configRanges()).includes('10.2.0.0/16'), 30_000, configRanges);

    // an owned object deleted after the restart is re-created (the watch on owned kinds resumed too)
    cluster.kubectl(['-n', ns, 'delete', 'service', `${HUB}-relay`, '--wait=true']);
    const recreated = await until('the deleted Service re-created', async () => {
      const now = await uid('service', `${HUB}-relay`);
      return now !== undefined && now !== original.service ? now : undefined;
    }, 30_000);
    assert.notEqual(recreated, original.service);

    // nothing else lost or replaced, and the same process still leads: no restart, no person
    assert.equal(await uid('configmap', `${HUB}-relay-config`), original.configmap, 'the ConfigMap was updated in place, not re-created');
    assert.equal(await uid('statefulset', `${HUB}-relay`), original.statefulset, 'the StatefulSet was not re-created');
    assert.equal(operator.running, true, `the operator is still running (the API server was away ${outageMs} ms)`);
    const lease = await kube().get<{ spec?: { holderIdentity?: string } }>(ns, 'lease', 'relay-operator');
    assert.equal(lease.spec?.holderIdentity, 'op-restart', 'the operator kept its lease');
    assert.equal(await operator.readyz(), 200, 'its /readyz is 200 again');
  });
});


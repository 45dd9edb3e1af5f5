/*
 * test/operator/leader - two operator processes with short leases (3 s / 2 s / 0.5 s) on one
 * namespace: only the leader writes (the standby's relay_operator_api_writes_total stays 0
 * while it waits), a SIGKILLed leader is replaced within about a lease duration and the new
 * leader reconciles a change, and an operator restarted with nothing changed writes nothing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashConfig } from '../../relay/config/load.ts';
import { useTestNamespaces, type TestCluster } from '../support/cluster.ts';
import {
  reportPodConfigHash, applyObjects, kubeClient, RECONCILE_WRITE_RESOURCES, settleStatefulSet, startOperator, until, type KubeClient, type OperatorProcess,
} from '../support/operator-process.ts';

const ns = `op-leader-${randomBytes(3).toString('hex')}`;
const GROUP = 'relayoperator.io/v1alpha1';
const HUB = 'hub-lead';
const LEASE: [number, number, number] = [3, 2, 0.5];

interface Condition { type: string; status: string; lastTransitionTime: string; observedGeneration?: number }
interface Status { configHash?: string; podsCurrent?: number; conditions?: Condition[]; observedGeneration?: number }
interface Cr { metadata: { generation?: number }; status?: Status }

let cluster: TestCluster;
const operators: OperatorProcess[] = [];

const kube = (): KubeClient => kubeClient(cluster);
const hub = (): Promise<Cr> => kube().get<Cr>(ns, 'relayhub', HUB);
const connector = (): Promise<Cr> => kube().get<Cr>(ns, 'receiveconnector', 'apps');
const ready = (obj: Cr): Condition | undefined => obj.status?.conditions?.find((c) => c.type === 'Ready');
const configRanges = async (): Promise<string[]> => {
  const cm = await kube().get<{ data?: Record<string, string> }>(ns, 'configmap', `${HUB}-relay-config`);
  const config = JSON.parse(cm.data?.['config.json'] ?? '{}') as { connectors?: Array<{ remoteIPRanges: string[] }> };
  return config.connectors?.[0]?.remoteIPRanges ?? [];
};
const setRanges = (ranges: string[]): void =>
  void cluster.kubectl(['-n', ns, 'patch', 'receiveconnector', 'apps', '--type=merge', '-p', JSON.stringify({ spec: { remoteIPRanges: ranges } })]);
const leaseHolder = async (): Promise<string | undefined> =>
  (await kube().get<{ spec?: { holderIdentity?: string } }>(ns, 'lease', 'relay-operator')).spec?.holderIdentity;
const describeWrites = async (op: OperatorProcess): Promise<string> => JSON.stringify(Object.fromEntries(await op.apiWrites()));

async function operator(identity: string, waitFor: 'ready' | 'leader'): Promise<OperatorProcess> {
  const op = await startOperator({ cluster, namespace: ns, identity, lease: LEASE, waitFor });
  operators.push(op);
  return op;
}

/** The hub's pods run its config: marked Ready, annotated with the hash (kubelet and relay played). */
async function podsCurrent(): Promise<void> {
  const hash = await until('hub status reports the hash of its ConfigMap', async () => {
    const cm = await kube().get<{ data?: Record<string, string> }>(ns, 'configmap', `${HUB}-relay-config`);
    const current = hashConfig(JSON.parse(cm.data?.['config.json'] ?? 'null'));
    return (await hub()).status?.configHash === current ? current : undefined;
  });
  await settleStatefulSet(cluster, ns, `${HUB}-relay`, { markReady: true, onPod: (pod) => reportPodConfigHash(cluster, ns, pod, hash) });
  await until('hub and connector Ready', async () => ready(await hub())?.status === 'True' && ready(await connector())?.status === 'True', 20_000,
    async () => [(await hub()).status, (await connector()).status]);
}

/** Idle: nothing queued or running, and nothing for a while (connector requeues are 2 s apart). */
async function settled(op: OperatorProcess): Promise<void> {
  let quietSince = Date.now();
  let lastTotal = -1;
  await until(`${op.identity} settled`, async () => {
    const total = (await op.reconciles('relayhub')) + (await op.reconciles('receiveconnector'));
    if (total !== lastTotal || !(await op.queueIdle())) {
      lastTotal = total;
      quietSince = Date.now();
    }
    return Date.now() - quietSince > 3000;
  }, 30_000);
}

useTestNamespaces([ns], {
  crds: true,
  ready: (c) => {
    cluster = c;
    applyObjects(cluster, [
      { apiVersion: GROUP, kind: 'RelayHub', metadata: { name: HUB, namespace: ns }, spec: { replicas: 1, addresses: [{ name: 'relay', ip: '192.168.7.17' }] } },
      {
        apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name: 'apps', namespace: ns },
        spec: { hubs: [HUB], usage: 'Custom', bindings: ['relay:25'], remoteIPRanges: ['10.1.0.0/16'], permissionGroups: ['AnonymousUsers'] },
      },
    ]);
  },
  beforeStop: () => Promise.all(operators.map((op) => op.kill())).then(() => undefined),
});

describe('leader election', { timeout: 90_000 }, () => {
  let a: OperatorProcess;
  let b: OperatorProcess;
  let c: OperatorProcess | undefined;
  let connectorReady: Condition | undefined;
  let hubReady: Condition | undefined;

  test('one leader writes; the standby is ready but writes nothing, also while a change is reconciled', async () => {
    a = await operator('op-a', 'leader');
    await until('the ConfigMap', async () => (await configRanges()).includes('10.1.0.0/16'));
    b = await operator('op-b', 'ready');
    assert.equal(await b.readyz(), 200, 'the standby serves /readyz once its caches synced');
    await podsCurrent();

    setRanges(['10.1.0.0/16', '10.2.0.0/16']);
    await until('the leader renders the change', async () => (await configRanges()).includes('10.2.0.0/16'));
    await sleep(1500);
    assert.equal(await leaseHolder(), 'op-a');
    assert.equal(a.isLeader, true);
    assert.equal(b.isLeader, false, 'b did not win while a renews');
    assert.ok((await a.writeCount()) > 0, `the leader wrote: ${await describeWrites(a)}`);
    assert.equal(await b.writeCount(), 0, `the standby wrote nothing: ${await describeWrites(b)}`);
    const gauge = async (op: OperatorProcess): Promise<number | undefined> => (await op.metrics()).find((s) => s.name === 'leader_election_master_status')?.value;
    assert.equal(await gauge(a), 1);
    assert.equal(await gauge(b), 0);
    assert.equal((await b.metrics()).filter((s) => s.name === 'controller_runtime_reconcile_total').reduce((n, s) => n + s.value, 0), 0, 'the standby reconciles nothing');
  });

  test('SIGKILL of the leader: the standby takes over within about a lease duration and reconciles a change', async () => {
    const writesBefore = await b.writeCount();
    assert.equal(writesBefore, 0);
    const killedAt = performance.now();
    await a.kill();
    await b.waitForLeader(15_000);
    const took = performance.now() - killedAt;
    const [leaseMs, , retryMs] = LEASE.map((s) => s * 1000) as [number, number, number];
    assert.ok(took > leaseMs - retryMs - 1000, `not before the lease expired: ${Math.round(took)} ms`);
    assert.ok(took < leaseMs + 2 * retryMs * 2.2 + 2000, `takeover after ${Math.round(took)} ms (lease ${leaseMs} ms)`);
    assert.equal(await leaseHolder(), 'op-b');

    setRanges(['10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16']);
    await until('the new leader renders the change', async () => (await configRanges()).includes('10.3.0.0/16'));
    // the pod does not run the new config yet (see e2e for the transient Ready True before this)
    const c = await until('connector status for the new generation: not Ready', async () => {
      const x = await connector();
      return x.status?.observedGeneration === x.metadata.generation && ready(x)?.status === 'False' ? x : undefined;
    }, 20_000, async () => (await connector()).status);
    assert.equal(ready(c)?.status, 'False');
    assert.ok((await b.writeCount((r) => r === 'configmaps')) >= 1, `b applied the ConfigMap: ${await describeWrites(b)}`);
    await podsCurrent();
  });

  test('SIGTERM: the leader releases the lease and exits 0; a restarted operator leads at once', async () => {
    await settled(b);
    connectorReady = ready(await connector());
    hubReady = ready(await hub());
    assert.equal(connectorReady?.status, 'True');
    assert.equal(hubReady?.status, 'True');
    assert.equal(await b.stop(), 0);
    assert.equal((await leaseHolder()) ?? '', '', 'released');
    await sleep(1100); // a rewritten lastTransitionTime would show in whole seconds
    c = await operator('op-c', 'leader');
    const at = (message: string): number => Date.parse(String(c?.logs.find((l) => l.log === 'app' && l.message === message)?.time));
    const waited = at('leader election won: starting controllers') - at('caches synced');
    assert.ok(waited < LEASE[0] * 1000 - 500, `no wait for the lease to expire: leader ${waited} ms after caches synced`);
    assert.equal(await leaseHolder(), 'op-c');
  });

  test('a restart with nothing changed writes nothing (after caches synced and a full reconcile of every object)', {}, async () => {
    const restarted = c;
    assert.ok(restarted && connectorReady && hubReady, 'the previous test restarted the operator');
    await until('op-c reconciled every hub and connector', async () => (await restarted.reconciles('relayhub')) >= 1 && (await restarted.reconciles('receiveconnector')) >= 1);
    // a resync: every object is reconciled again (the hub through a metadata-only change)
    cluster.kubectl(['-n', ns, 'annotate', 'relayhub', HUB, `test.relayoperator.io/resync=${Date.now()}`, '--overwrite']);
    await settled(restarted);
    const writes = await restarted.apiWrites();
    const counted = [...writes].filter(([key, n]) => n > 0 && RECONCILE_WRITE_RESOURCES(key.slice(key.indexOf(' ') + 1)));
    // all three checked before failing, so the report shows every problem at once
    const [connectorNow, hubNow] = [ready(await connector()), ready(await hub())];
    const problems = [
      ...(counted.length > 0 ? [`writes after a restart with nothing changed: ${JSON.stringify(Object.fromEntries(counted))}`] : []),
      ...(connectorNow?.lastTransitionTime !== connectorReady?.lastTransitionTime ? [`connector Ready flipped: lastTransitionTime ${connectorReady?.lastTransitionTime} -> ${connectorNow?.lastTransitionTime}`] : []),
      ...(hubNow?.lastTransitionTime !== hubReady?.lastTransitionTime ? [`hub Ready flipped: lastTransitionTime ${hubReady?.lastTransitionTime} -> ${hubNow?.lastTransitionTime}`] : []),
    ];
    assert.deepEqual(problems, []);
  });

  test('a leader whose lease is taken over stops its controllers and exits 1 within the renew deadline', async () => {
    const leader = await until('a running leader', () => operators.find((op) => op.running && op.isLeader));
    const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    await kube().mergePatch(ns, 'lease', 'relay-operator', { spec: { holderIdentity: 'intruder', renewTime: now, acquireTime: now, leaseDurationSeconds: 60 } });
    const takenAt = performance.now();
    const code = await Promise.race([leader.exited, sleep(10_000).then(() => 'still running')]);
    const took = performance.now() - takenAt;
    assert.equal(code, 1, `${leader.identity} exits 1 when it loses the lease: ${leader.tail(5)}`);
    assert.ok(took < LEASE[1] * 1000 + 2 * LEASE[2] * 1000 + 2000, `exited after ${Math.round(took)} ms (renew deadline ${LEASE[1]} s)`);
    assert.ok(leader.logs.some((l) => l.log === 'app' && l.message === 'leader election lost: stopping'), 'it says why');
    assert.equal(await leaseHolder(), 'intruder', 'it did not take the lease back');
  });
});

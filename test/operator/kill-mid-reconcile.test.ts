/*
 * test/operator/kill-mid-reconcile - the operator gets SIGKILL while it is rendering a batch of
 * hubs (some ConfigMaps written, others not yet), a user changes the shared connector while no
 * operator runs, and a new operator process starts (what the Deployment does). Every hub must
 * converge without a person: ConfigMap with the latest ranges, Service, StatefulSet, and a
 * status whose configHash is the hash of the ConfigMap as it is now (no half-written state kept).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { hashConfig } from '../../relay/config/load.ts';
import { useTestNamespaces, type TestCluster } from '../support/cluster.ts';
import { applyObjects, kubeClient, startOperator, until, type KubeClient, type OperatorProcess } from '../support/operator-process.ts';

const ns = `op-kill-${randomBytes(3).toString('hex')}`;
const GROUP = 'relayoperator.io/v1alpha1';
const HUBS = Array.from({ length: 12 }, (_, i) => `hub-k${i}`);

let cluster: TestCluster;
const operators: OperatorProcess[] = [];
const kube = (): KubeClient => kubeClient(cluster);

interface HubView { status?: { configHash?: string } }
interface HubState { hub: string; ranges: string[]; service: boolean; statefulSet: boolean; statusHash?: string; configHash?: string }

async function hubState(hub: string): Promise<HubState> {
  const cm = await kube().tryGet<{ data?: Record<string, string> }>(ns, 'configmap', `${hub}-relay-config`);
  const config = JSON.parse(cm?.data?.['config.json'] ?? 'null') as { connectors?: Array<{ remoteIPRanges: string[] }> } | null;
  return {
    hub,
    ranges: config?.connectors?.[0]?.remoteIPRanges ?? [],
    service: (await kube().tryGet(ns, 'service', `${hub}-relay`)) !== undefined,
    statefulSet: (await kube().tryGet(ns, 'statefulset', `${hub}-relay`)) !== undefined,
    statusHash: (await kube().get<HubView>(ns, 'relayhub', hub)).status?.configHash,
    configHash: config ? hashConfig(config) : undefined,
  };
}

useTestNamespaces([ns], {
  crds: true,
  ready: (c) => {
    cluster = c;
  },
  beforeStop: () => Promise.all(operators.map((op) => op.kill())).then(() => undefined),
});

describe('operator killed mid-reconcile', { timeout: 120_000 }, () => {
  test('SIGKILL while a batch of hubs is half rendered, a change while down, a new process: every hub converges', async () => {
    const first = await startOperator({ cluster, namespace: ns, identity: 'op-first', waitFor: 'leader' });
    operators.push(first);
    applyObjects(cluster, [
      ...HUBS.map((hub, i) => ({ apiVersion: GROUP, kind: 'RelayHub', metadata: { name: hub, namespace: ns }, spec: { replicas: 1, addresses: [{ name: 'relay', ip: `192.168.9.${i + 1}` }] } })),
      {
        apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name: 'apps', namespace: ns },
        spec: { hubs: HUBS, usage: 'Custom', bindings: ['relay:25'], remoteIPRanges: ['10.1.0.0/16'], permissionGroups: ['AnonymousUsers'] },
      },
    ]);
    // kill as soon as the first hub's ConfigMap exists: the others are still queued or in flight
    const renderedAtKill = await until('the first ConfigMap', async () => {
      const count = (await kube().list(ns, 'configmap')).filter((cm) => String((cm as { metadata: { name: string } }).metadata.name).endsWith('-relay-config')).length;
      return count > 0 ? count : undefined;
    }, 30_000);
    await first.kill();
    const states = await Promise.all(HUBS.map(hubState));
    const complete = states.filter((s) => s.service && s.statefulSet && s.statusHash !== undefined && s.statusHash === s.configHash).length;
    assert.ok(complete < HUBS.length, `the kill fell mid-reconcile (${renderedAtKill} ConfigMaps, ${complete}/${HUBS.length} hubs complete)`);

    cluster.kubectl(['-n', ns, 'patch', 'receiveconnector', 'apps', '--type=merge', '-p', JSON.stringify({ spec: { remoteIPRanges: ['10.1.0.0/16', '10.3.0.0/16'] } })]);
    const second = await startOperator({ cluster, namespace: ns, identity: 'op-second', waitFor: 'leader' });
    operators.push(second);

    const converged = (s: HubState): boolean =>
      s.ranges.includes('10.3.0.0/16') && s.service && s.statefulSet && s.configHash !== undefined && s.statusHash === s.configHash;
    let last: HubState[] = [];
    await until('every hub converged', async () => {
      last = await Promise.all(HUBS.map(hubState));
      return last.every(converged);
    }, 60_000, () => last.filter((s) => !converged(s)));
    assert.equal(second.running, true);
  });
});

/*
 * test/operator/kstatus - what GitOps tools read from our four kinds: the status
 * sigs.k8s.io/cli-utils/pkg/kstatus computes (Flux health checks use it), through the kstatus
 * tool built beside the control plane (test/controlplane/kstatus), against a real API server
 * and the operator as a process.
 *
 * kstatus reads observedGeneration, then Reconciling=True (InProgress) and Stalled=True
 * (Failed), then, for kinds it does not know, Ready (True: Current, else InProgress). So a
 * connector whose Secret is missing must say Stalled, or Flux waits for it until its timeout
 * instead of failing with the reason. There is no kubelet: the test plays kubelet (pod Ready)
 * and the relay (its config-hash report Lease), as reconcile.test.ts does.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestCluster } from '../support/cluster.ts';
import { applyObjects, podReportedConfigHash, reportPodConfigHash, kubeClient, settleStatefulSet, useOperatorNamespace, until } from '../support/operator-process.ts';

const ns = `op-kstatus-${randomBytes(3).toString('hex')}`;
const GROUP = 'relayoperator.io/v1alpha1';
const HUB = 'hub-a';
const run = promisify(execFile);

type KstatusStatus = 'Current' | 'InProgress' | 'Failed' | 'Terminating' | 'NotFound' | 'Unknown';
interface KstatusEntry { apiVersion: string; kind: string; namespace?: string; name: string; status: KstatusStatus; message: string }
interface Condition { type: string; status: string; reason: string; message: string }
interface HubView { status?: { configHash?: string; conditions?: Condition[] } }

let cluster: TestCluster;

/** kstatus - the tool on references (APIVERSION/KIND/NAMESPACE/NAME), or on objects given as JSON. */
async function kstatus(refs: string[]): Promise<KstatusEntry[]> {
  const { stdout } = await run(join(cluster.binDir, 'kstatus'), ['--kubeconfig', cluster.kubeconfig, ...refs]);
  return JSON.parse(stdout) as KstatusEntry[];
}
async function kstatusOfObjects(objects: object[]): Promise<KstatusEntry[]> {
  const child = execFile(join(cluster.binDir, 'kstatus'), ['-']);
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
  child.stdin?.end(JSON.stringify(objects));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, 'kstatus - exits 0');
  return JSON.parse(stdout) as KstatusEntry[];
}

const ref = (kind: string, name: string): string => `${GROUP}/${kind}/${ns}/${name}`;
const FOUR = [ref('RelayHub', HUB), ref('ReceiveConnector', 'copiers'), ref('AcceptedDomain', 'contoso'), ref('SendConnector', 'internet')];

/** untilKstatus - poll the tool until `ref` reads `status`; the timeout error shows the last answer. */
async function untilKstatus(objectRef: string, status: KstatusStatus, timeoutMs = 20_000): Promise<KstatusEntry> {
  let last: KstatusEntry | undefined;
  return until(`${objectRef} kstatus ${status}`, async () => {
    [last] = await kstatus([objectRef]);
    return last?.status === status ? last : undefined;
  }, timeoutMs, () => last);
}

const hub = (): object => ({ apiVersion: GROUP, kind: 'RelayHub', metadata: { name: HUB, namespace: ns }, spec: { replicas: 1, addresses: [{ name: 'relay', ip: '192.168.7.17' }] } });
const receiveConnector = (name: string, spec: Record<string, unknown>): object => ({
  apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name, namespace: ns },
  spec: { hubs: [HUB], usage: 'Custom', permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }], ...spec },
});
const secret = (name: string, stringData: Record<string, string>): object => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, stringData });

/**
 * Play kubelet and the relay: the hub's pod is Ready and reports the config hash the hub status
 * names, until the hub says Ready for that hash (a Secret applied with others can make the hub
 * render twice, each time with a new hash).
 */
async function podsRunCurrentConfig(): Promise<void> {
  await settleStatefulSet(cluster, ns, `${HUB}-relay`, { markReady: true });
  const kube = kubeClient(cluster);
  await until('hub Ready for the hash its pod reports', async () => {
    const status = (await kube.get<HubView>(ns, 'relayhub', HUB)).status;
    const hash = status?.configHash;
    if (!hash) return undefined;
    const ready = status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    const pods = await kube.list<{ metadata: { name: string } }>(ns, 'pod', `relayoperator.io/hub=${HUB}`);
    let reported = true;
    for (const pod of pods) {
      if ((await podReportedConfigHash(cluster, ns, pod.metadata.name)) === hash) continue;
      await reportPodConfigHash(cluster, ns, pod.metadata.name, hash);
      reported = false;
    }
    return ready && reported;
  }, 30_000, async () => (await kube.get<HubView>(ns, 'relayhub', HUB)).status);
}

useOperatorNamespace(ns, { ready: (c) => void (cluster = c) });

describe('kstatus of the four kinds', { timeout: 120_000 }, () => {
  test('the tool computes what the library says, without a cluster: Ready is read only when Reconciling/Stalled are not True', async () => {
    const meta = { name: 'x', namespace: ns, generation: 2 };
    const withConditions = (conditions: object[], observedGeneration = 2): object => ({ apiVersion: GROUP, kind: 'ReceiveConnector', metadata: meta, status: { observedGeneration, conditions } });
    const answers = await kstatusOfObjects([
      withConditions([{ type: 'Ready', status: 'True' }]),
      withConditions([{ type: 'Ready', status: 'False', reason: 'NotLoaded', message: 'm' }]),
      withConditions([{ type: 'Ready', status: 'False' }, { type: 'Stalled', status: 'True', reason: 'SecretNotFound', message: 'Secret s not found' }]),
      withConditions([{ type: 'Ready', status: 'True' }, { type: 'Reconciling', status: 'True', reason: 'Propagating', message: 'loading' }]),
      withConditions([{ type: 'Ready', status: 'True' }], 1),
      { apiVersion: GROUP, kind: 'ReceiveConnector', metadata: meta },
    ]);
    assert.deepEqual(answers.map((a) => a.status), ['Current', 'InProgress', 'Failed', 'InProgress', 'InProgress', 'Current']);
    assert.equal(answers[2]?.message, 'Secret s not found');
  });

  test('before the hub pod runs the config: RelayHub and ReceiveConnector InProgress (Reconciling), AcceptedDomain and SendConnector Current', async () => {
    applyObjects(cluster, [
      hub(),
      receiveConnector('copiers', { bindings: ['relay:25'], remoteIPRanges: ['192.168.7.100-192.168.7.101'] }),
      { apiVersion: GROUP, kind: 'AcceptedDomain', metadata: { name: 'contoso', namespace: ns }, spec: { domainName: 'contoso.test', default: true } },
      { apiVersion: GROUP, kind: 'SendConnector', metadata: { name: 'internet', namespace: ns }, spec: { addressSpaces: [{ domain: '*', cost: 10 }], smartHosts: ['smtp.provider.test:587'] } },
    ]);
    const hubAnswer = await untilKstatus(ref('RelayHub', HUB), 'InProgress');
    assert.match(hubAnswer.message, /pod\(s\) to load config/);
    const connector = await until('connector status written', async () => {
      // before its first status there is nothing for kstatus to read (it says Current): the
      // status is seen first, then kstatus asked (the other order raced the first status write)
      const view = await kubeClient(cluster).get<{ status?: { conditions?: Condition[] } }>(ns, 'receiveconnector', 'copiers');
      if (!view.status?.conditions?.some((c) => c.type === 'Reconciling')) return undefined;
      const [answer] = await kstatus([ref('ReceiveConnector', 'copiers')]);
      return answer;
    });
    assert.equal(connector?.status, 'InProgress');
    assert.match(connector?.message ?? '', /Propagating: 0\/1 pods run config/);
    await untilKstatus(ref('AcceptedDomain', 'contoso'), 'Current');
    await untilKstatus(ref('SendConnector', 'internet'), 'Current');
  });

  test('a valid hub whose pods report the hash: all four kinds Current', async () => {
    await podsRunCurrentConfig();
    await until('all four Current', async () => (await kstatus(FOUR)).every((a) => a.status === 'Current'), 30_000, () => kstatus(FOUR));
    const answers = await kstatus(FOUR);
    assert.deepEqual(answers.map((a) => [a.kind, a.name, a.status]), [['RelayHub', HUB, 'Current'], ['ReceiveConnector', 'copiers', 'Current'], ['AcceptedDomain', 'contoso', 'Current'], ['SendConnector', 'internet', 'Current']]);
    // the StatefulSet and ConfigMap through kstatus' built-in rules (Services of type
    // LoadBalancer wait for an ingress IP no load balancer gives here)
    const [configMap, missing] = await kstatus([`v1/ConfigMap/${ns}/${HUB}-relay-config`, ref('ReceiveConnector', 'no-such-connector')]);
    assert.equal(configMap?.status, 'Current');
    assert.equal(missing?.status, 'NotFound');
  });

  test('a connector whose TLS Secret is missing reads Failed naming the Secret; so does a SendConnector; fixing the Secrets turns them Current', async () => {
    applyObjects(cluster, [
      receiveConnector('submission', { bindings: ['relay:587'], remoteIPRanges: ['192.168.7.110'], tls: { secretName: 'submission-tls' } }),
      { apiVersion: GROUP, kind: 'SendConnector', metadata: { name: 'smarthost', namespace: ns }, spec: { addressSpaces: [{ domain: 'partner.test', cost: 5 }], smartHosts: ['smtp.partner.test:587'], authentication: { secretName: 'smarthost-auth' } } },
    ]);
    const failed = await untilKstatus(ref('ReceiveConnector', 'submission'), 'Failed');
    assert.match(failed.message, /Secret submission-tls not found/);
    const view = await kubeClient(cluster).get<{ status?: { conditions?: Condition[] } }>(ns, 'receiveconnector', 'submission');
    const stalled = view.status?.conditions?.find((c) => c.type === 'Stalled');
    assert.deepEqual([stalled?.status, stalled?.reason], ['True', 'SecretNotFound']);
    assert.equal(view.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False', 'Ready stays as it was');
    const failedSend = await untilKstatus(ref('SendConnector', 'smarthost'), 'Failed');
    assert.match(failedSend.message, /Secret smarthost-auth \(spec.authentication.secretName\) not found/);
    // the hub serves its other connectors: not the hub's failure
    assert.equal((await kstatus([ref('RelayHub', HUB)]))[0]?.status, 'Current');

    applyObjects(cluster, [
      secret('submission-tls', { 'tls.crt': 'not checked here', 'tls.key': 'not checked here' }),
      secret('smarthost-auth', { username: 'relay', password: 'secret' }),
    ]);
    await untilKstatus(ref('SendConnector', 'smarthost'), 'Current');
    // the connector is loaded now, in a new config the hub pod must load first
    const loading = await untilKstatus(ref('ReceiveConnector', 'submission'), 'InProgress');
    assert.match(loading.message, /Propagating/);
    await podsRunCurrentConfig();
    await untilKstatus(ref('ReceiveConnector', 'submission'), 'Current', 30_000);
    const all = await kstatus([...FOUR, ref('ReceiveConnector', 'submission'), ref('SendConnector', 'smarthost')]);
    assert.deepEqual(all.filter((a) => a.status !== 'Current'), []);
  });
});

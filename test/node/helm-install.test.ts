/*
 * test/node/helm-install - relay-operator as a user installs it, on a real node: `helm install`
 * of the chart with the image `npm run image` built, the seed example applied with kubectl,
 * mail from a pod through both hubs' Services to a sink, then the lifecycle a cluster puts a
 * hub through (pod deleted with mail queued, relay killed, scale-down drain, a scaled-away
 * pod's queue handed to the remaining pod, leader lost, helm upgrade and uninstall). Nothing
 * here plays kubelet: containerd runs every pod.
 *
 * Run by test/node/run.ts (npm run test:node), inside relay-clients: the sink listens on
 * 192.0.2.1, the relay-clients side of the node's link, and hub pods reach it through the node.
 * The tests run in order and build on each other, as an administrator's day would.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { reportedConfigHash } from '../../operator/resources/config-report.ts';
import { startCapturePeer, type CapturePeer } from '../support/smtp-peers.ts';
import { eventually, message, nodeTestCluster, smtpFromPod, smtpFromPodInBackground, type NodeTestCluster } from '../support/node-cluster.ts';

const SINK_HOST = '192.0.2.1';
const SINK_PORT = 2526;
const RELEASE = 'relay-operator';
const OPERATOR_NS = 'relay-system';
const MAIL_NS = 'mail';
const CLIENT_NS = 'clients';
const HUBS = ['hub-east-a', 'hub-east-b'];

interface PodJson {
  metadata: { name: string; uid: string; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec: { containers: { ports?: { name: string; containerPort: number }[] }[] };
  status: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { restartCount: number; containerID?: string; ready: boolean }[] };
}
interface Condition { type: string; status: string; reason?: string; message?: string }

/**
 * The seed example as shipped, adapted only in its addresses (documentation ranges: hub
 * addresses from 203.0.113.0/24, copiers and the app subnet from 198.51.100.0/24), plus a
 * SendConnector to the test's sink, and optionally one more client range.
 */
function seed(extraRange?: string): string {
  let text = readFileSync('examples/two-hubs-one-connector.yaml', 'utf8')
    .replaceAll('192.168.1.17', '203.0.113.17')
    .replaceAll('192.168.1.18', '203.0.113.18')
    .replaceAll('192.168.1.100-192.168.1.101', '198.51.100.100-198.51.100.101')
    .replaceAll('10.20.0.0/16', '198.51.100.128/25');
  assert.doesNotMatch(text, /192\.168\.|10\.20\./, 'every address of the example is adapted');
  if (extraRange) text = text.replace('    - 2001:db8::/48\n', `    - 2001:db8::/48\n    - ${extraRange}\n`);
  return `${text}
---
apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata:
  name: to-sink
  namespace: ${MAIL_NS}
spec:
  hubSelector: {matchLabels: {site: east}}
  addressSpaces: [{domain: "*"}]
  smartHosts: ["${SINK_HOST}:${SINK_PORT}"]
  tls: {mode: None}
`;
}

describe('relay-operator on a real node', () => {
  let cluster: NodeTestCluster;
  let sink: CapturePeer;
  let clientIP = '';
  const pods = (namespace: string, selector: string): PodJson[] => cluster.json<{ items: PodJson[] }>(['get', 'pods', '-n', namespace, '-l', selector]).items;
  const pod = (namespace: string, name: string): PodJson => cluster.json<PodJson>(['get', 'pod', '-n', namespace, name]);
  const ready = (p: PodJson): boolean => !p.metadata.deletionTimestamp && p.status.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const hubPods = (hub: string): PodJson[] => pods(MAIL_NS, `relayoperator.io/hub=${hub}`);
  /** The config hash the pod reported in its own report Lease (written by this pod's uid). */
  const reported = (p: PodJson): string | undefined => reportedConfigHash(p, cluster.json(['get', 'lease', '-n', MAIL_NS, p.metadata.name]));
  const serviceIP = (hub: string): string => cluster.kubectl(['get', 'service', '-n', MAIL_NS, `${hub}-relay`, '-o', 'jsonpath={.spec.clusterIP}']);
  const smtpPort = (p: PodJson): number => p.spec.containers[0]!.ports!.find((port) => port.name === 'smtp-0')!.containerPort;
  const received = (subject: string): number => sink.messages.filter((m) => m.data.toString().includes(`Subject: ${subject}\r\n`)).length;
  const connectorCondition = (): Condition | undefined =>
    cluster.json<{ status?: { conditions?: Condition[] } }>(['get', 'receiveconnector', '-n', MAIL_NS, 'copiers']).status?.conditions?.find((c) => c.type === 'Ready');
  const leaseHolder = (): string => cluster.kubectl(['get', 'lease', '-n', OPERATOR_NS, 'relay-operator', '-o', 'jsonpath={.spec.holderIdentity}']);

  before(async () => {
    cluster = await nodeTestCluster();
    sink = await startCapturePeer({ host: SINK_HOST, port: SINK_PORT });
  });
  after(async () => {
    await sink?.stop();
  });

  test('helm install: both operator replicas Running and Ready on the node, one leader', async () => {
    cluster.installChart(RELEASE, OPERATOR_NS);
    const operators = await eventually('two operator pods Ready', 120_000, () => {
      const list = pods(OPERATOR_NS, 'app.kubernetes.io/name=relay-operator');
      return list.length === 2 && list.every(ready) && list;
    });
    // A Lease left by an earlier release in this namespace names a pod that is gone until it expires.
    await eventually('a leader among the operator pods', 60_000, () => {
      const h = leaseHolder();
      return operators.some((p) => h.startsWith(`${p.metadata.name}_`)) && h;
    });
    const leaders = operators.filter((p) => cluster.kubectl(['logs', '-n', OPERATOR_NS, p.metadata.name]).includes('leader election won'));
    assert.equal(leaders.length, 1, 'exactly one replica leads');
  });

  test('the seed example: both hubs Running and Ready on bound volumes, connector Ready on both, config hash reported by each relay', async () => {
    cluster.kubectl(['apply', '-f', '-'], seed());
    for (const hub of HUBS) {
      await eventually(`${hub}: two relay pods Ready`, 240_000, () => {
        const list = hubPods(hub);
        return list.length === 2 && list.every(ready);
      });
      for (const ordinal of [0, 1]) {
        const claim = cluster.json<{ status: { phase: string } }>(['get', 'pvc', '-n', MAIL_NS, `spool-${hub}-relay-${ordinal}`]);
        assert.equal(claim.status.phase, 'Bound', `${hub} pod ${ordinal}: spool volume bound`);
      }
    }
    const condition = await eventually('connector copiers Ready', 120_000, () => {
      const c = connectorCondition();
      return c?.status === 'True' && c;
    });
    for (const hub of HUBS) assert.match(condition.message ?? '', new RegExp(hub), `Ready names ${hub}`);
    for (const hub of HUBS) {
      const hashes = new Set(hubPods(hub).map(reported));
      assert.equal(hashes.size, 1, `${hub}: both pods report one config hash`);
      assert.ok([...hashes][0], `${hub}: the hash is reported`);
      for (const p of hubPods(hub)) {
        const log = cluster.kubectl(['logs', '-n', MAIL_NS, p.metadata.name]);
        assert.match(log, /reported config hash in lease/, `${p.metadata.name} reported in its own Lease`);
        assert.doesNotMatch(log, /forbidden/i, `${p.metadata.name}: nothing forbidden`);
      }
    }
    // What Flux and other GitOps tools read (kstatus, built beside the control plane): the four
    // kinds and the workloads they make are all Current once the pods run the config.
    const refs = [
      `apps/v1/Deployment/${OPERATOR_NS}/relay-operator`,
      ...HUBS.flatMap((hub) => [`relayoperator.io/v1alpha1/RelayHub/${MAIL_NS}/${hub}`, `apps/v1/StatefulSet/${MAIL_NS}/${hub}-relay`,
        `v1/Service/${MAIL_NS}/${hub}-relay`, `v1/PersistentVolumeClaim/${MAIL_NS}/spool-${hub}-relay-0`, `v1/PersistentVolumeClaim/${MAIL_NS}/spool-${hub}-relay-1`]),
      `relayoperator.io/v1alpha1/ReceiveConnector/${MAIL_NS}/copiers`, `relayoperator.io/v1alpha1/AcceptedDomain/${MAIL_NS}/contoso`,
      `relayoperator.io/v1alpha1/SendConnector/${MAIL_NS}/to-sink`,
    ];
    const statuses = await eventually('every object Current in kstatus', 120_000, () => {
      const out = JSON.parse(execFileSync(join(cluster.binDir, 'kstatus'), ['--kubeconfig', cluster.kubeconfig, ...refs], { encoding: 'utf8' })) as { kind: string; name: string; status: string; message: string }[];
      return out.every((o) => o.status === 'Current') ? out : undefined;
    }).catch((error: Error) => {
      const out = execFileSync(join(cluster.binDir, 'kstatus'), ['--kubeconfig', cluster.kubeconfig, ...refs], { encoding: 'utf8' });
      throw new Error(`${error.message}: ${out}`);
    });
    assert.equal(statuses.length, refs.length);
    // The operator logs every API error its runtime meets (a 403 among them): none under the chart's RBAC.
    for (const p of pods(OPERATOR_NS, 'app.kubernetes.io/name=relay-operator')) {
      assert.doesNotMatch(cluster.kubectl(['logs', '-n', OPERATOR_NS, p.metadata.name]), /forbidden/i, `${p.metadata.name}: nothing forbidden`);
    }
  });

  test('mail: a pod outside the ranges gets 554 5.7.1 at both hubs; after kubectl apply adds its address it relays through both, without a restart', async () => {
    cluster.kubectl(['create', 'namespace', CLIENT_NS]);
    cluster.kubectl(['run', 'mail-client', '-n', CLIENT_NS, `--image=${cluster.imageRef}`, '--image-pull-policy=Never', '--restart=Never',
      '--command', '--', 'node', '-e', 'setInterval(() => {}, 1 << 30)']);
    const client = await eventually('client pod Ready', 120_000, () => {
      const p = pod(CLIENT_NS, 'mail-client');
      return ready(p) && p;
    });
    clientIP = client.status.podIP!;
    for (const hub of HUBS) {
      const outcome = smtpFromPod(cluster, CLIENT_NS, 'mail-client', serviceIP(hub), 25, message('app@contoso.com', 'someone@example.org', `refused-${hub}`));
      assert.match(outcome.replies[0] ?? '', /^554 5\.7\.1 /, `${hub}: refused at connect (${JSON.stringify(outcome)})`);
    }

    const before = new Map(HUBS.flatMap((hub) => hubPods(hub)).map((p) => [p.metadata.name, { uid: p.metadata.uid, restarts: p.status.containerStatuses![0]!.restartCount }]));
    const hashesBefore = new Map(HUBS.map((hub) => [hub, reported(hubPods(hub)[0]!)]));
    cluster.kubectl(['apply', '-f', '-'], seed(`${clientIP}/32`));
    for (const hub of HUBS) {
      await eventually(`${hub}: every pod runs the config with the new range`, 180_000, () => {
        const list = hubPods(hub);
        return list.length === 2 && list.every((p) => ready(p) && reported(p) !== hashesBefore.get(hub));
      });
    }
    await eventually('connector Ready again', 60_000, () => connectorCondition()?.status === 'True');
    for (const hub of HUBS) {
      const outcome = smtpFromPod(cluster, CLIENT_NS, 'mail-client', serviceIP(hub), 25, message('app@contoso.com', 'someone@example.org', `relayed-${hub}`));
      assert.match(outcome.replies[0] ?? '', /^220 /, `${hub}: greeted (${JSON.stringify(outcome)})`);
      assert.match(outcome.replies[5] ?? '', /^250 /, `${hub}: message accepted (${JSON.stringify(outcome)})`);
    }
    for (const hub of HUBS) await eventually(`relayed-${hub} at the sink`, 60_000, () => received(`relayed-${hub}`) === 1);
    const after = HUBS.flatMap((hub) => hubPods(hub));
    for (const p of after) {
      const was = before.get(p.metadata.name);
      assert.deepEqual({ uid: p.metadata.uid, restarts: p.status.containerStatuses![0]!.restartCount }, was, `${p.metadata.name}: same pod, no restart`);
    }
    const relayedHeaders = sink.messages.find((m) => m.data.toString().includes('Subject: relayed-hub-east-a'))!.data.toString();
    assert.match(relayedHeaders, new RegExp(clientIP.replaceAll('.', '\\.')), 'the Received header names the real client address');
  });

  test('a hub pod deleted and a relay killed with mail queued: back on the same volume, every acknowledged message delivered once', async () => {
    // Short retries so the test sees the queue run again within seconds (a config change: no
    // restart); mail is sent once every pod runs it, so no message waits out the default 5m.
    const hashes = new Map(HUBS.map((hub) => [hub, reported(hubPods(hub)[0]!)]));
    for (const hub of HUBS) cluster.kubectl(['patch', 'relayhub', '-n', MAIL_NS, hub, '--type=merge', '-p', '{"spec":{"queue":{"retry":{"minBackoff":"3s","maxBackoff":"6s"}}}}']);
    for (const hub of HUBS) {
      await eventually(`${hub}: every pod runs the short retry schedule`, 180_000, () => {
        const list = hubPods(hub);
        return list.length === 2 && list.every((p) => ready(p) && reported(p) !== hashes.get(hub));
      });
    }
    await sink.stop();
    const podA = hubPods('hub-east-a').find((p) => p.metadata.name.endsWith('-0'))!;
    const podB = hubPods('hub-east-b').find((p) => p.metadata.name.endsWith('-0'))!;
    const volumeA = cluster.kubectl(['get', 'pvc', '-n', MAIL_NS, 'spool-hub-east-a-relay-0', '-o', 'jsonpath={.spec.volumeName}']);
    const subjects: string[] = [];
    for (const [p, n] of [[podA, 1], [podA, 2], [podB, 3]] as const) {
      const subject = `queued-${n}`;
      const outcome = smtpFromPod(cluster, CLIENT_NS, 'mail-client', p.status.podIP!, smtpPort(p), message('app@contoso.com', 'someone@example.org', subject));
      assert.match(outcome.replies[5] ?? '', /^250 /, `${subject} acknowledged by ${p.metadata.name} (${JSON.stringify(outcome)})`);
      subjects.push(subject);
    }

    cluster.kubectl(['delete', 'pod', '-n', MAIL_NS, podA.metadata.name, '--wait=false']);
    const containerB = podB.status.containerStatuses![0]!.containerID!.replace('containerd://', '');
    cluster.ctr(['tasks', 'kill', '--signal', 'SIGKILL', containerB]);
    await eventually('hub-east-a-relay-0 back as a new pod', 180_000, () => {
      const p = hubPods('hub-east-a').find((x) => x.metadata.name === podA.metadata.name);
      return p && p.metadata.uid !== podA.metadata.uid && ready(p);
    });
    assert.equal(cluster.kubectl(['get', 'pvc', '-n', MAIL_NS, 'spool-hub-east-a-relay-0', '-o', 'jsonpath={.spec.volumeName}']), volumeA, 'same volume');
    await eventually('hub-east-b-relay-0 restarted by the kubelet', 120_000, () => {
      const p = pod(MAIL_NS, podB.metadata.name);
      return p.metadata.uid === podB.metadata.uid && p.status.containerStatuses![0]!.restartCount === podB.status.containerStatuses![0]!.restartCount + 1 && ready(p);
    });
    assert.equal(subjects.filter((s) => received(s) > 0).length, 0, 'nothing delivered while the next hop is down');

    sink = await startCapturePeer({ host: SINK_HOST, port: SINK_PORT });
    for (const subject of subjects) await eventually(`${subject} delivered when the next hop is back`, 120_000, () => received(subject) >= 1);
    await new Promise((r) => setTimeout(r, 8000));
    for (const subject of subjects) assert.equal(received(subject), 1, `${subject} delivered exactly once`);
  });

  test('scale-down: the leaving pod answers 421 4.3.2 to new sessions, finishes the one in flight, and is gone within its grace period', async () => {
    const leaving = hubPods('hub-east-b').find((p) => p.metadata.name.endsWith('-1'))!;
    const grace = Number(cluster.kubectl(['get', 'pod', '-n', MAIL_NS, leaving.metadata.name, '-o', 'jsonpath={.spec.terminationGracePeriodSeconds}']));
    const steps = message('app@contoso.com', 'someone@example.org', 'in-flight');
    steps[4] = { sleep: 8000, ...steps[4] };
    const inFlight = smtpFromPodInBackground(cluster, CLIENT_NS, 'mail-client', leaving.status.podIP!, smtpPort(leaving), steps);
    await new Promise((r) => setTimeout(r, 2500));
    const started = Date.now();
    cluster.kubectl(['patch', 'relayhub', '-n', MAIL_NS, 'hub-east-b', '--type=merge', '-p', '{"spec":{"replicas":1}}']);
    await eventually('the pod terminating', 60_000, () => Boolean(pod(MAIL_NS, leaving.metadata.name).metadata.deletionTimestamp));
    const late = smtpFromPod(cluster, CLIENT_NS, 'mail-client', leaving.status.podIP!, smtpPort(leaving), message('app@contoso.com', 'someone@example.org', 'too-late'));
    assert.match(late.replies[0] ?? '', /^421 4\.3\.2 /, `a new session is turned away (${JSON.stringify(late)})`);
    const outcome = await inFlight;
    assert.match(outcome.replies[5] ?? '', /^250 /, `the session in flight completes (${JSON.stringify(outcome)})`);
    await eventually('the pod gone', (grace + 30) * 1000, () => !hubPods('hub-east-b').some((p) => p.metadata.name === leaving.metadata.name));
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < grace, `drained in ${seconds.toFixed(1)} s, within terminationGracePeriodSeconds ${grace}`);
    await eventually('in-flight delivered', 60_000, () => received('in-flight') === 1);
  });

  test('scale-down hand-off: mail queued on the pod scaled away is handed to the remaining pod and delivered once; StrandedMail names the PVC left', async () => {
    const N = 10;
    const leaving = hubPods('hub-east-a').find((p) => p.metadata.name.endsWith('-1'))!;
    // The next hop refuses nothing: it is not there, so every message stays queued on pod 1.
    await sink.stop();
    const subjects = Array.from({ length: N }, (_, i) => `handed-off-${i}`);
    for (const subject of subjects) {
      const outcome = smtpFromPod(cluster, CLIENT_NS, 'mail-client', leaving.status.podIP!, smtpPort(leaving), message('app@contoso.com', 'someone@example.org', subject));
      assert.match(outcome.replies[5] ?? '', /^250 /, `${subject} acknowledged by ${leaving.metadata.name} (${JSON.stringify(outcome)})`);
    }
    // Its log, followed from before the scale-down: the pod and its log are gone once it exits.
    const follow = spawn(join(cluster.binDir, 'kubectl'), [`--kubeconfig=${cluster.kubeconfig}`, 'logs', '-f', '-n', MAIL_NS, leaving.metadata.name], { stdio: ['ignore', 'pipe', 'ignore'] });
    let log = '';
    follow.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const followed = new Promise<void>((resolve) => follow.on('exit', () => resolve()));
    try {
      cluster.kubectl(['patch', 'relayhub', '-n', MAIL_NS, 'hub-east-a', '--type=merge', '-p', '{"spec":{"replicas":1}}']);
      await eventually(`${leaving.metadata.name} gone`, 120_000, () => !hubPods('hub-east-a').some((p) => p.metadata.name === leaving.metadata.name));
      await Promise.race([followed, new Promise((r) => setTimeout(r, 5000))]);
    } finally {
      follow.kill();
    }
    const lines = log.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: string; message: string; handed?: number; left?: number; handOff?: boolean });
    assert.ok(lines.some((l) => l.handOff === true && /ordinal 1 >= replicas 1/.test(l.message)), `the pod decided it is scaled away:\n${log}`);
    const report = lines.find((l) => /^hand-off (done|ended):/.test(l.message));
    assert.ok(report, `the pod logged its hand-off:\n${log}`);
    const warnings = lines.filter((l) => l.level !== 'info').map((l) => JSON.stringify(l)).join('\n');
    assert.equal(report.handed, N, `${N} messages handed off (${report.message})\n${warnings}`);
    assert.equal(report.left, 0, `nothing left on its spool (${report.message})`);
    assert.equal(subjects.filter((s) => received(s) > 0).length, 0, 'nothing delivered while the next hop is down');

    sink = await startCapturePeer({ host: SINK_HOST, port: SINK_PORT });
    for (const subject of subjects) await eventually(`${subject} delivered by the remaining pod`, 120_000, () => received(subject) >= 1);
    await new Promise((r) => setTimeout(r, 8000));
    for (const subject of subjects) assert.equal(received(subject), 1, `${subject} delivered exactly once`);

    // The operator cannot see into the PVC, so the one left behind is reported (stranded-mail.ts).
    const stranded = await eventually('StrandedMail True on hub-east-a', 60_000, () => {
      const c = cluster.json<{ status?: { conditions?: Condition[] } }>(['get', 'relayhub', '-n', MAIL_NS, 'hub-east-a']).status?.conditions?.find((x) => x.type === 'StrandedMail');
      return c?.status === 'True' && c;
    });
    assert.equal(stranded.reason, 'OrphanedSpoolVolumes');
    assert.match(stranded.message ?? '', /spool-hub-east-a-relay-1\b/, 'the condition names the PVC left behind');
    assert.doesNotMatch(stranded.message ?? '', /relay-0\b/, 'and not the one in use');
  });

  test('the leader operator killed (SIGKILL, no lease release): a new leader within 20 s', async () => {
    const holder = leaseHolder();
    const leader = pods(OPERATOR_NS, 'app.kubernetes.io/name=relay-operator').find((p) => holder.startsWith(`${p.metadata.name}_`))!;
    const container = leader.status.containerStatuses![0]!.containerID!.replace('containerd://', '');
    const killed = Date.now();
    cluster.ctr(['tasks', 'kill', '--signal', 'SIGKILL', container]);
    const next = await eventually('a new leader', 30_000, () => {
      const h = leaseHolder();
      return h !== holder && h;
    });
    const seconds = (Date.now() - killed) / 1000;
    assert.notEqual(next, holder, 'another identity holds the lease');
    assert.ok(seconds <= 20, `handed over in ${seconds.toFixed(1)} s`);
  });

  test('helm upgrade rolls the operator; helm uninstall leaves no orphan (CRDs, hubs and their volumes stay)', async () => {
    const oldPods = new Set(pods(OPERATOR_NS, 'app.kubernetes.io/name=relay-operator').map((p) => p.metadata.name));
    cluster.helm(['upgrade', RELEASE, 'charts/relay-operator', '-n', OPERATOR_NS, '--reuse-values', '--set', 'podAnnotations.rollout=second', '--wait', '--timeout', '4m']);
    await eventually('two new operator pods Ready', 180_000, () => {
      const list = pods(OPERATOR_NS, 'app.kubernetes.io/name=relay-operator');
      return list.length === 2 && list.every((p) => ready(p) && !oldPods.has(p.metadata.name));
    });
    await eventually('a leader among the new pods', 60_000, () => {
      const names = pods(OPERATOR_NS, 'app.kubernetes.io/name=relay-operator').map((p) => p.metadata.name);
      return names.some((n) => leaseHolder().startsWith(`${n}_`));
    });

    cluster.helm(['uninstall', RELEASE, '-n', OPERATOR_NS, '--wait', '--timeout', '3m']);
    const left = cluster.kubectl(['get', 'deployments,serviceaccounts,roles,rolebindings', '-n', OPERATOR_NS, '-l', `app.kubernetes.io/instance=${RELEASE}`, '-o', 'name']).trim();
    assert.equal(left, '', 'the release leaves nothing in its namespace');
    const clusterWide = cluster.kubectl(['get', 'clusterroles,clusterrolebindings', '-o', 'name']).split('\n').filter((n) => n.includes(RELEASE));
    assert.deepEqual(clusterWide, [], 'nor cluster-wide');
    await eventually('operator pods gone', 120_000, () => pods(OPERATOR_NS, 'app.kubernetes.io/name=relay-operator').length === 0);
    assert.match(cluster.kubectl(['get', 'crd', 'relayhubs.relayoperator.io', '-o', 'name']), /relayhubs/, 'CRDs stay (Helm never deletes them)');
    assert.equal(cluster.kubectl(['get', 'relayhubs', '-n', MAIL_NS, '-o', 'name']).trim().split('\n').length, 2, 'the hubs stay');
    const claims = cluster.json<{ items: { status: { phase: string } }[] }>(['get', 'pvc', '-n', MAIL_NS]).items;
    assert.ok(claims.length >= 3 && claims.every((c) => c.status.phase === 'Bound'), 'the spool volumes stay, with their mail');
  });
});

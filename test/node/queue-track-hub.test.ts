/*
 * test/node/queue-track-hub - `relay-operator queue --hub` and `track --hub` against a hub of
 * two relay pods on a real node, as an administrator runs them from a workstation: the CLI
 * finds the pods through the API and reaches each through pods/portforward, with a user that
 * has only the RBAC docs/operations.md lists (list pods; get and create pods/portforward).
 *
 * The next hop refuses the mail for now (451 to every recipient, as a smart host that is down
 * for maintenance answers), so both pods keep it deferred for the full backoff (10 minutes):
 * `queue list --hub` shows the next hop from both pods; the next hop comes back; `queue retry
 * POD/ID` sends that one message at once, `queue retry --next-hop` the rest; `track --hub`
 * finds each message's RECEIVE, DEFER and SEND, merged by time with the pod that logged it.
 * Run by test/node/run.ts (npm run test:node).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { runCli } from '../support/cli.ts';
import { startCapturePeer, type CapturePeer } from '../support/smtp-peers.ts';
import { eventually, message, nodeTestCluster, smtpFromPod, type NodeTestCluster } from '../support/node-cluster.ts';

const SINK_HOST = '192.0.2.1';
const SINK_PORT = 2528;
const RELEASE = 'relay-operator';
const OPERATOR_NS = 'relay-system';
const NS = 'queues';
const HUB = 'hub-q';
const RECIPIENTS = ['r0@example.org', 'r1@example.org', 'r2@example.org', 'r3@example.org'];

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { containers: { ports?: { name: string; containerPort: number }[] }[] };
  status: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}
interface QueueRow { pod: string; nextHop: string; count: number; byState: Record<string, number> }
interface MessageRow { id: string; pod: string; state: string; sender: string }
interface TrackRow { pod: string; 'event-id': string; 'recipient-address': string[] }

function manifests(clientIP: string): string {
  return `apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: ${HUB}, namespace: ${NS}}
spec:
  replicas: 2
  fqdn: ${HUB}.example.test
  antiSpam: {spf: false}
  addresses: [{name: relay}]
  queue: {retry: {minBackoff: 10m, maxBackoff: 1h, maxAge: 1d}}
---
apiVersion: relayoperator.io/v1alpha1
kind: ReceiveConnector
metadata: {name: apps, namespace: ${NS}}
spec:
  hubs: [${HUB}]
  usage: Custom
  bindings: ["relay:25"]
  remoteIPRanges: ["${clientIP}/32"]
  permissionGroups: [AnonymousUsers]
  permissions: [{principal: Anonymous, allow: [AcceptAnyRecipient]}]
---
apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata: {name: to-sink, namespace: ${NS}}
spec:
  hubs: [${HUB}]
  addressSpaces: [{domain: "*"}]
  smartHosts: ["${SINK_HOST}:${SINK_PORT}"]
  tls: {mode: None}
`;
}

/** The RBAC docs/operations.md gives an operator of queues: nothing more. */
const QUEUE_READER_RBAC = `apiVersion: v1
kind: ServiceAccount
metadata: {name: queue-admin, namespace: ${NS}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: relay-queue-admin, namespace: ${NS}}
rules:
  - apiGroups: [""]
    resources: [pods]
    verbs: [list]
  - apiGroups: [""]
    resources: [pods/portforward]
    verbs: [get, create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: relay-queue-admin, namespace: ${NS}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: relay-queue-admin}
subjects: [{kind: ServiceAccount, name: queue-admin, namespace: ${NS}}]
`;

describe('queue and track across the pods of a hub on a real node', () => {
  let cluster: NodeTestCluster;
  let sink: CapturePeer;
  let dir = '';
  let kubeconfig = '';
  const cli = async (args: string[]): Promise<{ status: number; stdout: string; stderr: string }> => runCli([...args, '--hub', HUB, '-n', NS, '--kubeconfig', kubeconfig]);
  const json = async <T>(args: string[]): Promise<T> => {
    const r = await cli([...args, '--json']);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const ready = (p: PodJson): boolean => !p.metadata.deletionTimestamp && p.status.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const hubPods = (): PodJson[] => cluster.json<{ items: PodJson[] }>(['get', 'pods', '-n', NS, '-l', `relayoperator.io/hub=${HUB}`]).items;
  const refusing = (): Promise<CapturePeer> => startCapturePeer({ host: SINK_HOST, port: SINK_PORT, refuse: Object.fromEntries(RECIPIENTS.map((r) => [r, '451 4.3.2 down for maintenance, try later'])) });

  before(async () => {
    cluster = await nodeTestCluster();
    sink = await refusing();
    dir = mkdtempSync(join(tmpdir(), 'queue-track-hub-'));
  });
  after(async () => {
    await sink?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a hub of two pods holds mail its next hop refuses; a user with only the documented RBAC can reach both', async () => {
    if (cluster.tryKubectl(['get', 'deployment', '-n', OPERATOR_NS, 'relay-operator']).status !== 0) cluster.installChart(RELEASE, OPERATOR_NS);
    cluster.kubectl(['create', 'namespace', NS]);
    cluster.kubectl(['run', 'mail-client', '-n', NS, `--image=${cluster.imageRef}`, '--image-pull-policy=Never', '--restart=Never', '--command', '--', 'node', '-e', 'setInterval(() => {}, 1 << 30)']);
    const client = await eventually('client pod Ready', 120_000, () => {
      const p = cluster.json<PodJson>(['get', 'pod', '-n', NS, 'mail-client']);
      return ready(p) && p;
    });
    cluster.kubectl(['apply', '-f', '-'], manifests(client.status.podIP!));
    const pods = await eventually(`${HUB}: two relay pods Ready`, 240_000, () => {
      const list = hubPods();
      return list.length === 2 && list.every(ready) && list;
    });

    // A kubeconfig for the ServiceAccount that holds only the documented Role.
    cluster.kubectl(['apply', '-f', '-'], QUEUE_READER_RBAC);
    const token = cluster.kubectl(['create', 'token', '-n', NS, 'queue-admin']).trim();
    const admin = new KubeConfig();
    admin.loadFromFile(cluster.kubeconfig);
    const server = admin.getCurrentCluster()!;
    kubeconfig = join(dir, 'queue-admin.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'queue-admin',
      clusters: [{ name: 'test', cluster: { server: server.server, ...(server.caData ? { 'certificate-authority-data': server.caData } : {}), ...(server.caFile ? { 'certificate-authority': server.caFile } : {}), ...(server.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}) } }],
      users: [{ name: 'queue-admin', user: { token } }],
      contexts: [{ name: 'queue-admin', context: { cluster: 'test', user: 'queue-admin', namespace: NS } }],
    }));
    assert.equal(cluster.tryKubectl(['--kubeconfig', kubeconfig, 'get', 'statefulsets', '-n', NS]).status !== 0, true, 'the user can do nothing more than the Role says');

    // Two messages through each pod, sent to the pod itself.
    let n = 0;
    for (const p of pods) {
      const port = p.spec.containers[0]!.ports!.find((port) => port.name === 'smtp-0')!.containerPort;
      for (let i = 0; i < 2; i += 1) {
        const to = RECIPIENTS[n] as string;
        const outcome = smtpFromPod(cluster, NS, 'mail-client', p.status.podIP!, port, message('app@contoso.test', to, `queued-${n}`));
        assert.match(outcome.replies[5] ?? '', /^250 /, `${p.metadata.name}: accepted (${JSON.stringify(outcome)})`);
        n += 1;
      }
    }
    const names = pods.map((p) => p.metadata.name).sort();
    const queues = await eventually('both pods show the next hop with two deferred messages', 60_000, async () => {
      const rows = (await json<{ queues: QueueRow[] }>(['queue', 'list'])).queues;
      return rows.length === 2 && rows.every((r) => r.byState.deferred === 2) && rows;
    });
    assert.deepEqual(queues.map((q) => [q.pod, q.nextHop, q.count]), names.map((pod) => [pod, `${NS}/to-sink`, 2]));
    const table = await cli(['queue', 'list']);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^POD\s+NEXT HOP\s+COUNT\s+DEFERRED/);
    for (const pod of names) assert.match(table.stdout, new RegExp(`\\n${pod}\\s+${NS}/to-sink\\s+2\\s+2\\s`));
  });

  test('the next hop comes back: queue retry POD/ID sends that message at once, retry --next-hop the rest; track --hub finds every event with its pod', async () => {
    const messages = (await json<{ messages: MessageRow[] }>(['queue', 'list', '--messages'])).messages;
    assert.equal(messages.length, 4);
    for (const m of messages) assert.match(m.id, new RegExp(`^${m.pod}/[0-9a-f]+$`), 'ids are POD/ID');
    const first = messages[0]!;
    const shown = await json<{ id: string; recipientStates: { lastReply?: string }[] }>(['queue', 'show', first.id]);
    assert.equal(shown.id, first.id);
    assert.match(shown.recipientStates[0]?.lastReply ?? '', /451 4\.3\.2/);

    await sink.stop();
    sink = await startCapturePeer({ host: SINK_HOST, port: SINK_PORT });
    const retried = await cli(['queue', 'retry', first.id]);
    assert.equal(retried.status, 0, retried.stderr);
    assert.match(retried.stdout, new RegExp(`^${first.id}: `));
    await eventually('the retried message at the sink', 30_000, () => sink.messages.length === 1);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(sink.messages.length, 1, 'the others wait for their backoff');

    const rest = await cli(['queue', 'retry', '--next-hop', `${NS}/to-sink`]);
    assert.equal(rest.status, 0, rest.stderr);
    for (const pod of new Set(messages.map((m) => m.pod))) assert.match(rest.stdout, new RegExp(`${pod}: next hop ${NS}/to-sink: \\d deferred messages due now`));
    await eventually('all four messages at the sink', 30_000, () => sink.messages.length === 4);
    await eventually('both pods\' queues empty', 30_000, async () => (await json<{ queues: QueueRow[] }>(['queue', 'list'])).queues.length === 0);

    const sends = await eventually('every SEND in the tracking logs', 30_000, async () => {
      const r = await cli(['track', '--event', 'SEND', '--since', '1h', '--json']);
      assert.equal(r.status, 0, r.stderr);
      const rows = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as TrackRow);
      return rows.length === 4 && rows;
    });
    assert.deepEqual(new Set(sends.map((s) => s.pod)), new Set(messages.map((m) => m.pod)), 'from both pods');
    const r2 = await cli(['track', '--recipient', RECIPIENTS[2]!]);
    assert.equal(r2.status, 0, r2.stderr);
    const lines = r2.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^POD\s+TIMESTAMP\s+EVENT/);
    // RECEIVE, DEFER (the 451), DEFER (the administrator's retry, with who did it), SEND
    const events = lines.slice(1).map((l) => l.split(/\s+/)[2]);
    assert.equal(events[0], 'RECEIVE', r2.stdout);
    assert.equal(events.at(-1), 'SEND', r2.stdout);
    assert.ok(events.includes('DEFER'), r2.stdout);
    assert.equal(new Set(lines.slice(1).map((l) => l.split(/\s+/)[0])).size, 1, 'one message, one pod');
  });
});

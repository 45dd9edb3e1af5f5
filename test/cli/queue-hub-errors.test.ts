/*
 * `relay-operator queue --hub` / `track --hub` against the real API server when the hub cannot
 * be asked: no such hub, pods that are not Running, a pod id the hub does not have, a user
 * without `list` on pods, a user without pods/portforward. Each says what is wrong and what to
 * grant, exit 1. (Reaching Running pods needs a kubelet: test/node/queue-track-hub.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { runCli } from '../support/cli.ts';
import { useTestNamespaces, type TestCluster } from '../support/cluster.ts';

const ns = `qhub-${randomBytes(3).toString('hex')}`;
let cluster: TestCluster;
const dir = mkdtempSync(join(tmpdir(), 'queue-hub-errors-'));

useTestNamespaces([ns], {
  ready: (c) => {
    cluster = c;
  },
  beforeStop: () => rmSync(dir, { recursive: true, force: true }),
});

/** A kubeconfig for ServiceAccount `name` of the test namespace, holding `rules` (if any). */
function userWith(name: string, rules: string | null): string {
  cluster.kubectl(['create', 'serviceaccount', '-n', ns, name]);
  if (rules) {
    cluster.kubectl(['apply', '-f', '-'], `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ${name}, namespace: ${ns}}
rules:
${rules}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ${name}, namespace: ${ns}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ${name}}
subjects: [{kind: ServiceAccount, name: ${name}, namespace: ${ns}}]
`);
  }
  const token = cluster.kubectl(['create', 'token', '-n', ns, name]).trim();
  const admin = new KubeConfig();
  admin.loadFromFile(cluster.kubeconfig);
  const server = admin.getCurrentCluster()!;
  const file = join(dir, `${name}.kubeconfig`);
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': name,
    clusters: [{ name: 'test', cluster: { server: server.server, ...(server.caData ? { 'certificate-authority-data': server.caData } : {}), ...(server.caFile ? { 'certificate-authority': server.caFile } : {}), ...(server.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}) } }],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: 'test', user: name, namespace: ns } }],
  }));
  return file;
}

/** A pod of hub `hub` as the StatefulSet would label it; Running only by a status patch (no kubelet here). */
function hubPod(hub: string, ordinal: number, running: boolean): string {
  const name = `${hub}-relay-${ordinal}`;
  cluster.kubectl(['apply', '-f', '-'], `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: {app.kubernetes.io/name: relay, relayoperator.io/hub: ${hub}}}
spec: {containers: [{name: relay, image: relay-operator:test}]}
`);
  if (running) cluster.kubectl(['patch', 'pod', '-n', ns, name, '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Running"}}']);
  return name;
}

test('no hub, no Running pod, a pod the hub does not have: exit 1 naming the namespace, the selector and the pods', { timeout: 60_000 }, async () => {
  const kubeconfig = cluster.kubeconfig;
  const none = await runCli(['queue', 'list', '--hub', 'nohub', '-n', ns, '--kubeconfig', kubeconfig]);
  assert.equal(none.status, 1, none.stderr);
  assert.match(none.stderr, new RegExp(`hub ${ns}/nohub has no pods \\(selector app\\.kubernetes\\.io/name=relay,relayoperator\\.io/hub=nohub\\): is the RelayHub in this namespace`));

  hubPod('pend', 0, false);
  const pending = await runCli(['track', '--hub', 'pend', '-n', ns, '--kubeconfig', kubeconfig]);
  assert.equal(pending.status, 1, pending.stderr);
  assert.match(pending.stderr, new RegExp(`hub ${ns}/pend has no Running pod \\(pend-relay-0: Pending\\)`));

  const other = await runCli(['queue', 'show', '--hub', 'pend', '-n', ns, '--kubeconfig', kubeconfig, 'pend-relay-7/0a1b']);
  assert.equal(other.status, 1, other.stderr);
  assert.match(other.stderr, new RegExp(`hub ${ns}/pend has no pod pend-relay-7 \\(its pods: pend-relay-0\\)`));

  const context = await runCli(['queue', 'list', '--hub', 'pend', '--kubeconfig', kubeconfig, '--context', 'nowhere']);
  assert.equal(context.status, 2);
  assert.match(context.stderr, /--context nowhere: no such context in the kubeconfig/);
});

test('RBAC: without list on pods, and without pods/portforward, the command says which to grant', { timeout: 60_000 }, async () => {
  const nobody = userWith('nobody', null);
  const denied = await runCli(['queue', 'list', '--hub', 'hub', '--kubeconfig', nobody]);
  assert.equal(denied.status, 1, denied.stderr);
  assert.match(denied.stderr, new RegExp(`cannot list the pods of hub ${ns}/hub: forbidden: the user needs "list" on pods`), 'the namespace comes from the context');

  const pod = hubPod('ro', 0, true);
  const lister = userWith('lister', '  - {apiGroups: [""], resources: [pods], verbs: [list]}');
  const noForward = await runCli(['queue', 'list', '--hub', 'ro', '--kubeconfig', lister]);
  assert.equal(noForward.status, 1, noForward.stderr);
  assert.match(noForward.stderr, new RegExp(`${pod}: cannot reach the hub at http://127\\.0\\.0\\.1:\\d+/: .*port-forward to pod ${ns}/${pod}: .*403.*the user needs "get" and "create" on pods/portforward`));

  // The admin may forward, but the pod has no node to forward to (Running only by a patch):
  // the pod is named with the API server's reason, for queue and track alike.
  for (const command of [['queue', 'list'], ['track']]) {
    const unreachable = await runCli([...command, '--hub', 'ro', '-n', ns, '--kubeconfig', cluster.kubeconfig]);
    assert.equal(unreachable.status, 1, unreachable.stderr);
    assert.match(unreachable.stderr, new RegExp(`${pod}: cannot reach the hub at http://127\\.0\\.0\\.1:\\d+/: .*port-forward to pod ${ns}/${pod}: `));
  }
});

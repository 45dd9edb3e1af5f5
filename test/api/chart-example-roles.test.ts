/*
 * The chart's example ClusterRoles (templates/example-roles.yaml, issue 17 item 3): off by
 * default; when on, relay-admin may change the four kinds (hub-admin power: docs/security.md) and
 * relay-viewer may only read them, and neither reads Secrets - checked by the real API server's
 * authorizer with a RoleBinding per user in one namespace.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { testCluster, type TestCluster } from '../support/cluster.ts';

const CHART = 'charts/relay-operator';
const NS = 'example-roles';
let cluster: TestCluster;

before(async () => {
  cluster = await testCluster();
  // kubectl auth can-i resolves resource names through discovery: the kinds must exist
  cluster.kubectl(['apply', '--server-side', '-f', 'crds/']);
  cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', 'crds/']);
  cluster.tryKubectl(['create', 'namespace', NS]);
});
after(async () => {
  cluster?.tryKubectl(['delete', 'namespace', NS, '--wait=false']);
  cluster?.tryKubectl(['delete', 'clusterrole', 'relay-admin', 'relay-viewer']);
  await cluster?.stop();
});

const template = (args: string[]): string =>
  execFileSync(join(cluster.binDir, 'helm'), ['template', 'relay', CHART, '--namespace', 'relay-system', '--kube-version', '1.36.3', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('off by default: no example role is rendered', () => {
  assert.doesNotMatch(template([]), /name: relay-(admin|viewer)\b/);
});

test('exampleRoles.enabled: relay-admin changes the four kinds, relay-viewer reads them, neither reads Secrets', async () => {
  const rendered = template(['--set', 'exampleRoles.enabled=true', '--show-only', 'templates/example-roles.yaml']);
  assert.match(rendered, /name: relay-admin\b/);
  assert.match(rendered, /name: relay-viewer\b/);
  const applied = cluster.tryKubectl(['apply', '-f', '-'], rendered);
  assert.equal(applied.status, 0, applied.stderr);
  cluster.kubectl(['create', 'rolebinding', 'admins', '--clusterrole=relay-admin', '--user=alice', '-n', NS]);
  cluster.kubectl(['create', 'rolebinding', 'viewers', '--clusterrole=relay-viewer', '--user=victor', '-n', NS]);
  const can = (user: string, verb: string, resource: string, subresource?: string): boolean =>
    cluster.tryKubectl(['auth', 'can-i', verb, resource, '--as', user, '-n', NS, ...(subresource ? [`--subresource=${subresource}`] : [])]).status === 0;
  // the RBAC authorizer sees new bindings through its informers: wait for the first one
  for (let i = 0; i < 50 && !(can('alice', 'create', 'relayhubs.relayoperator.io') && can('victor', 'list', 'relayhubs.relayoperator.io')); i++) await sleep(100);
  for (const kind of ['relayhubs', 'receiveconnectors', 'accepteddomains', 'sendconnectors']) {
    assert.ok(can('alice', 'create', `${kind}.relayoperator.io`), `relay-admin cannot create ${kind}`);
    assert.ok(can('victor', 'list', `${kind}.relayoperator.io`), `relay-viewer cannot list ${kind}`);
    assert.ok(!can('victor', 'create', `${kind}.relayoperator.io`), `relay-viewer can create ${kind}`);
    assert.ok(!can('victor', 'patch', `${kind}.relayoperator.io`), `relay-viewer can patch ${kind}`);
  }
  assert.ok(!can('alice', 'patch', 'receiveconnectors.relayoperator.io', 'status'), 'status is the operator\'s to write');
  assert.ok(!can('alice', 'get', 'secrets'), 'relay-admin reads Secrets');
  assert.ok(!can('victor', 'get', 'secrets'), 'relay-viewer reads Secrets');
});

/*
 * The Helm chart: lints, renders, and what it renders is accepted by the real API server;
 * its CRDs are the ones in crds/ (the API has one source of truth).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { testCluster, type TestCluster } from '../support/cluster.ts';

const CHART = 'charts/relay-operator';
let cluster: TestCluster;

before(async () => {
  cluster = await testCluster();
});
after(async () => {
  await cluster?.stop();
});

const helm = (args: string[]): string => execFileSync(join(cluster.binDir, 'helm'), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('the chart CRDs are byte-identical to crds/', () => {
  const top = readdirSync('crds').filter((f) => f.endsWith('.yaml')).sort();
  assert.deepEqual(readdirSync(join(CHART, 'crds')).sort(), top);
  for (const file of top) assert.equal(readFileSync(join(CHART, 'crds', file), 'utf8'), readFileSync(join('crds', file), 'utf8'), `${file} differs: cp crds/*.yaml ${CHART}/crds/`);
});

test('helm lint passes and the rendered chart is accepted by the API server', () => {
  assert.match(helm(['lint', CHART]), /1 chart\(s\) linted, 0 chart\(s\) failed/);
  const rendered = helm(['template', 'relay', CHART, '--namespace', 'relay-system', '--kube-version', '1.36.3', '--include-crds', '--set', 'watchNamespace=mail']);
  assert.match(rendered, /- --namespace\n\s+- mail/);
  cluster.tryKubectl(['create', 'namespace', 'relay-system']);
  cluster.tryKubectl(['create', 'namespace', 'mail']);
  // watchNamespace set: the operator's rules are a Role in that namespace, nothing cluster-wide.
  const applied = cluster.tryKubectl(['apply', '--dry-run=server', '-f', '-'], rendered);
  assert.equal(applied.status, 0, applied.stderr);
  assert.match(applied.stdout, /deployment\.apps\/relay-operator created \(server dry run\)/);
  assert.match(applied.stdout, /role\.rbac\.authorization\.k8s\.io\/relay-relay-operator created/);
  assert.doesNotMatch(applied.stdout, /clusterrole/);
  // watchNamespace empty: the same rules in a ClusterRole.
  const clusterWide = cluster.tryKubectl(['apply', '--dry-run=server', '-f', '-'], helm(['template', 'relay', CHART, '--namespace', 'relay-system', '--kube-version', '1.36.3']));
  assert.equal(clusterWide.status, 0, clusterWide.stderr);
  assert.match(clusterWide.stdout, /clusterrole\.rbac\.authorization\.k8s\.io\/relay-relay-operator created/);
});

test('imagePullSecrets from the values reach the operator pod', () => {
  const rendered = helm(['template', 'relay', CHART, '--namespace', 'relay-system', '--kube-version', '1.36.3', '--set', 'imagePullSecrets[0].name=registry-creds']);
  assert.match(rendered, /imagePullSecrets:\n\s+- name: registry-creds\n/);
  assert.doesNotMatch(helm(['template', 'relay', CHART, '--namespace', 'relay-system', '--kube-version', '1.36.3']), /imagePullSecrets/);
});

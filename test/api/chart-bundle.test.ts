/*
 * The plain bundle examples/deploy/relay-operator.yaml equals a fresh render of the chart, and
 * `kubectl apply --server-side -f crds/ -f examples/deploy/` is accepted by the API server.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { testCluster, type TestCluster } from '../support/cluster.ts';
import { BUNDLE_FILE, BUNDLE_NAMESPACE, renderBundle } from './chart-bundle.ts';

let cluster: TestCluster;
before(async () => {
  cluster = await testCluster();
});
after(async () => {
  await cluster?.stop();
});

test('the committed bundle is a fresh render of the chart', () => {
  assert.equal(readFileSync(BUNDLE_FILE, 'utf8'), renderBundle(cluster.binDir), 'run: npm run bundle');
});

test('crds/ and examples/deploy/ apply server-side as the docs say', () => {
  cluster.kubectl(['apply', '--server-side', '-f', 'crds/']);
  // the namespace first: a server-side dry run checks namespaced objects against existing namespaces
  cluster.tryKubectl(['create', 'namespace', BUNDLE_NAMESPACE]);
  const applied = cluster.tryKubectl(['apply', '--server-side', '--dry-run=server', '-f', 'crds/', '-f', 'examples/deploy/']);
  assert.equal(applied.status, 0, applied.stderr);
  assert.match(applied.stdout, /deployment\.apps\/relay-operator serverside-applied \(server dry run\)/);
  assert.match(applied.stdout, /clusterrole\.rbac\.authorization\.k8s\.io\/relay-relay-operator serverside-applied \(server dry run\)/);
});

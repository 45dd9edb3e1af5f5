/*
 * Several owners of one range list: remoteIPRanges is a set (x-kubernetes-list-type: set), so
 * under server-side apply each field manager owns the entries it applied. Two GitOps sources
 * (here `kubectl apply --server-side --field-manager team-a` and `team-b`) add to one connector
 * without overwriting each other, and dropping an entry from one manager's manifest removes
 * only that entry. The README's add/remove commands are run as written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { useTestNamespaces, type TestCluster } from '../support/cluster.ts';

const NAMESPACE = 'range-owners';
let cluster: TestCluster;
useTestNamespaces([NAMESPACE], { crds: true, ready: (c) => { cluster = c; } });

/** The manifest one team keeps in its repository: only the fields it owns. */
function teamManifest(spec: Record<string, unknown>): string {
  return stringify({ apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'copiers', namespace: NAMESPACE }, spec });
}

const applyAs = (manager: string, manifest: string): void => {
  cluster.kubectl(['apply', '--server-side', '--field-manager', manager, '-f', '-'], manifest);
};

const ranges = (): string[] =>
  (JSON.parse(cluster.kubectl(['get', 'receiveconnector', 'copiers', '-n', NAMESPACE, '-o', 'json'])) as { spec: { remoteIPRanges: string[] } }).spec.remoteIPRanges;

test('two field managers each own their remoteIPRanges entries; removing one leaves the other', () => {
  applyAs('team-a', teamManifest({ hubs: ['east'], bindings: ['0.0.0.0:25'], permissionGroups: ['AnonymousUsers'], remoteIPRanges: ['192.168.1.100', '192.168.1.101'] }));
  applyAs('team-b', teamManifest({ remoteIPRanges: ['10.20.0.0/16'] }));
  assert.deepEqual(ranges().sort(), ['10.20.0.0/16', '192.168.1.100', '192.168.1.101']);

  // team-a drops one of its entries: team-b's entry stays
  applyAs('team-a', teamManifest({ hubs: ['east'], bindings: ['0.0.0.0:25'], permissionGroups: ['AnonymousUsers'], remoteIPRanges: ['192.168.1.100'] }));
  assert.deepEqual(ranges().sort(), ['10.20.0.0/16', '192.168.1.100']);

  // team-b gives up its only entry: team-a's stays
  applyAs('team-b', teamManifest({}));
  assert.deepEqual(ranges(), ['192.168.1.100']);
});

test('README: one range added and removed with kubectl patch, without touching the others', () => {
  applyAs('team-a', teamManifest({ hubs: ['east'], bindings: ['0.0.0.0:25'], permissionGroups: ['AnonymousUsers'], remoteIPRanges: ['192.168.1.100'] }));
  cluster.kubectl(['patch', 'receiveconnector', 'copiers', '-n', NAMESPACE, '--type=json', '-p', '[{"op":"add","path":"/spec/remoteIPRanges/-","value":"192.168.1.200"}]']);
  assert.deepEqual(ranges(), ['192.168.1.100', '192.168.1.200']);
  // the same entry twice is refused: a set holds each entry once
  const duplicate = cluster.tryKubectl(['patch', 'receiveconnector', 'copiers', '-n', NAMESPACE, '--type=json', '-p', '[{"op":"add","path":"/spec/remoteIPRanges/-","value":"192.168.1.200"}]']);
  assert.notEqual(duplicate.status, 0);
  assert.match(duplicate.stderr, /Duplicate value: "192\.168\.1\.200"/);
  // remove by value: test that the entry is where we think, then remove it
  const index = ranges().indexOf('192.168.1.200');
  cluster.kubectl(['patch', 'receiveconnector', 'copiers', '-n', NAMESPACE, '--type=json', '-p', JSON.stringify([
    { op: 'test', path: `/spec/remoteIPRanges/${index}`, value: '192.168.1.200' },
    { op: 'remove', path: `/spec/remoteIPRanges/${index}` },
  ])]);
  assert.deepEqual(ranges(), ['192.168.1.100']);
});

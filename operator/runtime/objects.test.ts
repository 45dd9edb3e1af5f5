import { test } from 'node:test';
import assert from 'node:assert/strict';
import { controllerOwnerKey, deepFreeze, objectKey, splitKey } from './objects.ts';

void test('keys are namespace/name, or name for cluster-scoped objects, and split back', () => {
  assert.equal(objectKey({ metadata: { name: 'a', namespace: 'mail' } }), 'mail/a');
  assert.equal(objectKey({ metadata: { name: 'node-1' } }), 'node-1');
  assert.deepEqual(splitKey('mail/a'), { namespace: 'mail', name: 'a' });
  assert.deepEqual(splitKey('node-1'), { namespace: '', name: 'node-1' });
});

void test('controllerOwnerKey maps an owned object to its controlling owner of the right kind and group', () => {
  const owned = {
    metadata: {
      name: 'hub-east-config', namespace: 'mail', ownerReferences: [
        { apiVersion: 'v1', kind: 'ConfigMap', name: 'other', uid: '1' },
        { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', name: 'east', uid: '2', controller: true },
      ],
    },
  };
  assert.equal(controllerOwnerKey(owned, { group: 'relayoperator.io', kind: 'RelayHub' }), 'mail/east');
  assert.equal(controllerOwnerKey(owned, { group: 'relayoperator.io', kind: 'ReceiveConnector' }), undefined);
  assert.equal(controllerOwnerKey(owned, { group: 'apps', kind: 'RelayHub' }), undefined);
  assert.equal(controllerOwnerKey(owned, { group: 'relayoperator.io', kind: 'RelayHub', clusterScoped: true }), 'east');
  assert.equal(controllerOwnerKey({ metadata: { name: 'x' } }, { group: '', kind: 'ConfigMap' }), undefined);
});

void test('deepFreeze freezes nested objects and arrays', () => {
  const obj = deepFreeze({ metadata: { labels: { a: 'b' } }, list: [{ x: 1 }] });
  assert.throws(() => {
    (obj.metadata.labels as Record<string, string>).a = 'c';
  }, TypeError);
  assert.throws(() => (obj.list as unknown[]).push(1), TypeError);
});

/*
 * The Secret cache keeps key names, never values: what the operator's memory may hold of a
 * Secret (issue 17, item 4). Render must still tell a present key from a missing one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RelayHub } from '../api/types.generated.ts';
import { secretValue, type NamespaceObjects, type SecretObject } from '../render/inputs.ts';
import { renderHub } from '../render/render.ts';
import type { KubeObject } from '../runtime/objects.ts';
import * as caches from './caches.ts';

const VALUES = ['c2VjcmV0LWtleS1tYXRlcmlhbA==', 'secret-key-material', 'hunter2', 'aHVudGVyMg=='];

/** A Secret as a LIST or watch event carries it after `kubectl apply` (client-side). */
const applied: KubeObject & Record<string, unknown> = {
  apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
  metadata: {
    name: 'east-tls', namespace: 'mail', uid: 'u1', resourceVersion: '42', labels: { team: 'mail' },
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ data: { 'tls.key': VALUES[0] }, stringData: { users: VALUES[2] } }) },
    managedFields: [{ manager: 'kubectl-client-side-apply', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:tls.key': {} } } }],
  },
  data: { 'tls.crt': VALUES[0], 'tls.key': VALUES[0] },
  stringData: { users: VALUES[2] },
};

const transform = (): ((obj: KubeObject) => KubeObject) => {
  // A missing export fails here with a message, not with a TypeError further down.
  const fn = (caches as Record<string, unknown>).secretKeysOnly;
  assert.equal(typeof fn, 'function', 'caches.ts exports secretKeysOnly, the transform of the Secret informer');
  return fn as (obj: KubeObject) => KubeObject;
};

test('a cached Secret holds no value: not in data, stringData, the last-applied annotation or managedFields', () => {
  const kept = transform()(applied);
  const text = JSON.stringify(kept);
  for (const value of VALUES) assert.ok(!text.includes(value), `cached Secret contains ${value}: ${text}`);
  assert.equal(kept.metadata?.annotations, undefined);
  assert.equal(kept.metadata?.managedFields, undefined);
  assert.deepEqual(kept.metadata, { name: 'east-tls', namespace: 'mail', uid: 'u1', resourceVersion: '42', labels: { team: 'mail' } });
  assert.deepEqual(Object.keys((kept as { data?: object }).data ?? {}).sort(), ['tls.crt', 'tls.key', 'users']);
  assert.ok(Object.isFrozen(applied) === false && (applied.data as Record<string, string>)['tls.key'] === VALUES[0], 'the input is not modified');
});

test('render still tells a present key from a missing one on cached Secrets', () => {
  const keepOnly = transform();
  const cached = [keepOnly(applied), keepOnly({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'no-key', namespace: 'mail' }, data: { 'tls.crt': VALUES[0] } } as KubeObject)] as unknown as SecretObject[];
  const objects = (tlsSecret: string): NamespaceObjects => ({
    namespace: 'mail', receiveConnectors: [], acceptedDomains: [], sendConnectors: [], secrets: cached,
    hubs: [{ apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: 'east', namespace: 'mail' }, spec: { fqdn: 'east.example.com', tls: { secretName: tlsSecret } } }],
  });
  assert.ok(secretValue(objects('east-tls'), 'east-tls', 'tls.key'), 'a kept key is present');
  assert.equal(secretValue(objects('east-tls'), 'east-tls', 'nope'), undefined);
  const ok = renderHub(objects('east-tls').hubs[0] as RelayHub, objects('east-tls'), { mode: 'pod', secretFile: (s, k) => `/etc/relay/secrets/${s}/${k}` });
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.config.hub.tls?.certFile, '/etc/relay/secrets/east-tls/tls.crt');
  const missing = renderHub(objects('no-key').hubs[0] as RelayHub, objects('no-key'), { mode: 'pod', secretFile: (s, k) => `/etc/relay/secrets/${s}/${k}` });
  assert.match(JSON.stringify(missing.problems), /Secret no-key has no key \\"tls.key\\"/);
});

/*
 * The objects a hub owns, field by field: what users and kube-proxy depend on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import type { RelayHub, ReceiveConnector } from '../api/types.generated.ts';
import type { NamespaceObjects } from '../render/inputs.ts';
import { renderHub } from '../render/render.ts';
import { desiredHubObjects, type KubeObject } from './hub-objects.ts';
import { ANNOTATION_RESTART_HASH, SECRETS_MOUNT } from './names.ts';

const hub: RelayHub = {
  apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub',
  metadata: { name: 'east', namespace: 'mail', uid: 'uid-east' },
  spec: { replicas: 3, fqdn: 'east.example.com', addresses: [{ name: 'relay', ip: '192.168.1.17' }], tls: { secretName: 'east-tls' } },
};
const connector = (name: string, ranges: string[], bindings: string[]): ReceiveConnector => ({
  apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector',
  metadata: { name, namespace: 'mail', creationTimestamp: `2026-01-0${name.length % 9}T00:00:00Z` },
  spec: { hubs: ['east'], bindings, remoteIPRanges: ranges, permissionGroups: ['AnonymousUsers'] },
});
const objects = (connectors: ReceiveConnector[]): NamespaceObjects => ({
  namespace: 'mail', hubs: [hub], receiveConnectors: connectors, acceptedDomains: [], sendConnectors: [],
  secrets: [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'east-tls' }, stringData: { 'tls.crt': 'x', 'tls.key': 'y' } }],
});
const build = (connectors: ReceiveConnector[]): KubeObject[] => {
  const rendered = renderHub(hub, objects(connectors), { mode: 'pod', secretFile: (n, k) => `${SECRETS_MOUNT}/${n}/${k}` });
  return desiredHubObjects(hub, rendered.config);
};
const find = (list: KubeObject[], kind: string, name: string): KubeObject & { spec?: Record<string, unknown> } => {
  const found = list.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind} ${name} missing (have ${list.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')})`);
  return found;
};

test('one Service per hub address, pinned IP through MetalLB, each binding port to its own container port', () => {
  const list = build([connector('copiers', ['192.168.1.100'], ['relay:25', 'relay:587']), connector('apps', ['10.0.0.0/8'], ['0.0.0.0:2525'])]);
  const relay = find(list, 'Service', 'east-relay');
  assert.equal(relay.metadata.annotations?.['metallb.io/loadBalancerIPs'], '192.168.1.17');
  assert.equal(relay.spec?.externalTrafficPolicy, 'Local');
  assert.equal(relay.spec?.type, 'LoadBalancer');
  assert.equal(relay.spec?.loadBalancerIP, undefined, 'the deprecated field is set only when asked');
  const sts = find(list, 'StatefulSet', 'east-relay') as { spec?: { template: { spec: { containers: Array<{ ports: Array<{ name: string; containerPort: number }> }> } } } } & KubeObject;
  const containerPorts = new Map(sts.spec?.template.spec.containers[0]?.ports.map((p) => [p.name, p.containerPort]));
  const ports = relay.spec?.ports as Array<{ port: number; targetPort: string }>;
  assert.deepEqual(ports.map((p) => p.port), [25, 587]);
  const targets = ports.map((p) => containerPorts.get(p.targetPort));
  assert.equal(new Set(targets).size, 2, 'each binding reaches its own container port');
  const defaults = find(list, 'Service', 'east-default');
  assert.deepEqual((defaults.spec?.ports as Array<{ port: number }>).map((p) => p.port), [2525]);
  assert.equal(defaults.metadata.annotations?.['metallb.io/loadBalancerIPs'], undefined);
});

test('everything is owned by the hub, and the pod runs non-root with a read-only root filesystem', () => {
  const list = build([connector('copiers', ['192.168.1.100'], ['relay:25'])]);
  for (const object of list) {
    assert.deepEqual(object.metadata.ownerReferences, [{ apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', name: 'east', uid: 'uid-east', controller: true, blockOwnerDeletion: true }], `${object.kind}/${object.metadata.name}`);
  }
  const sts = JSON.stringify(find(list, 'StatefulSet', 'east-relay'));
  assert.match(sts, /"runAsNonRoot":true/);
  assert.match(sts, /"readOnlyRootFilesystem":true/);
  assert.match(sts, /"secretName":"east-tls"/);
  assert.match(sts, /"terminationGracePeriodSeconds":75/);
  assert.ok(find(list, 'PodDisruptionBudget', 'east-relay'));
});

test('the relay Role lets a relay patch only the report Leases of its own pods, by name, following the replicas, get its own StatefulSet, and no pod', () => {
  const objectsFor = (replicas: number): KubeObject[] => {
    const scaled: RelayHub = { ...hub, spec: { ...hub.spec, replicas } };
    const rendered = renderHub(scaled, { ...objects([]), hubs: [scaled] }, { mode: 'pod', secretFile: (n, k) => `${SECRETS_MOUNT}/${n}/${k}` });
    return desiredHubObjects(scaled, rendered.config);
  };
  const STATEFULSET_GET = { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get'], resourceNames: ['east-relay'] };
  const allRules = (replicas: number): Array<Record<string, unknown>> =>
    (find(objectsFor(replicas), 'Role', 'east-relay') as KubeObject & { rules: Array<Record<string, unknown>> }).rules;
  // the hand-off decision's one read (operator/resources/hand-off.ts), in every Role
  for (const replicas of [0, 1, 3]) assert.deepEqual(allRules(replicas).filter((r) => (r.apiGroups as string[])[0] === 'apps'), [STATEFULSET_GET]);
  const roleFor = (replicas: number): Array<Record<string, unknown>> => allRules(replicas).filter((r) => (r.apiGroups as string[])[0] !== 'apps');
  // hub east, replicas 3: the StatefulSet east-relay makes pods east-relay-0..2, each with its Lease
  assert.deepEqual(roleFor(3), [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['patch'], resourceNames: ['east-relay-0', 'east-relay-1', 'east-relay-2'] }]);
  assert.deepEqual(objectsFor(3).filter((o) => o.kind === 'Lease').map((o) => o.metadata.name), ['east-relay-0', 'east-relay-1', 'east-relay-2'], 'the operator creates the Leases the relay may patch');
  assert.deepEqual(roleFor(5)[0]?.resourceNames, ['east-relay-0', 'east-relay-1', 'east-relay-2', 'east-relay-3', 'east-relay-4'], 're-rendered on scale');
  // an empty resourceNames would grant every Lease of the namespace
  assert.deepEqual(roleFor(0), []);
  assert.deepEqual(objectsFor(0).filter((o) => o.kind === 'Lease'), []);
  for (const replicas of [0, 1, 3]) {
    for (const rule of roleFor(replicas)) {
      assert.ok(Array.isArray(rule.resourceNames) && rule.resourceNames.length > 0, 'no rule without resourceNames');
      assert.deepEqual(rule.verbs, ['patch']);
    }
  }
});

test('a connector change updates the ConfigMap but not the pod template; a new listener does', () => {
  const restartHash = (list: KubeObject[]): string | undefined =>
    (find(list, 'StatefulSet', 'east-relay').spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations[ANNOTATION_RESTART_HASH];
  const configOf = (list: KubeObject[]): unknown => (find(list, 'ConfigMap', 'east-relay-config') as KubeObject & { data?: unknown }).data;
  const before = build([connector('copiers', ['192.168.1.100'], ['relay:25'])]);
  const rangesChanged = build([connector('copiers', ['192.168.1.100', '192.168.1.101'], ['relay:25'])]);
  assert.notDeepEqual(configOf(before), configOf(rangesChanged));
  assert.equal(restartHash(before), restartHash(rangesChanged));
  const newListener = build([connector('copiers', ['192.168.1.100'], ['relay:25', 'relay:587'])]);
  assert.notEqual(restartHash(before), restartHash(newListener));
});

test('100,000 ranges fit the ConfigMap limit compressed', () => {
  const ranges = Array.from({ length: 100_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const list = build([connector('huge', ranges, ['relay:25'])]);
  const cm = find(list, 'ConfigMap', 'east-relay-config') as KubeObject & { binaryData?: Record<string, string> };
  const gz = cm.binaryData?.['config.json.gz'];
  assert.ok(gz, 'large config is stored compressed');
  assert.ok(gz.length < 1024 * 1024, `compressed config is ${gz.length} bytes`);
  const config = JSON.parse(gunzipSync(Buffer.from(gz, 'base64')).toString()) as { connectors: Array<{ remoteIPRanges: string[] }> };
  assert.equal(config.connectors[0]?.remoteIPRanges.length, 100_000);
});

test('spec.imagePullSecrets reach the hub pods; without them the pod spec has none', () => {
  const podSpec = (h: RelayHub): Record<string, unknown> => {
    const rendered = renderHub(h, { ...objects([]), hubs: [h] }, { mode: 'pod', secretFile: (n, k) => `${SECRETS_MOUNT}/${n}/${k}` });
    return (find(desiredHubObjects(h, rendered.config), 'StatefulSet', 'east-relay').spec as { template: { spec: Record<string, unknown> } }).template.spec;
  };
  assert.equal(podSpec(hub).imagePullSecrets, undefined);
  assert.deepEqual(podSpec({ ...hub, spec: { ...hub.spec, imagePullSecrets: [{ name: 'registry-east' }] } }).imagePullSecrets, [{ name: 'registry-east' }]);
});

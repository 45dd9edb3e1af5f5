/*
 * test/operator/reconcile - the operator against a real API server (with kube-controller-manager
 * for garbage collection and StatefulSet pods): what it renders for two hubs and one connector
 * (examples/two-hubs-one-connector.yaml in our namespace), field by field; a connector change
 * reaching the ConfigMap without touching the pod template; conflicts and bad input reported on
 * the connector while the hub keeps serving its other connectors; status conventions
 * (observedGeneration, lastTransitionTime only on flips); children garbage-collected with the hub.
 *
 * There is no kubelet: the test plays the relay's part by annotating pods with the config hash
 * and kubelet's by setting their Ready condition.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import { hashConfig } from '../../relay/config/load.ts';
import type { RenderedConfig } from '../../relay/config/schema.ts';
import type { TestCluster } from '../support/cluster.ts';
import {
  reportPodConfigHash, applyObjects, kubeClient, settleStatefulSet, useOperatorNamespace, until,
} from '../support/operator-process.ts';

const ns = `op-reconcile-${randomBytes(3).toString('hex')}`;
const GROUP = 'relayoperator.io/v1alpha1';
const HUB_A = 'hub-east-a';
const HUB_B = 'hub-east-b';
const CONNECTOR = 'copiers';

interface Condition { type: string; status: string; reason: string; message: string; observedGeneration?: number; lastTransitionTime: string }
interface OwnerReference { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }
interface Meta {
  name: string;
  uid: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}
interface HubStatus { observedGeneration?: number; replicas?: number; readyReplicas?: number; configHash?: string; podsCurrent?: number; addresses?: Array<{ name: string; ip?: string; ports: number[] }>; conditions?: Condition[] }
interface Hub { metadata: Meta; spec: Record<string, unknown>; status?: HubStatus }
interface ConnectorStatus { observedGeneration?: number; remoteIPRangeCount?: number; hubs?: Array<{ name: string; bindings: string[]; ready: boolean; reason?: string }>; conditions?: Condition[] }
interface Connector { metadata: Meta; spec: Record<string, unknown>; status?: ConnectorStatus }
interface ConfigMap { metadata: Meta; data?: Record<string, string>; binaryData?: Record<string, string> }
interface ServicePort { name: string; port: number; targetPort: string | number; protocol: string }
interface Service { metadata: Meta; spec: { type: string; externalTrafficPolicy?: string; clusterIP?: string; selector: Record<string, string>; ports: ServicePort[] } }
interface Container {
  name: string; image: string; args: string[]; ports: Array<{ name: string; containerPort: number; protocol: string }>;
  env: Array<{ name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  securityContext: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface StatefulSet {
  metadata: Meta;
  spec: {
    replicas: number; serviceName: string; selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: {
        serviceAccountName: string; terminationGracePeriodSeconds: number;
        securityContext: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; fsGroup?: number; seccompProfile?: { type: string } };
        containers: Container[];
        volumes: Array<{ name: string; configMap?: { name: string }; secret?: { secretName: string }; emptyDir?: object }>;
      };
    };
  };
}

let cluster: TestCluster;

const get = <T>(kind: string, name: string): Promise<T> => kubeClient(cluster).get<T>(ns, kind, name);
const tryGetJson = <T>(kind: string, name: string): Promise<T | undefined> => kubeClient(cluster).tryGet<T>(ns, kind, name);
const hub = (name: string): Promise<Hub> => get<Hub>('relayhub', name);
const connector = (name: string): Promise<Connector> => get<Connector>('receiveconnector', name);
const condition = (obj: { status?: { conditions?: Condition[] } }, type: string): Condition | undefined => obj.status?.conditions?.find((c) => c.type === type);
const renderedConfig = async (hubName: string): Promise<RenderedConfig> => {
  const cm = await get<ConfigMap>('configmap', `${hubName}-relay-config`);
  const text = cm.data?.['config.json'];
  assert.ok(text, `ConfigMap ${hubName}-relay-config has data config.json (keys: ${Object.keys(cm.data ?? {}).join(', ')})`);
  return JSON.parse(text) as RenderedConfig;
};
const connectorIds = async (hubName: string): Promise<string[]> => (await renderedConfig(hubName)).connectors.map((c) => c.id);
const pods = async (hubName: string): Promise<string[]> =>
  (await kubeClient(cluster).list<{ metadata: { name: string } }>(ns, 'pod', `relayoperator.io/hub=${hubName}`)).map((p) => p.metadata.name).sort();
const restartHash = async (hubName: string): Promise<string | undefined> =>
  (await get<StatefulSet>('statefulset', `${hubName}-relay`)).spec.template.metadata.annotations['relayoperator.io/restart-hash'];

interface ManifestDoc { kind: string; metadata: { name?: string; namespace?: string }; spec?: Record<string, unknown>; [field: string]: unknown }

/** The example, in our namespace, with a TLS Secret on hub A (to see the Secret volume). */
function exampleObjects(): ManifestDoc[] {
  const docs = parseAllDocuments(readFileSync('examples/two-hubs-one-connector.yaml', 'utf8')).map((d) => d.toJS() as ManifestDoc);
  const objects: ManifestDoc[] = docs.filter((d) => d.kind !== 'Namespace').map((d) => ({ ...d, metadata: { ...d.metadata, namespace: ns } }));
  const hubA = objects.find((o) => o.kind === 'RelayHub' && o.metadata.name === HUB_A);
  assert.ok(hubA?.spec, 'the example has hub-east-a');
  hubA.spec.tls = { secretName: 'hub-east-tls' };
  return [
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hub-east-tls', namespace: ns }, stringData: { 'tls.crt': 'not checked here', 'tls.key': 'not checked here' } },
    ...objects,
  ];
}

/**
 * Play kubelet and the relay: every pod of the hub (after the StatefulSet controller finished
 * replacing pods of an older template) is Ready and reports the hub's current config hash.
 */
async function podsRunCurrentConfig(hubName: string): Promise<void> {
  // the status must already report the ConfigMap as it is now
  const hash = await until(`${hubName} status reports the hash of its ConfigMap`, async () => {
    const current = hashConfig(await renderedConfig(hubName));
    return (await hub(hubName)).status?.configHash === current ? current : undefined;
  });
  await settleStatefulSet(cluster, ns, `${hubName}-relay`, { markReady: true, onPod: (pod) => reportPodConfigHash(cluster, ns, pod, hash) });
}

useOperatorNamespace(ns, { ready: (c) => void (cluster = c) });

describe('reconcile', { timeout: 90_000 }, () => {
  let hubAUid = '';
  let initialRestartHash = '';

  test('the example renders a ConfigMap, a Service per address, a StatefulSet and RBAC per hub, all owned by the hub', async () => {
    applyObjects(cluster, exampleObjects());
    // the hubs may be rendered once before the connector reaches the operator's cache: wait for the connector
    await until('both hubs rendered with the connector (ConfigMap and StatefulSet port)', async () => {
      for (const h of [HUB_A, HUB_B]) {
        const cm = await tryGetJson<ConfigMap>('configmap', `${h}-relay-config`);
        const sts = await tryGetJson<StatefulSet>('statefulset', `${h}-relay`);
        if (!cm?.data?.['config.json']?.includes(`"${ns}/${CONNECTOR}"`) || !sts?.spec.template.spec.containers[0]?.ports.some((p) => p.name === 'smtp-0')) return false;
      }
      return true;
    });
    const hubA = await hub(HUB_A);
    hubAUid = hubA.metadata.uid;
    const connectorId = `${ns}/${CONNECTOR}`;

    // ConfigMap: the connector (seed scenario: selected by label on both hubs) and its listener
    for (const [hubName, ip] of [[HUB_A, '192.168.1.17'], [HUB_B, '192.168.1.18']] as const) {
      const config = await renderedConfig(hubName);
      assert.equal(config.hub.name, hubName);
      assert.equal(config.hub.namespace, ns);
      assert.equal(config.hub.fqdn, `${hubName}.mail.example.com`);
      assert.deepEqual(config.connectors.map((c) => c.id), [connectorId], `${hubName} carries the connector`);
      const c = config.connectors[0];
      assert.ok(c);
      assert.deepEqual(c.remoteIPRanges, ['192.168.1.100-192.168.1.101', '10.20.0.0/16', '2001:db8::/48']);
      assert.deepEqual(c.permissionGroups, ['AnonymousUsers']);
      assert.deepEqual(c.permissions, [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'], deny: [] }]);
      assert.deepEqual(config.listeners, [{ addressName: 'relay', bindAddress: '::', port: 2525, servicePort: 25, endpoint: `${ip}:25`, connectorIds: [connectorId] }]);
      assert.deepEqual(config.acceptedDomains, [{ domain: 'contoso.com', type: 'Authoritative', default: true }]);
    }
    assert.deepEqual((await renderedConfig(HUB_A)).hub.tls, { certFile: '/etc/relay/secrets/hub-east-tls/tls.crt', keyFile: '/etc/relay/secrets/hub-east-tls/tls.key' });

    // One Service per hub address: pinned IP through MetalLB, source IP kept, 25 -> the first container port
    const service = await get<Service>('service', `${HUB_A}-relay`);
    assert.equal(service.metadata.annotations?.['metallb.io/loadBalancerIPs'], '192.168.1.17');
    assert.equal(service.spec.type, 'LoadBalancer');
    assert.equal(service.spec.externalTrafficPolicy, 'Local');
    assert.deepEqual(service.spec.selector, { 'app.kubernetes.io/name': 'relay', 'relayoperator.io/hub': HUB_A });
    assert.deepEqual(service.spec.ports.map(({ name, port, targetPort, protocol }) => ({ name, port, targetPort, protocol })), [{ name: 'smtp-25', port: 25, targetPort: 'smtp-0', protocol: 'TCP' }]);
    assert.equal((await get<Service>('service', `${HUB_B}-relay`)).metadata.annotations?.['metallb.io/loadBalancerIPs'], '192.168.1.18');
    assert.equal(await tryGetJson('service', `${HUB_A}-default`), undefined, 'no Service for an address without listeners');
    const headless = await get<Service>('service', `${HUB_A}-relay-pods`);
    assert.equal(headless.spec.clusterIP, 'None');

    // StatefulSet
    const sts = await get<StatefulSet>('statefulset', `${HUB_A}-relay`);
    assert.equal(sts.spec.replicas, 2);
    assert.equal(sts.spec.serviceName, `${HUB_A}-relay-pods`);
    assert.deepEqual(sts.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'relay', 'relayoperator.io/hub': HUB_A });
    const pod = sts.spec.template.spec;
    assert.equal(pod.serviceAccountName, `${HUB_A}-relay`);
    assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    assert.equal(pod.containers.length, 1);
    const container = pod.containers[0];
    assert.ok(container);
    assert.deepEqual(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    assert.deepEqual(container.args.slice(0, 5), ['relay', '--config', '/etc/relay/config/config.json', '--spool', '/var/spool/relay']);
    assert.deepEqual(container.ports.map((p) => [p.name, p.containerPort]), [['smtp-0', 2525], ['metrics', 9090]]);
    assert.deepEqual(container.env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]), [['POD_NAME', 'metadata.name'], ['POD_NAMESPACE', 'metadata.namespace'], ['POD_UID', 'metadata.uid']]);
    assert.ok(pod.volumes.some((v) => v.name === 'config' && v.configMap?.name === `${HUB_A}-relay-config`), 'the ConfigMap is mounted');
    const tlsVolume = pod.volumes.find((v) => v.secret?.secretName === 'hub-east-tls');
    assert.ok(tlsVolume, `the referenced Secret is a volume (volumes: ${JSON.stringify(pod.volumes)})`);
    assert.deepEqual(container.volumeMounts.find((m) => m.name === tlsVolume.name), { name: tlsVolume.name, mountPath: '/etc/relay/secrets/hub-east-tls', readOnly: true });
    assert.ok(container.volumeMounts.some((m) => m.name === 'config' && m.mountPath === '/etc/relay/config' && m.readOnly === true));
    assert.deepEqual((await get<StatefulSet>('statefulset', `${HUB_B}-relay`)).spec.template.spec.volumes.filter((v) => v.secret).map((v) => v.secret?.secretName), [`${HUB_B}-relay-queue-token`], 'hub B references no Secret but its hand-off token');
    initialRestartHash = (await restartHash(HUB_A)) ?? '';
    assert.match(initialRestartHash, /^[0-9a-f]{16}$/);

    // Ownership: everything the hub has is controlled by it (garbage collection depends on it)
    const owned: Array<[string, string]> = [
      ['configmap', `${HUB_A}-relay-config`], ['service', `${HUB_A}-relay`], ['service', `${HUB_A}-relay-pods`], ['statefulset', `${HUB_A}-relay`],
      ['poddisruptionbudget', `${HUB_A}-relay`], ['serviceaccount', `${HUB_A}-relay`], ['role', `${HUB_A}-relay`], ['rolebinding', `${HUB_A}-relay`],
    ];
    for (const [kind, name] of owned) {
      const object = await get<{ metadata: Meta }>(kind, name);
      assert.deepEqual(object.metadata.ownerReferences, [{ apiVersion: GROUP, kind: 'RelayHub', name: HUB_A, uid: hubAUid, controller: true, blockOwnerDeletion: true }], `${kind}/${name} owner`);
      assert.equal(object.metadata.labels?.['app.kubernetes.io/managed-by'], 'relay-operator', `${kind}/${name} label`);
    }
    const role = await get<{ rules: unknown }>('role', `${HUB_A}-relay`);
    // a relay may patch only its own pods' report Leases, and no pod (issue 17, item 5)
    assert.deepEqual(role.rules, [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['patch'], resourceNames: [`${HUB_A}-relay-0`, `${HUB_A}-relay-1`] },
      { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get'], resourceNames: [`${HUB_A}-relay`] },
    ]);
    for (const ordinal of [0, 1]) {
      const lease = await get<{ metadata: { labels?: Record<string, string>; ownerReferences?: Array<{ kind: string; name: string }> } }>('lease', `${HUB_A}-relay-${ordinal}`);
      assert.equal(lease.metadata.labels?.['relayoperator.io/hub'], HUB_A);
      assert.deepEqual(lease.metadata.ownerReferences?.map((o) => [o.kind, o.name]), [['RelayHub', HUB_A]], 'the report Lease is owned by the hub (deleted with it)');
    }

    // The StatefulSet controller made the pods (Pending: there is no kubelet)
    await until('two pods per hub', async () => (await pods(HUB_A)).length === 2 && (await pods(HUB_B)).length === 2);
    assert.deepEqual(await pods(HUB_A), [`${HUB_A}-relay-0`, `${HUB_A}-relay-1`]);
  });

  test('status before the pods run the config: hub Ready False / Progressing True, connector Propagating, observedGeneration everywhere', async () => {
    const hubA = await until('hub A status with 2 pods', async () => {
      const h = await hub(HUB_A);
      return h.status?.replicas === 2 && h.status.configHash ? h : undefined;
    });
    const status = hubA.status ?? {};
    assert.equal(status.observedGeneration, hubA.metadata.generation);
    assert.equal(status.configHash, hashConfig(await renderedConfig(HUB_A)), 'configHash is the hash the relay computes for the ConfigMap content');
    assert.equal(status.readyReplicas, 0);
    assert.equal(status.podsCurrent, 0);
    assert.deepEqual(status.addresses, [{ name: 'relay', ip: '192.168.1.17', ports: [25] }]);
    assert.deepEqual(status.conditions?.map((c) => [c.type, c.status]), [['Ready', 'False'], ['Progressing', 'True'], ['Degraded', 'False'], ['StrandedMail', 'False'], ['Stalled', 'False'], ['Reconciling', 'True']]);
    for (const c of status.conditions ?? []) {
      assert.equal(c.observedGeneration, hubA.metadata.generation, `${c.type} observedGeneration`);
      assert.match(c.lastTransitionTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.match(c.reason, /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/);
    }

    const c = await until('connector status for both hubs', async () => {
      const x = await connector(CONNECTOR);
      return x.status?.hubs?.length === 2 && x.status.hubs.every((h) => h.bindings.length > 0) ? x : undefined;
    });
    assert.equal(c.status?.observedGeneration, c.metadata.generation);
    assert.equal(c.status?.remoteIPRangeCount, 3);
    assert.deepEqual(c.status?.hubs?.map((h) => ({ name: h.name, bindings: h.bindings, ready: h.ready })), [
      { name: HUB_A, bindings: ['192.168.1.17:25'], ready: false },
      { name: HUB_B, bindings: ['192.168.1.18:25'], ready: false },
    ]);
    assert.match(c.status?.hubs?.[0]?.reason ?? '', /^Propagating/);
    assert.deepEqual([condition(c, 'Ready')?.status, condition(c, 'Ready')?.reason], ['False', 'Propagating']);
    assert.deepEqual([condition(c, 'Conflicted')?.status, condition(c, 'Conflicted')?.reason], ['False', 'NoConflict']);
    for (const cond of c.status?.conditions ?? []) assert.equal(cond.observedGeneration, c.metadata.generation, `${cond.type} observedGeneration`);
  });

  test('a connector change (ranges) updates the ConfigMap, not the pod template; conditions keep lastTransitionTime, take the new observedGeneration', async () => {
    const before = await connector(CONNECTOR);
    const hashBefore = (await hub(HUB_A)).status?.configHash;
    const stsGeneration = (await get<StatefulSet>('statefulset', `${HUB_A}-relay`)).metadata.generation;
    const readyBefore = condition(before, 'Ready');
    const conflictedBefore = condition(before, 'Conflicted');
    const hubReadyBefore = condition(await hub(HUB_A), 'Ready');
    await sleep(1100); // lastTransitionTime has whole seconds: a rewrite would show

    cluster.kubectl(['-n', ns, 'patch', 'receiveconnector', CONNECTOR, '--type=merge', '-p', JSON.stringify({ spec: { remoteIPRanges: ['192.168.1.100-192.168.1.101', '10.20.0.0/16', '10.30.0.0/16', '2001:db8::/48'] } })]);
    for (const h of [HUB_A, HUB_B]) {
      await until(`${h} ConfigMap with the new range`, async () => (await renderedConfig(h)).connectors[0]?.remoteIPRanges.includes('10.30.0.0/16'));
    }
    // the status write ends the reconcile that applied the ConfigMap and the StatefulSet
    const hubA = await until('hub A status with the new hash', async () => {
      const h = await hub(HUB_A);
      return h.status?.configHash !== hashBefore ? h : undefined;
    });
    assert.equal(hubA.status?.configHash, hashConfig(await renderedConfig(HUB_A)));
    assert.equal(await restartHash(HUB_A), initialRestartHash, 'the pod template restart annotation is unchanged');
    assert.equal((await get<StatefulSet>('statefulset', `${HUB_A}-relay`)).metadata.generation, stsGeneration, 'the StatefulSet spec is unchanged');
    assert.deepEqual(condition(hubA, 'Ready')?.lastTransitionTime, hubReadyBefore?.lastTransitionTime, 'hub Ready stayed False: lastTransitionTime unchanged');

    const after = await until('connector status for generation 2', async () => {
      const x = await connector(CONNECTOR);
      return x.status?.observedGeneration === before.metadata.generation! + 1 && x.status.remoteIPRangeCount === 4 ? x : undefined;
    });
    assert.equal(after.metadata.generation, before.metadata.generation! + 1);
    for (const [was, now] of [[readyBefore, condition(after, 'Ready')], [conflictedBefore, condition(after, 'Conflicted')]]) {
      assert.ok(was && now);
      assert.equal(now.status, was.status, `${now.type} did not flip`);
      assert.equal(now.lastTransitionTime, was.lastTransitionTime, `${now.type}: lastTransitionTime unchanged when the status does not flip`);
      assert.equal(now.observedGeneration, after.metadata.generation, `${now.type}: observedGeneration follows the generation`);
    }
  });

  test('pods running the current config: hub Ready True, podsCurrent 2, connector ready on both hubs; the flip moves lastTransitionTime', async () => {
    const readyBefore = condition(await connector(CONNECTOR), 'Ready');
    const hubReadyBefore = condition(await hub(HUB_A), 'Ready');
    await sleep(1100);
    await podsRunCurrentConfig(HUB_A);
    await podsRunCurrentConfig(HUB_B);
    const hubA = await until('hub A Ready', async () => {
      const h = await hub(HUB_A);
      return condition(h, 'Ready')?.status === 'True' ? h : undefined;
    }, 20_000, async () => ({ status: (await hub(HUB_A)).status, events: cluster.kubectl(['-n', ns, 'get', 'events', '-o', 'custom-columns=T:.lastTimestamp,R:.reason,M:.message']) }));
    assert.equal(hubA.status?.podsCurrent, 2);
    assert.equal(hubA.status?.readyReplicas, 2);
    assert.deepEqual(hubA.status?.conditions?.map((c) => [c.type, c.status, c.reason]), [['Ready', 'True', 'PodsCurrent'], ['Progressing', 'False', 'PodsCurrent'], ['Degraded', 'False', 'AllConnectorsLoaded'], ['StrandedMail', 'False', 'NoOrphanedSpool'], ['Stalled', 'False', 'AsExpected'], ['Reconciling', 'False', 'PodsCurrent']]);
    assert.ok((condition(hubA, 'Ready')?.lastTransitionTime ?? '') > (hubReadyBefore?.lastTransitionTime ?? ''), 'hub Ready flipped: new lastTransitionTime');

    const c = await until('connector Ready', async () => {
      const x = await connector(CONNECTOR);
      return condition(x, 'Ready')?.status === 'True' ? x : undefined;
    });
    assert.equal(condition(c, 'Ready')?.reason, 'Live');
    assert.deepEqual(c.status?.hubs?.map((h) => [h.name, h.ready, h.reason]), [[HUB_A, true, undefined], [HUB_B, true, undefined]]);
    assert.ok((condition(c, 'Ready')?.lastTransitionTime ?? '') > (readyBefore?.lastTransitionTime ?? ''), 'connector Ready flipped: new lastTransitionTime');
  });

  test('a second connector with equal ranges on the same listener is Conflicted naming the first; the first keeps working', async () => {
    const hashBefore = (await hub(HUB_A)).status?.configHash;
    const firstReady = condition(await connector(CONNECTOR), 'Ready');
    applyObjects(cluster, [{
      apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name: 'copiers-again', namespace: ns },
      spec: { hubs: [HUB_A], usage: 'Custom', bindings: ['relay:25'], remoteIPRanges: ['192.168.1.100-192.168.1.101'], permissionGroups: ['AnonymousUsers'] },
    }]);
    const dup = await until('copiers-again Conflicted', async () => {
      const x = await connector('copiers-again');
      return condition(x, 'Conflicted')?.status === 'True' ? x : undefined;
    });
    const conflicted = condition(dup, 'Conflicted');
    assert.equal(conflicted?.reason, 'ListenerConflict');
    assert.match(conflicted?.message ?? '', new RegExp(`${ns}/${CONNECTOR}\\b`), `names the connector that keeps the listener: ${conflicted?.message}`);
    assert.deepEqual([condition(dup, 'Ready')?.status, condition(dup, 'Ready')?.reason], ['False', 'Conflicted']);
    assert.equal(dup.status?.hubs?.[0]?.ready, false);
    assert.deepEqual(dup.status?.hubs?.[0]?.bindings, []);
    assert.equal(conflicted?.observedGeneration, dup.metadata.generation);

    assert.deepEqual(await connectorIds(HUB_A), [`${ns}/${CONNECTOR}`], 'the later connector is not loaded');
    assert.equal((await hub(HUB_A)).status?.configHash, hashBefore, 'the config the pods run did not change');
    const hubA = await until('hub A Degraded', async () => {
      const h = await hub(HUB_A);
      return condition(h, 'Degraded')?.status === 'True' ? h : undefined;
    });
    assert.equal(condition(hubA, 'Degraded')?.reason, 'ConnectorsNotLoaded');
    assert.match(condition(hubA, 'Degraded')?.message ?? '', /copiers-again/);
    assert.equal(condition(hubA, 'Ready')?.status, 'True', 'the hub still runs its config');

    const first = await connector(CONNECTOR);
    assert.deepEqual([condition(first, 'Ready')?.status, condition(first, 'Conflicted')?.status], ['True', 'False'], 'the earlier connector stays Ready, not Conflicted');
    assert.equal(condition(first, 'Ready')?.lastTransitionTime, firstReady?.lastTransitionTime);
    cluster.kubectl(['-n', ns, 'delete', 'receiveconnector', 'copiers-again']);
    await until('hub A not Degraded after the conflicting connector is gone', async () => condition(await hub(HUB_A), 'Degraded')?.status === 'False');
  });

  test('bad input (unknown hub address, missing Secret) is reported on the connector; the hub keeps its other connectors', async () => {
    const hashBefore = (await hub(HUB_A)).status?.configHash;
    applyObjects(cluster, [
      {
        apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name: 'wrong-address', namespace: ns },
        spec: { hubs: [HUB_A], usage: 'Custom', bindings: ['nosuch:25'], remoteIPRanges: ['10.99.0.0/16'], permissionGroups: ['AnonymousUsers'] },
      },
      {
        apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name: 'needs-secret', namespace: ns },
        spec: { hubs: [HUB_A], usage: 'Custom', bindings: ['relay:587'], remoteIPRanges: ['10.98.0.0/16'], permissionGroups: ['AnonymousUsers'], tls: { secretName: 'partner-tls' } },
      },
    ]);
    const wrong = await until('wrong-address NotLoaded', async () => {
      const x = await connector('wrong-address');
      return condition(x, 'Ready')?.reason === 'NotLoaded' ? x : undefined;
    });
    assert.equal(condition(wrong, 'Ready')?.status, 'False');
    assert.match(condition(wrong, 'Ready')?.message ?? '', /unknownHubAddress/);
    assert.match(condition(wrong, 'Ready')?.message ?? '', /"nosuch"/, 'the message names the address');
    assert.equal(condition(wrong, 'Conflicted')?.status, 'False');
    assert.deepEqual(wrong.status?.hubs?.map((h) => [h.name, h.ready]), [[HUB_A, false]]);
    assert.match(wrong.status?.hubs?.[0]?.reason ?? '', /no address named "nosuch"/);

    const missing = await until('needs-secret NotLoaded', async () => {
      const x = await connector('needs-secret');
      return condition(x, 'Ready')?.reason === 'NotLoaded' ? x : undefined;
    });
    assert.equal(condition(missing, 'Ready')?.status, 'False');
    assert.match(condition(missing, 'Ready')?.message ?? '', /missingSecret/);
    assert.match(condition(missing, 'Ready')?.message ?? '', /Secret partner-tls not found/, 'the message names the Secret');

    assert.deepEqual(await connectorIds(HUB_A), [`${ns}/${CONNECTOR}`], 'neither is loaded; the good one is');
    assert.equal((await hub(HUB_A)).status?.configHash, hashBefore, 'pods keep the config they run');
    const hubA = await until('hub A Degraded naming both', async () => {
      const h = await hub(HUB_A);
      const message = condition(h, 'Degraded')?.message ?? '';
      return message.includes('wrong-address') && message.includes('needs-secret') ? h : undefined;
    });
    assert.equal(condition(hubA, 'Degraded')?.status, 'True');
    assert.equal(condition(hubA, 'Ready')?.status, 'True');
    assert.equal(condition(await connector(CONNECTOR), 'Ready')?.status, 'True', 'the other connector stays Ready');

    // The Secret appears: the connector loads, the Secret is mounted, its listener gets a port
    applyObjects(cluster, [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'partner-tls', namespace: ns }, stringData: { 'tls.crt': 'x', 'tls.key': 'y' } }]);
    await until('needs-secret loaded on hub A', async () => (await connectorIds(HUB_A)).includes(`${ns}/needs-secret`));
    const sts = await until('partner-tls mounted', async () => {
      const s = await get<StatefulSet>('statefulset', `${HUB_A}-relay`);
      return s.spec.template.spec.volumes.some((v) => v.secret?.secretName === 'partner-tls') ? s : undefined;
    });
    assert.ok(sts.spec.template.spec.containers[0]?.volumeMounts.some((m) => m.mountPath === '/etc/relay/secrets/partner-tls' && m.readOnly === true));
    assert.deepEqual(sts.spec.template.spec.containers[0]?.ports.map((p) => [p.name, p.containerPort]), [['smtp-0', 2525], ['smtp-1', 2526], ['metrics', 9090]]);
    assert.notEqual(await restartHash(HUB_A), initialRestartHash, 'a new Secret and listener change the pod template');
    const service = await get<Service>('service', `${HUB_A}-relay`);
    assert.deepEqual(service.spec.ports.map((p) => [p.port, p.targetPort]), [[25, 'smtp-0'], [587, 'smtp-1']]);
    const loaded = await until('needs-secret no longer NotLoaded', async () => {
      const x = await connector('needs-secret');
      return condition(x, 'Ready')?.reason !== 'NotLoaded' ? x : undefined;
    });
    assert.deepEqual(loaded.status?.hubs?.[0]?.bindings, ['192.168.1.17:587']);
    cluster.kubectl(['-n', ns, 'delete', 'receiveconnector', 'wrong-address', 'needs-secret']);
  });

  test('a hub address whose last binding goes away loses its Service', {}, async () => {
    applyObjects(cluster, [{
      apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name: 'wildcard', namespace: ns },
      spec: { hubs: [HUB_A], usage: 'Custom', bindings: ['0.0.0.0:2525'], remoteIPRanges: ['10.97.0.0/16'], permissionGroups: ['AnonymousUsers'] },
    }]);
    const service = await until('Service of the default address', async () => (await tryGetJson<Service>('service', `${HUB_A}-default`)));
    assert.deepEqual(service.spec.ports.map((p) => [p.port, p.targetPort]), [[2525, 'smtp-0']]);
    assert.equal(service.metadata.annotations?.['metallb.io/loadBalancerIPs'], undefined, 'the default address has no pinned IP');
    await until('relay:25 is smtp-1: listeners are numbered by address name, then port', async () => JSON.stringify((await get<Service>('service', `${HUB_A}-relay`)).spec.ports.map((p) => [p.port, p.targetPort])) === '[[25,"smtp-1"]]',
      20_000, async () => (await get<Service>('service', `${HUB_A}-relay`)).spec.ports);

    cluster.kubectl(['-n', ns, 'delete', 'receiveconnector', 'wildcard']);
    await until('relay:25 renumbered to smtp-0', async () => (await get<Service>('service', `${HUB_A}-relay`)).spec.ports[0]?.targetPort === 'smtp-0');
    assert.deepEqual((await renderedConfig(HUB_A)).listeners.map((l) => l.addressName), ['relay']);
    await until(`Service ${HUB_A}-default deleted`, async () => (await tryGetJson('service', `${HUB_A}-default`)) === undefined, 6_000,
      async () => (await tryGetJson<Service>('service', `${HUB_A}-default`))?.spec.ports);
  });

  test('a hub spec change bumps observedGeneration on status and conditions', async () => {
    const before = await hub(HUB_B);
    cluster.kubectl(['-n', ns, 'patch', 'relayhub', HUB_B, '--type=merge', '-p', '{"spec":{"replicas":1}}']);
    const after = await until('hub B status for the new generation', async () => {
      const h = await hub(HUB_B);
      return h.status?.observedGeneration === before.metadata.generation! + 1 ? h : undefined;
    });
    for (const c of after.status?.conditions ?? []) assert.equal(c.observedGeneration, after.metadata.generation, `${c.type} observedGeneration`);
    await until('StatefulSet of hub B scaled to 1', async () => (await get<StatefulSet>('statefulset', `${HUB_B}-relay`)).spec.replicas === 1);
  });

  test('deleting a hub garbage-collects everything it owns; the connector reports only the remaining hub', async () => {
    const owned: Array<[string, string]> = [
      ['configmap', `${HUB_B}-relay-config`], ['service', `${HUB_B}-relay`], ['service', `${HUB_B}-relay-pods`], ['statefulset', `${HUB_B}-relay`],
      ['poddisruptionbudget', `${HUB_B}-relay`], ['serviceaccount', `${HUB_B}-relay`], ['role', `${HUB_B}-relay`], ['rolebinding', `${HUB_B}-relay`],
    ];
    for (const [kind, name] of owned) assert.ok(await tryGetJson(kind, name), `${kind}/${name} exists before`);
    cluster.kubectl(['-n', ns, 'delete', 'relayhub', HUB_B, '--wait=false']);
    await until('hub B children gone', async () => {
      for (const [kind, name] of owned) if (await tryGetJson(kind, name)) return false;
      return true;
    }, 45_000);
    await until('hub B pods gone', async () => (await pods(HUB_B)).length === 0, 30_000);
    const c = await until('connector status without hub B', async () => {
      const x = await connector(CONNECTOR);
      return x.status?.hubs?.length === 1 ? x : undefined;
    });
    assert.deepEqual(c.status?.hubs?.map((h) => h.name), [HUB_A]);
    assert.ok(await tryGetJson('configmap', `${HUB_A}-relay-config`), 'hub A keeps its objects');
  });
});

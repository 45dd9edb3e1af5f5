/*
 * test/operator/rbac - the operator with nothing but the chart's own RBAC (issue 17, items 4
 * and 5), on the real API server.
 *
 * The chart is rendered with helm (watchNamespace set) and its RBAC applied; the operator runs
 * with a token of the chart's ServiceAccount (TokenRequest, `kubectl create token`), not the
 * admin token the other tests use. It must reconcile a hub in the watched namespace (status,
 * StatefulSet, the relay's Role and RoleBinding, which RBAC lets it create only if it holds
 * what they grant) and be refused everything outside it. Its Secret cache, built with the
 * same token and the chart's default Secret label selector, holds key names and no value,
 * and no Secret without the label; a connector naming an unlabelled Secret is told which
 * label to add, and works once it is added. Neither may patch a pod: the relay's own
 * ServiceAccount may patch its hub's pods' report Leases, and no other Lease of the namespace.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { Caches } from '../../operator/controllers/caches.ts';
import { configReportPatch } from '../../operator/resources/config-report.ts';
import { hashConfig } from '../../relay/config/load.ts';
import type { RenderedConfig } from '../../relay/config/schema.ts';
import type { TestCluster } from '../support/cluster.ts';
import { useTestNamespaces } from '../support/cluster.ts';
import {
  KubeClient, OperatorProcess, applyObjects, kubeClient, settleStatefulSet, until,
} from '../support/operator-process.ts';
import { freePort } from '../controlplane/controlplane.ts';

const suffix = randomBytes(3).toString('hex');
const SYSTEM = `rbac-sys-${suffix}`;
const WATCHED = `rbac-mail-${suffix}`;
const OTHER = `rbac-other-${suffix}`;
const RELEASE = 'rel';
const OPERATOR_SA = 'relay-operator';
const HUB = 'hub-east';
const OPERATOR_POD = 'relay-operator-5d8f7-x2x4q';
const TLS_VALUE = `tls-key-material-${suffix}`;
const OTHER_VALUE = `other-namespace-secret-${suffix}`;
const UNLABELLED_VALUE = `unlabelled-secret-${suffix}`;
const SECRET_LABEL = { 'relayoperator.io/secret': 'true' };

interface Doc { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; uid?: string }; rules?: Array<Record<string, unknown>>; roleRef?: { kind: string } }
interface Container { args: string[]; env: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }> }
interface Deployment { metadata: { namespace: string }; spec: { template: { spec: { serviceAccountName: string; containers: Container[] } } } }
interface Condition { type: string; status: string; reason: string; message?: string }
interface HubView { status?: { configHash?: string; podsCurrent?: number; conditions?: Condition[] } }

let cluster: TestCluster;
let operator: OperatorProcess | undefined;
let dir = '';
let operatorClient: KubeClient;
let operatorKubeconfig = '';

const helm = (args: string[]): Doc[] => {
  const text = execFileSync(join(cluster.binDir, 'helm'), ['template', RELEASE, 'charts/relay-operator', '--namespace', SYSTEM, '--kube-version', '1.36.0', ...args], { encoding: 'utf8' });
  return parseAllDocuments(text).map((d) => d.toJS() as Doc | null).filter((d): d is Doc => d !== null);
};

/** A kubeconfig like the admin's, but authenticated by a token of a ServiceAccount. */
function serviceAccountKubeconfig(namespace: string, serviceAccount: string): string {
  const token = cluster.kubectl(['-n', namespace, 'create', 'token', serviceAccount, '--duration=1h']).trim();
  const config = parse(readFileSync(cluster.kubeconfig, 'utf8')) as { users: Array<{ name: string; user: Record<string, unknown> }> };
  config.users = config.users.map((u) => ({ name: u.name, user: { token } }));
  const file = join(dir, `${namespace}-${serviceAccount}.kubeconfig`);
  writeFileSync(file, stringify(config), { mode: 0o600 });
  return file;
}

/**
 * startAsTheChartDoes - the operator with the args and downward-API env of the chart's own
 * Deployment (watchNamespace set) and its ServiceAccount's token: only the metrics address is
 * moved to a free loopback port, and no --leader-election-namespace is added.
 */
/** chartOperatorArgs - the operator container's args of the chart's Deployment (watchNamespace set). */
function chartOperatorArgs(): string[] {
  const [deployment] = helm(['--set', `watchNamespace=${WATCHED}`, '--show-only', 'templates/deployment.yaml']) as unknown as Deployment[];
  return deployment?.spec.template.spec.containers[0]?.args ?? [];
}

async function startAsTheChartDoes(): Promise<OperatorProcess> {
  const [deployment] = helm(['--set', `watchNamespace=${WATCHED}`, '--show-only', 'templates/deployment.yaml']) as unknown as Deployment[];
  const pod = deployment?.spec.template.spec;
  const container = pod?.containers[0];
  assert.ok(deployment && pod && container, 'the chart renders the Deployment');
  assert.equal(pod.serviceAccountName, OPERATOR_SA);
  const metricsPort = await freePort();
  const args = container.args.map((arg) => (/^0\.0\.0\.0:\d+$/.test(arg) ? `127.0.0.1:${metricsPort}` : arg));
  const field: Record<string, string> = { 'metadata.name': OPERATOR_POD, 'metadata.namespace': deployment.metadata.namespace };
  const env: NodeJS.ProcessEnv = {};
  for (const e of container.env) {
    if (e.name === 'NODE_OPTIONS') continue; // heap limits for the container, not this test
    const value = e.value ?? field[e.valueFrom?.fieldRef?.fieldPath ?? ''];
    if (value !== undefined) env[e.name] = value;
  }
  const child = spawn(process.execPath, ['bin/relay-operator.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env, KUBECONFIG: operatorKubeconfig } });
  const started = new OperatorProcess(child, OPERATOR_POD, metricsPort);
  try {
    await started.waitForLeader(30_000);
  } catch (error) {
    await started.kill();
    throw new Error(`${(error as Error).message}; args ${args.join(' ')}; logs ${JSON.stringify(started.logs.slice(-5))}`, { cause: error });
  }
  return started;
}

const status = async (client: KubeClient, method: string, path: string, body?: object): Promise<number> =>
  (await client.request(method, path, body === undefined ? undefined : JSON.stringify(body), 'application/merge-patch+json')).status;
const condition = (hub: HubView, type: string): Condition | undefined => hub.status?.conditions?.find((c) => c.type === type);

useTestNamespaces([SYSTEM, WATCHED, OTHER], {
  crds: true,
  ready: (c) => {
    cluster = c;
    dir = mkdtempSync(join(tmpdir(), 'relay-rbac-'));
  },
  beforeStop: async () => {
    await operator?.stop();
    rmSync(dir, { recursive: true, force: true });
  },
});

describe('operator RBAC with watchNamespace', { timeout: 120_000 }, () => {
  test('the chart renders no cluster-scoped RBAC with watchNamespace set; cluster-wide mode is the only one with a ClusterRole', () => {
    const namespaced = helm(['--set', `watchNamespace=${WATCHED}`, '--show-only', 'templates/rbac.yaml']);
    const kinds = namespaced.map((d) => `${d.kind} ${d.metadata.namespace ?? '(cluster)'}/${d.metadata.name}`).sort();
    assert.deepEqual(kinds, [
      `Role ${SYSTEM}/${RELEASE}-relay-operator-leader-election`,
      `Role ${WATCHED}/${RELEASE}-relay-operator`,
      `RoleBinding ${SYSTEM}/${RELEASE}-relay-operator-leader-election`,
      `RoleBinding ${WATCHED}/${RELEASE}-relay-operator`,
      `ServiceAccount ${SYSTEM}/${OPERATOR_SA}`,
    ].sort());
    for (const doc of namespaced.filter((d) => d.rules)) {
      for (const rule of doc.rules ?? []) {
        const resources = rule.resources as string[];
        // the leader-election Lease: its Role in the release namespace only; in the watched
        // namespace only the hubs' report Leases (no get/update: the leader Lease's verbs)
        if (resources.includes('leases') && doc.metadata.namespace !== SYSTEM) assert.deepEqual(rule.verbs, ['list', 'watch', 'create', 'patch', 'delete'], 'report Leases only in the watched namespace');
        if (resources.includes('leases') && (rule.verbs as string[]).some((v) => v === 'get' || v === 'update')) assert.equal(doc.metadata.namespace, SYSTEM, 'the leader Lease is in the release namespace only');
      }
    }
    const clusterWide = helm(['--show-only', 'templates/rbac.yaml']).map((d) => d.kind).sort();
    assert.deepEqual(clusterWide, ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ServiceAccount']);
    // the rules themselves are the same in both modes, leases aside
    const rulesOf = (docs: Doc[], kind: string): string => JSON.stringify(docs.find((d) => d.kind === kind && !d.metadata.name.endsWith('leader-election'))?.rules);
    assert.equal(rulesOf(namespaced, 'Role'), rulesOf(helm(['--show-only', 'templates/rbac.yaml']), 'ClusterRole'));
  });

  test('with only the chart\'s RBAC and its ServiceAccount token, the operator reconciles a hub in the watched namespace', async () => {
    const rbac = helm(['--set', `watchNamespace=${WATCHED}`, '--show-only', 'templates/rbac.yaml']);
    applyObjects(cluster, rbac);
    operatorKubeconfig = serviceAccountKubeconfig(SYSTEM, OPERATOR_SA);
    operatorClient = new KubeClient(operatorKubeconfig);
    // kubectl apply (client-side) keeps the whole Secret, values too, in an annotation
    applyObjects(cluster, [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hub-tls', namespace: WATCHED, labels: SECRET_LABEL }, stringData: { 'tls.crt': TLS_VALUE, 'tls.key': TLS_VALUE } },
      // in the watched namespace, readable by the chart's RBAC, but without the label
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'unrelated', namespace: WATCHED }, stringData: { 'tls.crt': UNLABELLED_VALUE, 'tls.key': UNLABELLED_VALUE } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'elsewhere', namespace: OTHER }, stringData: { password: OTHER_VALUE } },
    ]);
    operator = await startAsTheChartDoes();
    applyObjects(cluster, [
      { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB, namespace: WATCHED }, spec: { replicas: 2, fqdn: 'hub-east.example.com', addresses: [{ name: 'relay' }], tls: { secretName: 'hub-tls' } } },
      {
        apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'copiers', namespace: WATCHED },
        spec: { hubs: [HUB], bindings: ['relay:25'], remoteIPRanges: ['192.168.1.0/24'], permissionGroups: ['AnonymousUsers'] },
      },
    ]);
    const admin = kubeClient(cluster);
    // the connector needs the TLS Secret's keys: loaded means the key-names-only cache answered
    const hub = await until('hub status written: the ConfigMap\'s config, with the connector loaded', async () => {
      const h = await admin.get<HubView>(WATCHED, 'relayhub', HUB);
      const cm = await admin.tryGet<{ data?: Record<string, string> }>(WATCHED, 'configmap', `${HUB}-relay-config`);
      const config = cm?.data?.['config.json'] ? JSON.parse(cm.data['config.json']) as RenderedConfig : undefined;
      const loaded = config?.connectors.length === 1 && config.hub.tls?.certFile !== undefined && condition(h, 'Degraded')?.reason === 'AllConnectorsLoaded';
      return loaded && h.status?.configHash === hashConfig(config) ? h : undefined;
    }, 40_000, async () => ({ hub: (await admin.get<HubView>(WATCHED, 'relayhub', HUB)).status, logs: operator?.logs.filter((l) => l.level !== 'info').slice(-10) }));
    const role = await admin.get<Doc>(WATCHED, 'role', `${HUB}-relay`);
    assert.deepEqual(role.rules, [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['patch'], resourceNames: [`${HUB}-relay-0`, `${HUB}-relay-1`] },
      // the scale-down check before a hand-off (operator/resources/hand-off.ts)
      { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get'], resourceNames: [`${HUB}-relay`] },
    ]);
    assert.ok(await admin.get(WATCHED, 'secret', `${HUB}-relay-queue-token`), 'the hand-off token Secret, created with the chart\'s secrets create');
    assert.ok(await admin.get(WATCHED, 'rolebinding', `${HUB}-relay`));
    assert.ok(await admin.get(WATCHED, 'statefulset', `${HUB}-relay`));
    const lease = await admin.get<{ spec: { holderIdentity?: string } }>(SYSTEM, 'lease', 'relay-operator');
    assert.ok(lease.spec.holderIdentity?.startsWith(`${OPERATOR_POD}_`), `the Lease in the release namespace is held by the operator (${lease.spec.holderIdentity ?? 'nobody'})`);

    // the pods report the hash with the relay's own ServiceAccount, then the hub is Ready
    const relayClient = new KubeClient(serviceAccountKubeconfig(WATCHED, `${HUB}-relay`));
    // (after the StatefulSet controller replaced any pod of an earlier template)
    const hash = hub.status?.configHash ?? '';
    await settleStatefulSet(cluster, WATCHED, `${HUB}-relay`, {
      markReady: true,
      onPod: async (pod) => {
        const uid = (await admin.get<Doc>(WATCHED, 'pod', pod)).metadata.uid ?? '';
        const patch = configReportPatch(pod, uid, hash, new Date());
        assert.equal(await status(relayClient, 'PATCH', KubeClient.path(WATCHED, 'lease', pod), patch), 200, `the relay reports in its own pod's Lease ${pod}`);
      },
    });
    await until('hub Ready with both pods current', async () => {
      const h = await admin.get<HubView>(WATCHED, 'relayhub', HUB);
      return condition(h, 'Ready')?.status === 'True' && h.status?.podsCurrent === 2;
    }, 30_000, async () => ({ hub: (await admin.get<HubView>(WATCHED, 'relayhub', HUB)).status, logs: operator?.logs.slice(-10) }));
  });

  test('the operator\'s ServiceAccount is refused Secrets, pods and workloads outside the watched namespace', async () => {
    assert.ok(operatorClient, 'the previous test made the token');
    const refused: Array<[string, string, object?]> = [
      ['GET', `/api/v1/namespaces/${OTHER}/secrets`],
      ['GET', `/api/v1/namespaces/${OTHER}/secrets/elsewhere`],
      ['GET', '/api/v1/secrets'],
      ['GET', '/api/v1/pods'],
      ['GET', `/apis/apps/v1/namespaces/${OTHER}/statefulsets`],
      ['GET', `/apis/rbac.authorization.k8s.io/v1/namespaces/${OTHER}/roles`],
      ['GET', `/apis/relayoperator.io/v1alpha1/namespaces/${OTHER}/relayhubs`],
      ['GET', '/apis/relayoperator.io/v1alpha1/relayhubs'],
      ['GET', `/apis/coordination.k8s.io/v1/namespaces/${OTHER}/leases`],
      ['PATCH', `/api/v1/namespaces/${SYSTEM}/pods/anything`, { metadata: { annotations: { x: 'y' } } }],
      // no pod patch at all, in the watched namespace either (issue 17: relays report in Leases)
      ['PATCH', `/api/v1/namespaces/${WATCHED}/pods/${HUB}-relay-0`, { metadata: { annotations: { x: 'y' } } }],
    ];
    for (const [method, path, body] of refused) assert.equal(await status(operatorClient, method, path, body), 403, `${method} ${path}`);
    // and what it needs in the watched namespace it has (the same token, so a 403 above is RBAC)
    assert.equal(await status(operatorClient, 'GET', `/api/v1/namespaces/${WATCHED}/secrets`), 200);
  });

  test('the operator\'s Secret cache holds key names, no value, and no unlabelled Secret (built with the same token and the chart\'s selector)', async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(operatorKubeconfig);
    const args = chartOperatorArgs();
    const selector = args[args.indexOf('--secret-selector') + 1];
    assert.equal(selector, 'relayoperator.io/secret=true', `the chart's default args select labelled Secrets: ${args.join(' ')}`);
    const caches = new Caches(kubeConfig, WATCHED, { secretSelector: selector });
    try {
      await caches.start();
      const cached = caches.secrets.get(WATCHED, 'hub-tls') as { data?: Record<string, string> } | undefined;
      assert.ok(cached, 'the Secret is in the cache');
      assert.deepEqual(Object.keys(cached.data ?? {}).sort(), ['tls.crt', 'tls.key']);
      assert.deepEqual(caches.secrets.list().map((o) => o.metadata?.name), ['hub-tls'], 'only the labelled Secret is listed');
      const text = JSON.stringify(caches.secrets.list());
      const encoded = Buffer.from(TLS_VALUE).toString('base64');
      assert.ok(!text.includes(TLS_VALUE) && !text.includes(encoded), `the cache holds a Secret value: ${text.slice(0, 600)}`);
    } finally {
      caches.stop();
    }
  });

  test('a connector naming an unlabelled Secret: not Ready, missingSecret naming the Secret and the label; loaded once it is labelled', async () => {
    const admin = kubeClient(cluster);
    applyObjects(cluster, [{
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'scanners', namespace: WATCHED },
      spec: { hubs: [HUB], bindings: ['relay:25'], remoteIPRanges: ['192.168.2.0/24'], permissionGroups: ['AnonymousUsers'], tls: { secretName: 'unrelated' } },
    }]);
    const readyOf = async (): Promise<Condition | undefined> => condition(await admin.get<HubView>(WATCHED, 'receiveconnector', 'scanners'), 'Ready');
    const refused = await until('scanners not Ready: its Secret lacks the label', async () => {
      const ready = await readyOf();
      return ready?.status === 'False' && /missingSecret: Secret unrelated /.test(ready.message ?? '') ? ready : undefined;
    }, 30_000, async () => ({ ready: await readyOf(), logs: operator?.logs.filter((l) => l.level !== 'info').slice(-5) }));
    assert.match(refused.message ?? '', /Secret unrelated .*not found in namespace .* among the Secrets labelled relayoperator\.io\/secret=true/);
    assert.match(refused.message ?? '', new RegExp(`kubectl label secret -n ${WATCHED} unrelated relayoperator\\.io/secret=true`));
    cluster.kubectl(['-n', WATCHED, 'label', 'secret', 'unrelated', 'relayoperator.io/secret=true']);
    await until('scanners loaded once the Secret is labelled', async () => {
      const ready = await readyOf();
      return ready !== undefined && !/missingSecret/.test(ready.message ?? '') ? true : undefined;
    }, 30_000, async () => ({ ready: await readyOf() }));
    cluster.kubectl(['-n', WATCHED, 'delete', 'receiveconnector', 'scanners']);
  });

  test('a relay\'s ServiceAccount may patch its own pods\' report Leases and nothing else: no pod, no other Lease', async () => {
    const admin = kubeClient(cluster);
    applyObjects(cluster, [
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bystander', namespace: WATCHED, labels: { app: 'bystander' } }, spec: { containers: [{ name: 'c', image: 'example.invalid/bystander' }] } },
      { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'bystander-leader', namespace: WATCHED }, spec: { holderIdentity: 'bystander' } },
    ]);
    const relayClient = new KubeClient(serviceAccountKubeconfig(WATCHED, `${HUB}-relay`));
    const relabel = { metadata: { labels: { 'relayoperator.io/hub': HUB, 'app.kubernetes.io/name': 'relay' } } };
    assert.equal(await status(relayClient, 'PATCH', KubeClient.path(WATCHED, 'pod', 'bystander'), relabel), 403, 'another pod of the namespace');
    assert.equal(await status(relayClient, 'PATCH', KubeClient.path(WATCHED, 'pod', `${HUB}-relay-0`), relabel), 403, 'its own pod');
    assert.equal(await status(relayClient, 'PATCH', KubeClient.path(WATCHED, 'lease', 'bystander-leader'), { spec: { holderIdentity: 'relay' } }), 403, 'another Lease of the namespace');
    assert.equal(await status(relayClient, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${WATCHED}/leases`, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'made-by-relay' } }), 403, 'a new Lease');
    assert.equal(await status(relayClient, 'PATCH', KubeClient.path(WATCHED, 'lease', `${HUB}-relay-2`), { spec: { holderIdentity: 'x' } }), 403, 'a Lease past the replicas');
    assert.equal(await status(relayClient, 'GET', `/api/v1/namespaces/${WATCHED}/secrets/hub-tls`), 403, 'Secrets: only mounted');
    assert.equal((await admin.get<{ metadata: { labels?: Record<string, string> } }>(WATCHED, 'pod', 'bystander')).metadata.labels?.['relayoperator.io/hub'], undefined);
    assert.equal((await admin.get<{ spec: { holderIdentity?: string } }>(WATCHED, 'lease', 'bystander-leader')).spec.holderIdentity, 'bystander');
    // scaling the hub re-renders the Role with the new names, and the operator creates the Lease
    cluster.kubectl(['-n', WATCHED, 'patch', 'relayhub', HUB, '--type=merge', '-p', '{"spec":{"replicas":3}}']);
    await until('Role names pod 2', async () => ((await admin.get<Doc>(WATCHED, 'role', `${HUB}-relay`)).rules?.[0]?.resourceNames as string[] | undefined)?.includes(`${HUB}-relay-2`));
    await until('Lease of pod 2 exists', () => admin.tryGet(WATCHED, 'lease', `${HUB}-relay-2`));
    assert.equal(await status(relayClient, 'PATCH', KubeClient.path(WATCHED, 'lease', `${HUB}-relay-2`), configReportPatch(`${HUB}-relay-2`, 'uid', 'x', new Date())), 200);
    // scaling down deletes the Lease of the pod that went away
    cluster.kubectl(['-n', WATCHED, 'patch', 'relayhub', HUB, '--type=merge', '-p', '{"spec":{"replicas":2}}']);
    await until('Lease of pod 2 deleted', async () => (await admin.tryGet(WATCHED, 'lease', `${HUB}-relay-2`)) === undefined);
  });
});

/*
 * test/operator/rbac-needed - every verb of the chart's RBAC and of the hub's relay Role is
 * needed, proven by use (issue 10, item 5), on the real API server.
 *
 * The chart's RBAC is rendered by helm (namespaced mode: the ClusterRole of cluster-wide mode
 * holds the same rules, test/operator/rbac.test.ts asserts that). For each verb of each rule a
 * copy without that verb is applied for a fresh ServiceAccount in a fresh pair of namespaces
 * (watched, and release: the operator's ServiceAccount and leader Lease), the operator runs
 * with a token of that account, and one concrete scenario is shown to fail: it
 * does not happen within a bound (the larger of 12 s and 4x what it took with every rule), and
 * the operator logged a 403 naming the resource. Before any removal, one run with the full
 * rules performs every one of those scenarios (the positive control, so no removal can pass
 * vacuously) and nothing it or the relay logs contains "forbidden".
 *
 * The operator logs every runtime failure (list/watch, reconcile, leader election, Event writes)
 * as a warn line with the API server's Status text (operator/runtime/diagnostics-log.ts), which
 * is what "forbidden in the operator's log" reads.
 *
 * rule (verbs)                                       verb     scenario that fails without it
 * -------------------------------------------------  -------  -------------------------------------------------------------
 * relayoperator.io relayhubs, receiveconnectors,     list     caches never sync: no "caches synced", /readyz never 200
 *   accepteddomains, sendconnectors (list, watch)    watch    a RelayHub created after start is never seen: no StatefulSet
 * .../status of the four (patch)                     patch    the hub's status is never written (its ConfigMap is)
 * relayhubs/finalizers (update)                      update   the hub's ConfigMap is never created: its owner reference
 *                                                            sets blockOwnerDeletion, which the OwnerReferencesPermission-
 *                                                            Enforcement admission plugin (on in the test control plane, as
 *                                                            on hardened clusters) allows only with update on finalizers
 * secrets (list, watch)                              list     caches never sync
 *                                                    watch    a TLS Secret created after start is never seen: the hub's
 *                                                            connector never gets into its ConfigMap
 * secrets (create)                                   create   the hub's hand-off token Secret is never created
 * persistentvolumeclaims (list, watch)               list     caches never sync
 *                                                    watch    a spool PVC left by a scale-down (created after start) is
 *                                                            never seen: no StrandedMail condition
 * pods (list, watch)                                 list     caches never sync
 *                                                    watch    pods that turn Ready with the config hash are never seen:
 *                                                            the hub never turns Ready
 * leases (list, watch, create, patch, delete)        list     caches never sync
 *                                                    watch    a relay's report of the config hash it runs is never seen:
 *                                                            the hub never turns Ready
 *                                                    create   the pod's report Lease is never created
 *                                                    patch    the relay Role (patch on the hub's report Leases) is never
 *                                                            created: RBAC refuses to grant what the operator does not hold
 *                                                    delete   the report Lease of a pod the hub scaled away stays
 * configmaps, serviceaccounts (list, watch,          list     caches never sync
 *   create, patch)                                   watch    a deleted ConfigMap is not put back
 *                                                    create   the hub's ConfigMap is never created (apply of a new object)
 *                                                    patch    the hub's ConfigMap is never created (apply is a PATCH)
 * services (list, watch, create, patch, delete)      list     caches never sync
 *                                                    watch    a deleted address Service is not put back
 *                                                    create   the address Service is never created
 *                                                    patch    the address Service is never created
 *                                                    delete   the Service of an address no connector binds any more stays
 * statefulsets (get, list, watch, create, patch)     get      the relay Role (get on the hub's own StatefulSet) is never
 *                                                            created: RBAC refuses to grant what the operator does not hold
 *                                                    list     caches never sync
 *                                                    watch    a deleted StatefulSet is not put back
 *                                                    create   the StatefulSet is never created
 *                                                    patch    the StatefulSet is never created
 * poddisruptionbudgets (list, watch, create, patch)  list     caches never sync
 *                                                    watch    a deleted PDB is not put back
 *                                                    create   the PDB is never created
 *                                                    patch    the PDB is never created
 * roles, rolebindings (list, watch, create, patch)   list     caches never sync
 *                                                    watch    a deleted relay Role is not put back
 *                                                    create   the relay Role is never created
 *                                                    patch    the relay Role is never created
 * events.k8s.io events (create, patch)               create   no ConfigRendered Event about the hub
 *                                                    patch    a repeated Event's series count is never written: shown
 *                                                            in-process with the operator's EventRecorder and a fake clock
 *                                                            (the operator patches at most every 5 minutes)
 * leases (create)                                    create   leadership never won (no Lease exists to read)
 * leases relay-operator (get, update)                get      leadership never won (the Lease cannot be read)
 *                                                    update   leadership won by create, then lost at the first renewal:
 *                                                            "leader election lost", exit 1
 * hub Role: leases <sts>-0..N-1 (patch)              patch    the relay (`relay-operator relay`, its own ServiceAccount)
 *                                                            never writes the config hash into its report Lease
 * hub Role: statefulsets <sts> (get)                 get      the relay's scale-down check on SIGTERM (hand-off) is refused
 *
 * Verbs found unneeded and removed from the chart with this test: get on every
 * resource (the operator reads through list/watch caches only; server-side apply and status
 * apply are PATCH), update (no PUT anywhere but the leader Lease; finalizers aside), and
 * delete on everything but Services and Leases (the only owned objects a hub stops wanting are
 * an address Service and a scaled-away pod's report Lease). Removed with issue 17: patch on
 * pods (relays report in Leases; the operator writes no pod).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import diagnostics_channel from 'node:diagnostics_channel';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { configReportPatch, reportedConfigHash } from '../../operator/resources/config-report.ts';
import { relayHandOffRules, relayReportRules } from '../../operator/resources/hub-objects.ts';
import { EventRecorder } from '../../operator/runtime/events.ts';
import type { RenderedConfig } from '../../relay/config/schema.ts';
import type { EventMessage } from '../../operator/runtime/diagnostics.ts';
import type { TestCluster } from '../support/cluster.ts';
import { useTestNamespaces } from '../support/cluster.ts';
import { JsonLogProcess } from '../support/json-log-process.ts';
import { KubeClient, OperatorProcess, kubeClient, markPodReady, until, type LogLine } from '../support/operator-process.ts';
import { freePort } from '../controlplane/controlplane.ts';

const suffix = randomBytes(3).toString('hex');
const FULL = `rbacn-full-${suffix}`;
const RELAY_NS = `rbacn-relay-${suffix}`;
const TEMPLATE_NS = 'rbacn-template';
const TEMPLATE_WATCHED = 'rbacn-template-watched';
/** The release namespace (the operator's own: its ServiceAccount and leader Lease) of a watched one. */
const releaseNamespace = (watched: string): string => `${watched}-rel`;
const RELEASE = 'rel';
const OPERATOR_SA = 'relay-operator';
const MAIN_ROLE = `${RELEASE}-relay-operator`;
const LEASE_ROLE = `${RELEASE}-relay-operator-leader-election`;
/** hub-a: replicas 0 (no pods, so nothing but the test changes its objects), two addresses. */
const HUB_A = 'hub-a';
/** hub-p: one pod (made by the StatefulSet controller, played Ready by the test). */
const HUB_P = 'hub-p';
/** hub-s: replicas 0, TLS from a Secret that the test creates late. */
const HUB_S = 'hub-s';
/** Removal runs at once, each its own namespace and operator process. */
const PARALLEL = 6;
/** A removal's scenario must not happen within max(MIN_BOUND_MS, 4 x its time with every rule). */
const MIN_BOUND_MS = 12_000;
const STEP_TIMEOUT_MS = 30_000;

interface Rule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }
interface Doc { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; uid?: string; annotations?: Record<string, string>; labels?: Record<string, string> }; rules?: Rule[]; [field: string]: unknown }
interface Condition { type: string; status: string; reason: string }
interface HubView { status?: { configHash?: string; podsCurrent?: number; conditions?: Condition[] } }
interface EventView { reason?: string; regarding?: { name?: string }; series?: { count?: number } }
interface LeaseView { spec: { holderIdentity?: string; renewTime?: string } }

let cluster: TestCluster;
let admin: KubeClient;
let dir = '';
let rendered: Doc[] = [];
const running = new Set<JsonLogProcess>();
const extraNamespaces: string[] = [];

// ---------------------------------------------------------------------------------------------
// RBAC: render, reduce, apply, token

function renderChartRbac(): Doc[] {
  const text = execFileSync(join(cluster.binDir, 'helm'), ['template', RELEASE, 'charts/relay-operator', '--namespace', TEMPLATE_NS, '--kube-version', '1.36.0',
    '--set', `watchNamespace=${TEMPLATE_WATCHED}`, '--show-only', 'templates/rbac.yaml'], { encoding: 'utf8' });
  return parseAllDocuments(text).map((d) => d.toJS() as Doc | null).filter((d): d is Doc => d !== null);
}

/** A removal: one verb of the rule (of role) whose resources include resource. */
interface Removal { role: typeof MAIN_ROLE | typeof LEASE_ROLE; resource: string; verb: string; resourceNames?: boolean }

const ruleKey = (role: string, rule: Rule): string => `${role} ${rule.apiGroups.join(',')}/${rule.resources.join(',')}${rule.resourceNames ? `[${rule.resourceNames.join(',')}]` : ''}`;

function findRule(rules: Rule[], removal: Removal): Rule {
  const found = rules.filter((r) => r.resources.includes(removal.resource) && r.verbs.includes(removal.verb) && (removal.resourceNames ?? false) === (r.resourceNames !== undefined));
  assert.equal(found.length, 1, `exactly one rule grants ${removal.verb} ${removal.resource} in ${removal.role}`);
  return found[0] as Rule;
}

/** The chart's RBAC for namespace (watched = release namespace), less one verb of one rule. */
function rbacFor(namespace: string, removal?: Removal): Doc[] {
  const docs = JSON.parse(JSON.stringify(rendered).replaceAll(`"${TEMPLATE_WATCHED}"`, `"${namespace}"`).replaceAll(`"${TEMPLATE_NS}"`, `"${releaseNamespace(namespace)}"`)) as Doc[];
  if (removal) {
    const role = docs.find((d) => d.kind === 'Role' && d.metadata.name === removal.role);
    assert.ok(role?.rules, `the chart renders Role ${removal.role}`);
    const rule = findRule(role.rules, removal);
    rule.verbs = rule.verbs.filter((v) => v !== removal.verb);
    role.rules = role.rules.filter((r) => r.verbs.length > 0);
  }
  return docs;
}

const API_PATH: Record<string, string> = {
  ServiceAccount: 'api/v1/serviceaccounts', Role: 'apis/rbac.authorization.k8s.io/v1/roles', RoleBinding: 'apis/rbac.authorization.k8s.io/v1/rolebindings',
  ConfigMap: 'api/v1/configmaps', Pod: 'api/v1/pods', Secret: 'api/v1/secrets', Lease: 'apis/coordination.k8s.io/v1/leases',
  PersistentVolumeClaim: 'api/v1/persistentvolumeclaims', StatefulSet: 'apis/apps/v1/statefulsets',
  RelayHub: 'apis/relayoperator.io/v1alpha1/relayhubs', ReceiveConnector: 'apis/relayoperator.io/v1alpha1/receiveconnectors',
};

/** create - POST as admin, in-process (a kubectl process per object is slow on a busy machine). */
async function create(object: Doc): Promise<void> {
  const resource = API_PATH[object.kind];
  const namespace = object.metadata.namespace;
  assert.ok(resource && namespace, `create: ${object.kind} needs a path and a namespace`);
  const slash = resource.lastIndexOf('/');
  const res = await admin.request('POST', `/${resource.slice(0, slash)}/namespaces/${namespace}/${resource.slice(slash + 1)}`, JSON.stringify(object));
  if (res.status !== 201) throw new Error(`create ${object.kind} ${namespace}/${object.metadata.name}: ${res.status} ${res.body}`);
}

async function createNamespace(name: string): Promise<void> {
  const res = await admin.request('POST', '/api/v1/namespaces', JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
  if (res.status !== 201) throw new Error(`create namespace ${name}: ${res.status} ${res.body}`);
  extraNamespaces.push(name);
}

/** A kubeconfig like the admin's, authenticated by a TokenRequest token of the ServiceAccount. */
async function serviceAccountKubeconfig(namespace: string, serviceAccount: string): Promise<string> {
  const res = await admin.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } }));
  if (res.status !== 201) throw new Error(`token for ${namespace}/${serviceAccount}: ${res.status} ${res.body}`);
  const token = (JSON.parse(res.body) as { status: { token: string } }).status.token;
  const config = parse(readFileSync(cluster.kubeconfig, 'utf8')) as { users: Array<{ name: string; user: Record<string, unknown> }> };
  config.users = config.users.map((u) => ({ name: u.name, user: { token } }));
  const file = join(dir, `${namespace}-${serviceAccount}.kubeconfig`);
  writeFileSync(file, stringify(config), { mode: 0o600 });
  return file;
}

// ---------------------------------------------------------------------------------------------
// The operator, with its runtime diagnostics as log lines

let operatorCounter = 0;

async function startOperator(namespace: string, kubeconfig: string): Promise<OperatorProcess> {
  const metricsPort = await freePort();
  const identity = `rbacn-${++operatorCounter}`;
  // The chart's args (--namespace, --metrics-addr) and its lease namespace (the release
  // namespace: not the watched one, so the leader Lease's and the report Leases' rules are
  // each shown needed on their own), with the short lease timings of the other tests.
  const child = spawn(process.execPath, ['bin/relay-operator.js', 'operator',
    '--namespace', namespace, '--metrics-addr', `127.0.0.1:${metricsPort}`, '--leader-election-namespace', releaseNamespace(namespace),
    '--lease-duration', '3', '--renew-deadline', '2', '--retry-period', '0.5', '--identity', identity,
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: kubeconfig, POD_NAME: identity, POD_NAMESPACE: releaseNamespace(namespace) } });
  const operator = new OperatorProcess(child, identity, metricsPort);
  running.add(operator);
  return operator;
}

async function stopProcess(process: JsonLogProcess): Promise<void> {
  const exited = process.signal('SIGTERM');
  const timer = setTimeout(() => void process.signal('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
  running.delete(process);
}

const forbiddenLines = (p: JsonLogProcess): string[] =>
  [...p.logs.map((l) => JSON.stringify(l)), ...p.stderr.split('\n')].filter((l) => /forbidden/i.test(l));

// ---------------------------------------------------------------------------------------------
// Scenarios: prepare() must succeed with or without the removal; check() is what fails

interface Ctx { ns: string; operator: OperatorProcess }
interface Scenario {
  name: string;
  prepare?: (ctx: Ctx) => Promise<void>;
  /** Resolves truthy once the scenario happened (polled). */
  check: (ctx: Ctx) => Promise<boolean>;
}

const hubA = (ns: string): Doc => ({
  apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB_A, namespace: ns },
  spec: { replicas: 0, fqdn: 'hub-a.example.com', addresses: [{ name: 'relay' }, { name: 'extra' }] },
});
const connector = (ns: string, name: string, hub: string, bindings: string[]): Doc => ({
  apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name, namespace: ns },
  spec: { hubs: [hub], bindings, remoteIPRanges: ['192.168.1.0/24'], permissionGroups: ['AnonymousUsers'] },
});
/** hub-s: replicas 0, its connector loads only once its TLS Secret exists. */
const hubS = (ns: string): Doc => ({
  apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB_S, namespace: ns },
  spec: { replicas: 0, fqdn: 'hub-s.example.com', addresses: [{ name: 'relay' }], tls: { secretName: 'hub-tls' } },
});
const hubP = (ns: string): Doc => ({
  apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB_P, namespace: ns },
  spec: { replicas: 1, fqdn: 'hub-p.example.com', addresses: [{ name: 'relay' }] },
});

const exists = async (ns: string, kind: string, name: string): Promise<boolean> => (await admin.tryGet(ns, kind, name)) !== undefined;
const hubStatus = async (ns: string, hub: string): Promise<HubView['status']> => (await admin.tryGet<HubView>(ns, 'relayhub', hub))?.status;
const condition = (status: HubView['status'], type: string): Condition | undefined => status?.conditions?.find((c) => c.type === type);
/** loadedConnectors - how many connectors the hub's ConfigMap holds (undefined before it exists). */
async function loadedConnectors(ns: string, hub: string): Promise<number | undefined> {
  const text = (await admin.tryGet<{ data?: Record<string, string> }>(ns, 'configmap', `${hub}-relay-config`))?.data?.['config.json'];
  return text === undefined ? undefined : (JSON.parse(text) as RenderedConfig).connectors.length;
}
const leaderWon = (op: OperatorProcess): Promise<boolean> => Promise.resolve(op.isLeader);
const waitLeader = (op: OperatorProcess): Promise<unknown> => op.waitForLeader(STEP_TIMEOUT_MS);
const wonAt = new WeakMap<OperatorProcess, number>();

/** The hubs and the connector, applied once the operator leads (so a RelayHub watch matters). */
async function applyHubs(ctx: Ctx): Promise<void> {
  await waitLeader(ctx.operator);
  if (await exists(ctx.ns, 'relayhub', HUB_A)) return;
  await create(hubA(ctx.ns));
  await create(connector(ctx.ns, 'copiers', HUB_A, ['relay:25', 'extra:25']));
  await create(hubP(ctx.ns));
  await create(hubS(ctx.ns));
  await create(connector(ctx.ns, 'secured', HUB_S, ['relay:25']));
}

/** Every queue empty, no reconcile running, for 2 s: nothing but the test will change anything. */
async function quiet(op: OperatorProcess): Promise<void> {
  let since = 0;
  await until('operator queues idle for 2 s', async () => {
    // an operator still starting on a loaded machine has no metrics endpoint yet: not idle
    if (!(await op.queueIdle().catch(() => false))) since = 0;
    else since ||= Date.now();
    return since > 0 && Date.now() - since >= 2000;
  }, STEP_TIMEOUT_MS);
}

/** restored - the object exists, the operator is idle, the test deletes it: it comes back. */
function restored(kind: string, name: string): Scenario {
  let uid = '';
  return {
    name: `a deleted ${kind} ${name} is put back`,
    prepare: async (ctx) => {
      await applyHubs(ctx);
      const object = await until(`${kind} ${name}`, () => admin.tryGet<Doc>(ctx.ns, kind, name), STEP_TIMEOUT_MS);
      uid = object.metadata.uid ?? '';
      await quiet(ctx.operator);
      const res = await admin.request('DELETE', KubeClient.path(ctx.ns, kind, name));
      assert.equal(res.status, 200, `delete ${kind} ${name}: ${res.body}`);
    },
    check: async (ctx) => {
      const now = await admin.tryGet<Doc>(ctx.ns, kind, name);
      return now !== undefined && now.metadata.uid !== uid;
    },
  };
}

const created = (kind: string, name: string, hub = HUB_A): Scenario => ({
  name: `${hub}'s ${kind} ${name} is created`,
  prepare: applyHubs,
  check: (ctx) => exists(ctx.ns, kind, name),
});

const SCENARIOS = {
  synced: {
    name: 'caches sync and /readyz answers 200',
    check: async ({ operator }) => operator.logs.some((l) => l.message === 'caches synced') && (await operator.readyz().catch(() => 0)) === 200,
  },
  leader: { name: 'leadership is won', check: ({ operator }) => leaderWon(operator) },
  keepsLead: {
    name: 'the leader renews the Lease and keeps leading',
    prepare: async ({ operator }) => {
      await waitLeader(operator);
      wonAt.set(operator, Date.now());
    },
    check: async ({ ns, operator }) => {
      // renewals every 0.5 s with a 2 s deadline: 4 s of leading, the Lease renewed since, means renewals succeed
      const won = wonAt.get(operator) ?? Infinity;
      const lease = await admin.tryGet<LeaseView>(releaseNamespace(ns), 'lease', 'relay-operator');
      return Date.now() - won > 4000 && operator.running && !operator.logs.some((l) => l.message === 'leader election lost: stopping')
        && lease?.spec.holderIdentity === operator.identity && Date.parse(lease.spec.renewTime ?? '') > won + 2000;
    },
  },
  hubSeen: created('statefulset', `${HUB_A}-relay`),
  status: {
    name: `${HUB_A}'s status is written`,
    prepare: async (ctx) => {
      await applyHubs(ctx);
      // the reconcile runs: its first object is applied, so only the status write is in question
      await until(`${HUB_A}'s ConfigMap`, () => exists(ctx.ns, 'configmap', `${HUB_A}-relay-config`), STEP_TIMEOUT_MS);
    },
    check: async (ctx) => (await hubStatus(ctx.ns, HUB_A))?.configHash !== undefined,
  },
  configMap: created('configmap', `${HUB_A}-relay-config`),
  tokenSecret: created('secret', `${HUB_A}-relay-queue-token`),
  stranded: {
    name: `a spool PVC of an ordinal ${HUB_A} no longer has gives StrandedMail`,
    prepare: async (ctx) => {
      await applyHubs(ctx);
      await until(`${HUB_A}'s status`, async () => (await hubStatus(ctx.ns, HUB_A))?.configHash, STEP_TIMEOUT_MS);
      if (!(await exists(ctx.ns, 'persistentvolumeclaim', `spool-${HUB_A}-relay-0`))) {
        await create({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: `spool-${HUB_A}-relay-0`, namespace: ctx.ns, labels: { 'app.kubernetes.io/name': 'relay', 'relayoperator.io/hub': HUB_A } },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
      }
    },
    check: async (ctx) => condition(await hubStatus(ctx.ns, HUB_A), 'StrandedMail')?.status === 'True',
  },
  service: created('service', `${HUB_A}-extra`),
  statefulSet: created('statefulset', `${HUB_A}-relay`),
  pdb: created('poddisruptionbudget', `${HUB_A}-relay`),
  relayRole: {
    name: `${HUB_P}'s relay Role (patch on its pod's report Lease) and RoleBinding are created`,
    prepare: applyHubs,
    check: async (ctx) => {
      const role = await admin.tryGet<Doc>(ctx.ns, 'role', `${HUB_P}-relay`);
      return role?.rules?.[0]?.verbs.includes('patch') === true && await exists(ctx.ns, 'rolebinding', `${HUB_P}-relay`);
    },
  },
  event: {
    name: `a ConfigRendered Event about ${HUB_A}`,
    prepare: applyHubs,
    check: async (ctx) => {
      const res = await admin.request('GET', `/apis/events.k8s.io/v1/namespaces/${ctx.ns}/events`);
      return (JSON.parse(res.body) as { items: EventView[] }).items.some((e) => e.reason === 'ConfigRendered' && e.regarding?.name === HUB_A);
    },
  },
  secretLate: {
    name: `a TLS Secret created after start loads ${HUB_S}'s connector into its config`,
    prepare: async (ctx) => {
      await applyHubs(ctx);
      await until(`${HUB_S}'s config without its connector (no TLS Secret yet)`, async () => (await loadedConnectors(ctx.ns, HUB_S)) === 0, STEP_TIMEOUT_MS);
      if (!(await exists(ctx.ns, 'secret', 'hub-tls'))) {
        await create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hub-tls', namespace: ctx.ns }, stringData: { 'tls.crt': 'x', 'tls.key': 'x' } });
      }
    },
    check: async (ctx) => (await loadedConnectors(ctx.ns, HUB_S)) === 1,
  },
  podsSeen: {
    name: `${HUB_P} turns Ready when its pod is Ready with the config hash`,
    prepare: async (ctx) => {
      await applyHubs(ctx);
      const hash = await until(`${HUB_P}'s config hash`, async () => (await hubStatus(ctx.ns, HUB_P))?.configHash, STEP_TIMEOUT_MS);
      const pod = `${HUB_P}-relay-0`;
      await until(`pod ${pod} (StatefulSet controller)`, () => exists(ctx.ns, 'pod', pod), STEP_TIMEOUT_MS);
      await markPodReady(cluster, ctx.ns, pod);
      const uid = (await admin.get<Doc>(ctx.ns, 'pod', pod)).metadata.uid ?? '';
      await until(`report Lease ${pod}`, () => exists(ctx.ns, 'lease', pod), STEP_TIMEOUT_MS);
      await admin.mergePatch(ctx.ns, 'lease', pod, configReportPatch(pod, uid, hash, new Date()));
    },
    check: async (ctx) => condition(await hubStatus(ctx.ns, HUB_P), 'Ready')?.status === 'True',
  },
  reportLease: created('lease', `${HUB_P}-relay-0`, HUB_P),
  reportLeaseDeleted: {
    name: `the report Lease of a pod the hub scaled away is deleted (${HUB_P}-relay-0)`,
    prepare: async (ctx) => {
      await applyHubs(ctx);
      await until(`${HUB_P}-relay-0's report Lease`, () => exists(ctx.ns, 'lease', `${HUB_P}-relay-0`), STEP_TIMEOUT_MS);
      await admin.request('PATCH', `/apis/relayoperator.io/v1alpha1/namespaces/${ctx.ns}/relayhubs/${HUB_P}`, JSON.stringify({ spec: { replicas: 0 } }), 'application/merge-patch+json');
    },
    check: async (ctx) => !(await exists(ctx.ns, 'lease', `${HUB_P}-relay-0`)),
  },
  restoredConfigMap: restored('configmap', `${HUB_A}-relay-config`),
  restoredService: restored('service', `${HUB_A}-relay`),
  restoredStatefulSet: restored('statefulset', `${HUB_A}-relay`),
  restoredPdb: restored('poddisruptionbudget', `${HUB_A}-relay`),
  restoredRole: restored('role', `${HUB_A}-relay`),
  serviceDeleted: {
    name: `the Service of an address no connector binds any more is deleted (${HUB_A}-extra)`,
    prepare: async (ctx) => {
      await applyHubs(ctx);
      await until(`${HUB_A}-extra`, () => exists(ctx.ns, 'service', `${HUB_A}-extra`), STEP_TIMEOUT_MS);
      await admin.request('PATCH', `/apis/relayoperator.io/v1alpha1/namespaces/${ctx.ns}/receiveconnectors/copiers`, JSON.stringify({ spec: { bindings: ['relay:25'] } }), 'application/merge-patch+json');
    },
    check: async (ctx) => !(await exists(ctx.ns, 'service', `${HUB_A}-extra`)),
  },
} satisfies Record<string, Scenario>;
type ScenarioId = keyof typeof SCENARIOS;

/** The order of the full run: objects first, then the scenarios that change them. */
const FULL_ORDER: ScenarioId[] = [
  'synced', 'leader', 'keepsLead', 'hubSeen', 'configMap', 'tokenSecret', 'stranded', 'service', 'statefulSet', 'pdb', 'status', 'relayRole', 'event',
  'reportLease', 'secretLate', 'podsSeen', 'restoredConfigMap', 'restoredService', 'restoredStatefulSet', 'restoredPdb', 'restoredRole', 'serviceDeleted',
  'reportLeaseDeleted',
];

/** A removal, the scenario that then fails, and what the 403 in the log must say (each regex, one line). */
interface Case { removal: Removal; scenario: ScenarioId; evidence: RegExp[] }

/**
 * evidence - the log line of the refused request: a list or watch error of the informer of one
 * of the resources (the reflector's path), or the API server's "cannot VERB resource R".
 */
function evidence(verb: string, resources: string[]): RegExp[] {
  const any = `(${resources.join('|')})`;
  if (verb === 'list' || verb === 'watch') return [new RegExp(`"event":"${verb}Error"`), new RegExp(`"path":"[^"]*/${any}"`), /forbidden/i];
  return [new RegExp(`is forbidden: .*cannot ${verb} resource \\\\*"${any}\\\\*"`)];
}

const main = (resource: string, verb: string, scenario: ScenarioId, resources: string[] = [resource]): Case =>
  ({ removal: { role: MAIN_ROLE, resource, verb }, scenario, evidence: evidence(verb, resources) });
const lease = (verb: string, resourceNames: boolean, scenario: ScenarioId): Case =>
  ({ removal: { role: LEASE_ROLE, resource: 'leases', verb, resourceNames }, scenario, evidence: evidence(verb, ['leases']) });
const CUSTOM = ['relayhubs', 'receiveconnectors', 'accepteddomains', 'sendconnectors'];

/** One operator run each; see the table at the top. */
const CASES: Case[] = [
  main('relayhubs', 'list', 'synced', CUSTOM),
  main('relayhubs', 'watch', 'hubSeen', CUSTOM),
  main('relayhubs/status', 'patch', 'status'),
  { removal: { role: MAIN_ROLE, resource: 'relayhubs/finalizers', verb: 'update' }, scenario: 'configMap', evidence: [/cannot set blockOwnerDeletion/] },
  main('secrets', 'list', 'synced'),
  main('secrets', 'watch', 'secretLate'),
  main('secrets', 'create', 'tokenSecret'),
  main('persistentvolumeclaims', 'list', 'synced'),
  main('persistentvolumeclaims', 'watch', 'stranded'),
  main('pods', 'list', 'synced'),
  main('pods', 'watch', 'podsSeen'),
  main('leases', 'list', 'synced'),
  main('leases', 'watch', 'podsSeen'),
  main('leases', 'create', 'reportLease'),
  // the Role the operator applies grants patch on Leases: RBAC refuses to let it grant more than it holds
  { removal: { role: MAIN_ROLE, resource: 'leases', verb: 'patch' }, scenario: 'relayRole', evidence: [/roles.* is forbidden: .*attempting to grant RBAC permissions not currently held/] },
  main('leases', 'delete', 'reportLeaseDeleted'),
  main('configmaps', 'list', 'synced', ['configmaps', 'serviceaccounts']),
  main('configmaps', 'watch', 'restoredConfigMap', ['configmaps', 'serviceaccounts']),
  main('configmaps', 'create', 'configMap'),
  main('configmaps', 'patch', 'configMap'),
  main('services', 'list', 'synced'),
  main('services', 'watch', 'restoredService'),
  main('services', 'create', 'service'),
  main('services', 'patch', 'service'),
  main('services', 'delete', 'serviceDeleted'),
  // the relay Role grants get on the hub's StatefulSet: RBAC refuses to let the operator grant more than it holds
  { removal: { role: MAIN_ROLE, resource: 'statefulsets', verb: 'get' }, scenario: 'relayRole', evidence: [/roles.* is forbidden: .*attempting to grant RBAC permissions not currently held/] },
  main('statefulsets', 'list', 'synced'),
  main('statefulsets', 'watch', 'restoredStatefulSet'),
  main('statefulsets', 'create', 'statefulSet'),
  main('statefulsets', 'patch', 'statefulSet'),
  main('poddisruptionbudgets', 'list', 'synced'),
  main('poddisruptionbudgets', 'watch', 'restoredPdb'),
  main('poddisruptionbudgets', 'create', 'pdb'),
  main('poddisruptionbudgets', 'patch', 'pdb'),
  main('roles', 'list', 'synced', ['roles', 'rolebindings']),
  main('roles', 'watch', 'restoredRole', ['roles', 'rolebindings']),
  main('roles', 'create', 'relayRole'),
  main('roles', 'patch', 'relayRole'),
  main('events', 'create', 'event'),
  lease('create', false, 'leader'),
  lease('get', true, 'leader'),
  lease('update', true, 'keepsLead'),
];

/** Not removable here, with the reason (the table at the top). */
const NOT_SHOWN = new Map<string, string>();
/** Shown in-process, not by an operator run (the table at the top). */
const IN_PROCESS = new Set([`${MAIN_ROLE} events patch`]);

const positiveMs = new Map<ScenarioId, number>();
/** hub-p's relay Role as the operator made it in the full run (one pod). */
let hubPRelayRole: Doc | undefined;

/**
 * setUpNamespace - the watched namespace's release namespace, the chart's RBAC in both (less the
 * removal) and a kubeconfig of the operator's account.
 */
async function setUpNamespace(namespace: string, removal?: Removal): Promise<string> {
  await createNamespace(releaseNamespace(namespace));
  const docs = rbacFor(namespace, removal);
  // ServiceAccount first: the token request needs it; Roles before their bindings
  for (const kind of ['ServiceAccount', 'Role', 'RoleBinding']) for (const doc of docs.filter((d) => d.kind === kind)) await create(doc);
  return serviceAccountKubeconfig(releaseNamespace(namespace), OPERATOR_SA);
}

useTestNamespaces([FULL, RELAY_NS], {
  crds: true,
  ready: (c) => {
    cluster = c;
    admin = kubeClient(c);
    dir = mkdtempSync(join(tmpdir(), 'relay-rbac-needed-'));
    mkdirSync(dir, { recursive: true });
    rendered = renderChartRbac();
  },
  beforeStop: async () => {
    await Promise.all([...running].map((p) => stopProcess(p)));
    if (extraNamespaces.length > 0) cluster.tryKubectl(['delete', 'namespace', ...extraNamespaces, '--wait=false']);
    rmSync(dir, { recursive: true, force: true });
  },
});

describe('RBAC proven by use: every verb is needed', { timeout: 420_000 }, () => {
  let full: OperatorProcess | undefined;
  after(async () => {
    if (full) await stopProcess(full);
  });

  test('every verb of the chart\'s Roles is removed by a case (or is listed as not shown, with the reason)', () => {
    const granted: string[] = [];
    for (const role of rendered.filter((d) => d.kind === 'Role')) {
      for (const rule of role.rules ?? []) for (const verb of rule.verbs) granted.push(`${ruleKey(role.metadata.name, rule)} ${verb}`);
    }
    const covered = CASES.map((c) => {
      const role = rendered.find((d) => d.kind === 'Role' && d.metadata.name === c.removal.role);
      return `${ruleKey(c.removal.role, findRule(role?.rules ?? [], c.removal))} ${c.removal.verb}`;
    });
    const others = [...NOT_SHOWN.keys(), ...IN_PROCESS].map((k) => {
      const [role = '', resource = '', verb = ''] = k.split(' ');
      const rules = rendered.find((d) => d.kind === 'Role' && d.metadata.name === role)?.rules ?? [];
      return `${ruleKey(role, findRule(rules, { role: role as Removal['role'], resource, verb }))} ${verb}`;
    });
    assert.equal(new Set(covered).size, covered.length, 'no verb is removed twice');
    assert.deepEqual([...covered, ...others].sort(), granted.sort(), 'every granted verb has a case');
    // the hub's relay Role: one rule, one verb, removed by the relay test below
    assert.deepEqual(relayReportRules('x-relay', 2).map((r) => r.verbs), [['patch']]);
  });

  test('with every rule, the operator does every scenario, and nothing is forbidden', async (t) => {
    const kubeconfig = await setUpNamespace(FULL);
    full = await startOperator(FULL, kubeconfig);
    const ctx: Ctx = { ns: FULL, operator: full };
    for (const id of FULL_ORDER) {
      const scenario: Scenario = SCENARIOS[id];
      await scenario.prepare?.(ctx);
      const started = Date.now();
      await until(`full rules: ${scenario.name}`, () => scenario.check(ctx), STEP_TIMEOUT_MS, () => full?.logs.slice(-8));
      positiveMs.set(id, Date.now() - started);
      // before reportLeaseDeleted scales hub-p to 0 (and its Role to no rule): the relay test uses it
      if (id === 'relayRole') hubPRelayRole = await admin.get<Doc>(FULL, 'role', `${HUB_P}-relay`);
    }
    t.diagnostic(`ms per scenario with every rule: ${JSON.stringify(Object.fromEntries(positiveMs))}`);
    // the same account can do what the in-process Event case needs too (series patch)
    const recorded = await eventSeries(FULL, kubeconfig);
    assert.deepEqual(recorded, { created: true, patched: true, errors: [] });
    // the whole run, releasing the Lease at SIGTERM included
    await stopProcess(full);
    assert.deepEqual(forbiddenLines(full), [], 'no log line of the operator with the full rules says forbidden');
  });

  test('without each verb, its scenario fails and the operator logs a 403 naming the resource', { timeout: 330_000 }, async (t) => {
    const started = Date.now();
    assert.equal(positiveMs.size, FULL_ORDER.length, 'the full run did every scenario first');
    const failures: string[] = [];
    const queue = CASES.map((c, i) => ({ c, i }));
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const { c, i } = next;
        const label = `without ${c.removal.verb} ${c.removal.resource}${c.removal.resourceNames ? ' (named)' : ''} -> ${SCENARIOS[c.scenario].name}`;
        try {
          await runCase(c, `rbacn-${i}-${suffix}`);
        } catch (error) {
          failures.push(`${label}: ${(error as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, () => worker()));
    t.diagnostic(`${CASES.length} removals in ${Date.now() - started} ms`);
    assert.deepEqual(failures, []);
  });

  test('without events patch, the series of a repeated Event is not written (the operator\'s EventRecorder, fake clock)', async () => {
    const ns = `rbacn-events-${suffix}`;
    await createNamespace(ns);
    const kubeconfig = await setUpNamespace(ns, { role: MAIN_ROLE, resource: 'events', verb: 'patch' });
    const recorded = await eventSeries(ns, kubeconfig);
    assert.equal(recorded.created, true, 'create is still granted');
    assert.equal(recorded.patched, false, 'the series patch failed');
    assert.ok(recorded.errors.some((e) => /forbidden/i.test(e) && /cannot patch resource \\*"events\\*"/.test(e)), recorded.errors.join('\n'));
  });

  test('the relay reports its config hash in its report Lease with the hub Role, and not without its rule', async () => {
    // The objects the operator made for hub-p in the full run, copied to a namespace where no
    // operator runs (it would put its Role back): ConfigMap, ServiceAccount, Role (as it was
    // with one pod), RoleBinding, and the report Lease (what the operator creates, empty).
    const pod = `${HUB_P}-relay-0`;
    const copy = async (kind: string, name: string, edit: (d: Doc) => Doc = (d) => d, from?: Doc): Promise<Doc> => {
      const source = from ?? await admin.get<Doc>(FULL, kind, name);
      const { apiVersion, kind: k, metadata, ...rest } = source;
      const object = edit({ apiVersion, kind: k, metadata: { name: metadata.name, namespace: RELAY_NS, labels: metadata.labels ?? {} }, ...rest });
      delete (object as { status?: unknown }).status;
      if (object.kind === 'RoleBinding') (object as unknown as { subjects: Array<{ namespace: string }> }).subjects.forEach((s) => (s.namespace = RELAY_NS));
      await create(object);
      return object;
    };
    const configMap = await copy('configmap', `${HUB_P}-relay-config`);
    await copy('serviceaccount', `${HUB_P}-relay`, (d) => ({ ...d, secrets: undefined }));
    assert.ok(hubPRelayRole, 'the full run kept hub-p\'s Role');
    const role = await copy('role', `${HUB_P}-relay`, (d) => d, hubPRelayRole);
    assert.deepEqual(role.rules, [...relayReportRules(`${HUB_P}-relay`, 1), ...relayHandOffRules(`${HUB_P}-relay`)], 'the operator\'s Role is relayReportRules and relayHandOffRules');
    // the hub's StatefulSet, for the relay's scale-down check on SIGTERM (replicas 0 here: no pod made; the GET is what counts)
    await copy('statefulset', `${HUB_P}-relay`, (d) => ({ ...d, spec: { ...(d.spec as Record<string, unknown>), replicas: 0 } }));
    const tokenFile = join(dir, 'hand-off-token');
    writeFileSync(tokenFile, 'token\n');
    await copy('rolebinding', `${HUB_P}-relay`);
    await create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: pod, namespace: RELAY_NS, labels: { 'app.kubernetes.io/name': 'relay', 'relayoperator.io/hub': HUB_P } }, spec: { serviceAccountName: `${HUB_P}-relay`, containers: [{ name: 'relay', image: 'example.invalid/relay' }] } });
    await create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: pod, namespace: RELAY_NS } });
    const podUid = (await admin.get<Doc>(RELAY_NS, 'pod', pod)).metadata.uid ?? '';
    const configDir = join(dir, 'relay-config');
    mkdirSync(configDir, { recursive: true });
    for (const [file, content] of Object.entries((configMap as { data?: Record<string, string> }).data ?? {})) writeFileSync(join(configDir, file), content);
    const kubeconfig = await serviceAccountKubeconfig(RELAY_NS, `${HUB_P}-relay`);
    const reported = async (): Promise<string | undefined> =>
      reportedConfigHash({ metadata: { name: pod, uid: podUid } }, await admin.tryGet<LeaseView & { metadata?: { annotations?: Record<string, string> } }>(RELAY_NS, 'lease', pod));

    // with the rule: the Lease carries the hash the relay runs, written by this pod
    const withRule = await startRelay(kubeconfig, pod, podUid, configDir, 'with', tokenFile);
    const started = Date.now();
    const hash = await until('the relay reports in its Lease', reported, STEP_TIMEOUT_MS, () => withRule.logs.slice(-5));
    const tookMs = Date.now() - started;
    assert.equal(hash, (await hubStatus(FULL, HUB_P))?.configHash, 'the hash of the config the operator rendered');
    await stopProcess(withRule);
    assert.deepEqual(forbiddenLines(withRule), [], 'no log line of the relay with its Role says forbidden');
    assert.ok(withRule.logs.some((l) => /^hand-off decision: the hub is scaled to 0/.test(l.message ?? '')), `the relay read its StatefulSet on SIGTERM: ${withRule.tail(5)}`);

    // without it (the Role's only rule removed), the same relay never writes it
    await admin.mergePatch(RELAY_NS, 'lease', pod, { metadata: { annotations: { 'relayoperator.io/config-hash': null } }, spec: { holderIdentity: null } });
    const res = await admin.request('PATCH', `/apis/rbac.authorization.k8s.io/v1/namespaces/${RELAY_NS}/roles/${HUB_P}-relay`, JSON.stringify({ rules: [] }), 'application/merge-patch+json');
    assert.equal(res.status, 200, res.body);
    const withoutRule = await startRelay(kubeconfig, pod, podUid, configDir, 'without', tokenFile);
    await sleep(Math.max(MIN_BOUND_MS, 4 * tookMs));
    assert.equal(await reported(), undefined, 'no report without the rule');
    assert.ok(withoutRule.logs.some((l) => /could not report config hash/.test(l.message ?? '') && /forbidden/i.test(l.message ?? '') && /cannot patch resource \\*"leases\\*"/.test(l.message ?? '')), withoutRule.tail(5));
    await stopProcess(withoutRule);
    assert.ok(withoutRule.logs.some((l) => /hand-off decision failed/.test(l.message ?? '') && /cannot get resource \\*"statefulsets\\*"/.test(l.message ?? '')), `without the rule the scale-down check is refused: ${withoutRule.tail(5)}`);
  });
});

/**
 * runCase - one removal: its namespace and reduced RBAC, the operator with that account, the
 * scenario's preparation (which must still work), then the scenario must not happen within the
 * bound, and a 403 naming the resource must be in the operator's log.
 */
async function runCase(c: Case, namespace: string): Promise<void> {
  const scenario: Scenario = SCENARIOS[c.scenario];
  await createNamespace(namespace);
  const kubeconfig = await setUpNamespace(namespace, c.removal);
  const operator = await startOperator(namespace, kubeconfig);
  try {
    const ctx: Ctx = { ns: namespace, operator };
    await scenario.prepare?.(ctx);
    const bound = Math.max(MIN_BOUND_MS, 4 * (positiveMs.get(c.scenario) ?? 0));
    const deadline = Date.now() + bound;
    while (Date.now() < deadline) {
      if (await scenario.check(ctx).catch(() => false)) throw new Error(`the scenario happened anyway: ${operator.tail(5)}`);
      await sleep(500);
    }
    // the 403 may be logged after the bound when the operator started slowly (a loaded machine)
    const refusedLine = (): boolean => operator.logs.some((l: LogLine) => l.runtime !== undefined && c.evidence.every((e) => e.test(JSON.stringify(l))));
    await until(`a log line matching ${c.evidence.join(' and ')}`, () => refusedLine() || undefined, STEP_TIMEOUT_MS, () => operator.tail(8))
      .catch((error: unknown) => { throw new Error(`no log line matching ${c.evidence.join(' and ')}: ${operator.tail(8)}`, { cause: error }); });
  } finally {
    await stopProcess(operator);
  }
}

/** startRelay - `relay-operator relay` as the pod would run it: POD_NAME/POD_NAMESPACE/POD_UID and its account. */
async function startRelay(kubeconfig: string, pod: string, podUid: string, configDir: string, tag: string, handOffTokenFile: string): Promise<JsonLogProcess> {
  const spool = join(dir, `relay-spool-${tag}`);
  mkdirSync(spool, { recursive: true });
  const metricsPort = await freePort();
  const child = spawn(process.execPath, ['bin/relay-operator.js', 'relay', '--config', join(configDir, 'config.json'), '--spool', spool,
    '--metrics-addr', `127.0.0.1:${metricsPort}`, '--bind-address', '127.0.0.1', '--grace-period', '1', '--hand-off-token-file', handOffTokenFile],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: kubeconfig, POD_NAME: pod, POD_NAMESPACE: RELAY_NS, POD_UID: podUid } });
  const relay = new JsonLogProcess(child);
  running.add(relay);
  await relay.waitForLog((l) => l.log === 'app' && l.message === 'hub started', STEP_TIMEOUT_MS);
  return relay;
}

/**
 * eventSeries - the operator's EventRecorder with the account's kubeconfig and a clock the test
 * moves: one Event, then the same one past the series interval, which patches the series.
 */
async function eventSeries(namespace: string, kubeconfigFile: string): Promise<{ created: boolean; patched: boolean; errors: string[] }> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigFile);
  let now = Date.now();
  const recorder = new EventRecorder({ kubeConfig, now: () => now, seriesUpdateMs: 1000, reportingInstance: 'rbac-needed' });
  const errors: string[] = [];
  const onEvent = (message: unknown): void => {
    const error = (message as EventMessage).error;
    errors.push(error instanceof Error ? `${error.message} ${JSON.stringify((error as { body?: unknown }).body ?? '')}` : String(error));
  };
  diagnostics_channel.subscribe('relay:runtime:event', onEvent);
  try {
    const regarding = { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB_A, namespace, uid: `uid-${suffix}` } };
    const input = { type: 'Normal' as const, reason: 'SeriesTest', action: 'Test', note: 'repeated' };
    const created = await recorder.record(regarding, input);
    now += 2000;
    const patched = await recorder.record(regarding, input);
    if (patched) {
      const res = await admin.request('GET', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`);
      const event = (JSON.parse(res.body) as { items: EventView[] }).items.find((e) => e.reason === 'SeriesTest');
      assert.equal(event?.series?.count, 2, 'the series count is on the Event');
    }
    return { created, patched, errors };
  } finally {
    diagnostics_channel.unsubscribe('relay:runtime:event', onEvent);
  }
}

/*
 * test/support/operator-process - the operator (`relay-operator operator`) and relay pods
 * (`relay-operator relay`) as child processes against a test control plane.
 *
 * startOperator() runs the operator as a user would, with KUBECONFIG, a namespace, a free
 * metrics port and (short) lease timings; it collects the JSON log lines of stdout and can
 * wait for one ('caches synced', 'leader election won: ...'). metrics() / apiWrites() read
 * its /metrics. stop() sends SIGTERM (the lease is released), kill() SIGKILL (it is not).
 *
 * startRelayPod() plays one pod of a hub: it writes the hub's ConfigMap to a directory the
 * way kubelet mounts it (config.json, or config.json.gz for a compressed config), starts
 * the relay on a loopback address standing for the Service IP, with POD_NAME/POD_NAMESPACE/
 * POD_UID so it reports the config hash it runs in its pod's report Lease. syncConfig() rewrites the file from
 * the ConfigMap as it is now (kubelet's projection update). markPodReady() sets the pod's
 * Ready condition, which nothing else does in a cluster without kubelet; settleStatefulSet()
 * waits out (and drives) the StatefulSet controller's pod replacement after a template change.
 *
 * kubeClient() reads the API in-process (GET, LIST, watch, merge PATCH with the kubeconfig's
 * token): tests poll a lot, and a kubectl process per poll is slow on a busy machine. Changes a
 * user makes still go through kubectl (cluster.kubectl / applyObjects).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { freePort } from '../controlplane/controlplane.ts';
import { useTestNamespaces, type TestCluster } from './cluster.ts';
import { JsonLogProcess, type LogLine } from './json-log-process.ts';
import { configReportPatch, reportedConfigHash } from '../../operator/resources/config-report.ts';

export type { LogLine } from './json-log-process.ts';


/**
 * until - poll check() until it returns a value that is not undefined/false; on timeout the
 * error shows the last exception, or what describe() says about the state (the last thing seen).
 */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, describe?: () => unknown): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      let state = '';
      if (lastError) state = `: ${(lastError as Error).message}`;
      else if (describe) {
        try {
          state = `; last seen: ${JSON.stringify(await describe())?.slice(-3000)}`;
        } catch (error) {
          state = `; (describe failed: ${(error as Error).message})`;
        }
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${state}`);
    }
    await sleep(200);
  }
}


// ---------------------------------------------------------------------------------------------
// Prometheus text

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[label[1] ?? ''] = label[2] ?? '';
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return samples;
}

/** The resources whose writes mean "the operator changed something" (not events). */
export const RECONCILE_WRITE_RESOURCES = (resource: string): boolean =>
  ['configmaps', 'services', 'statefulsets'].includes(resource) || resource.endsWith('/status');

// ---------------------------------------------------------------------------------------------
// The operator

export interface OperatorOptions {
  cluster: TestCluster;
  namespace: string;
  /** Lease namespace (default: namespace). */
  leaseNamespace?: string;
  identity?: string;
  /** Seconds: [leaseDuration, renewDeadline, retryPeriod]; default 3, 2, 0.5. */
  lease?: [number, number, number];
  env?: NodeJS.ProcessEnv;
  /** What start resolves after: 'ready' (caches synced, /readyz 200, default), 'leader' or 'none'. */
  waitFor?: 'ready' | 'leader' | 'none';
}

export class OperatorProcess extends JsonLogProcess {
  readonly identity: string;
  readonly metricsPort: number;

  constructor(child: ChildProcess, identity: string, metricsPort: number) {
    super(child);
    this.identity = identity;
    this.metricsPort = metricsPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.metricsPort}`;
  }

  get isLeader(): boolean {
    return this.logs.some((l) => l.log === 'app' && l.message === 'leader election won: starting controllers');
  }

  waitForLeader(timeoutMs = 15_000): Promise<LogLine> {
    return this.waitForLog((l) => l.log === 'app' && l.message === 'leader election won: starting controllers', timeoutMs);
  }

  async readyz(): Promise<number> {
    const response = await fetch(`${this.url}/readyz`);
    await response.text();
    return response.status;
  }

  async metrics(): Promise<Sample[]> {
    const response = await fetch(`${this.url}/metrics`);
    if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
    return parseMetrics(await response.text());
  }

  /** apiWrites - relay_operator_api_writes_total as `verb resource` -> count. */
  async apiWrites(): Promise<Map<string, number>> {
    const writes = new Map<string, number>();
    for (const s of await this.metrics()) {
      if (s.name === 'relay_operator_api_writes_total') writes.set(`${s.labels.verb ?? ''} ${s.labels.resource ?? ''}`, s.value);
    }
    return writes;
  }

  /** writeCount - the sum of relay_operator_api_writes_total over the resources accepted by filter. */
  async writeCount(filter: (resource: string) => boolean = () => true): Promise<number> {
    let total = 0;
    for (const [key, value] of await this.apiWrites()) if (filter(key.slice(key.indexOf(' ') + 1))) total += value;
    return total;
  }

  /** reconciles - controller_runtime_reconcile_total summed over results, per controller. */
  async reconciles(controller: string): Promise<number> {
    return (await this.metrics()).filter((s) => s.name === 'controller_runtime_reconcile_total' && s.labels.controller === controller).reduce((n, s) => n + s.value, 0);
  }

  /** queueIdle - every workqueue is empty and no reconcile is running. */
  async queueIdle(): Promise<boolean> {
    const samples = await this.metrics();
    const depth = samples.filter((s) => s.name === 'workqueue_depth').reduce((n, s) => n + s.value, 0);
    const active = samples.filter((s) => s.name === 'controller_runtime_active_workers').reduce((n, s) => n + s.value, 0);
    return depth === 0 && active === 0;
  }

  stop(): Promise<number | null> {
    return this.signal('SIGTERM');
  }

  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }
}

let operatorCounter = 0;

export async function startOperator(options: OperatorOptions): Promise<OperatorProcess> {
  const metricsPort = await freePort();
  const identity = options.identity ?? `test-operator-${process.pid}-${++operatorCounter}`;
  const [lease, renew, retry] = options.lease ?? [3, 2, 0.5];
  const child = spawn(process.execPath, [
    'bin/relay-operator.js', 'operator',
    '--namespace', options.namespace,
    '--metrics-addr', `127.0.0.1:${metricsPort}`,
    '--leader-election-namespace', options.leaseNamespace ?? options.namespace,
    '--lease-duration', String(lease), '--renew-deadline', String(renew), '--retry-period', String(retry),
    '--identity', identity,
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: options.cluster.kubeconfig, ...options.env } });
  const operator = new OperatorProcess(child, identity, metricsPort);
  const waitFor = options.waitFor ?? 'ready';
  try {
    if (waitFor !== 'none') {
      await operator.waitForLog((l) => l.log === 'app' && l.message === 'caches synced', 30_000);
      await until('/readyz 200', async () => (await operator.readyz()) === 200, 10_000);
    }
    if (waitFor === 'leader') await operator.waitForLeader(20_000);
  } catch (error) {
    await operator.kill();
    throw error;
  }
  return operator;
}

/**
 * useOperatorNamespace - useTestNamespaces with the CRDs and one namespace, plus an operator
 * watching it and leading there; stopped after beforeStop() and before the cluster goes.
 */
export function useOperatorNamespace(namespace: string, options: { ready: (cluster: TestCluster) => void | Promise<void>; beforeStop?: () => void | Promise<void> }): void {
  let operator: OperatorProcess | undefined;
  useTestNamespaces([namespace], {
    crds: true,
    ready: async (cluster) => {
      operator = await startOperator({ cluster, namespace, waitFor: 'leader' });
      await options.ready(cluster);
    },
    beforeStop: async () => {
      try {
        await options.beforeStop?.();
      } finally {
        await operator?.stop();
      }
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Reading the API (in-process HTTPS: a kubectl process per poll costs 100s of ms on a busy machine)

export type Json = Record<string, unknown>;

const RESOURCES: Record<string, string> = {
  configmap: 'api/v1/configmaps', service: 'api/v1/services', pod: 'api/v1/pods', serviceaccount: 'api/v1/serviceaccounts', secret: 'api/v1/secrets',
  statefulset: 'apis/apps/v1/statefulsets', poddisruptionbudget: 'apis/policy/v1/poddisruptionbudgets',
  role: 'apis/rbac.authorization.k8s.io/v1/roles', rolebinding: 'apis/rbac.authorization.k8s.io/v1/rolebindings',
  lease: 'apis/coordination.k8s.io/v1/leases', persistentvolumeclaim: 'api/v1/persistentvolumeclaims', job: 'apis/batch/v1/jobs',
  relayhub: 'apis/relayoperator.io/v1alpha1/relayhubs', receiveconnector: 'apis/relayoperator.io/v1alpha1/receiveconnectors',
  accepteddomain: 'apis/relayoperator.io/v1alpha1/accepteddomains', sendconnector: 'apis/relayoperator.io/v1alpha1/sendconnectors',
};

/** KubeClient - GET, LIST and merge-PATCH with the kubeconfig's token and CA. */
export class KubeClient {
  readonly #server: URL;
  readonly #token: string;
  readonly #ca: Buffer;

  constructor(kubeconfigFile: string) {
    const config = parse(readFileSync(kubeconfigFile, 'utf8')) as {
      clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
      users: Array<{ user: { token: string } }>;
    };
    const cluster = config.clusters[0]?.cluster;
    const token = config.users[0]?.user.token;
    if (!cluster || !token) throw new Error(`${kubeconfigFile}: expected a cluster with CA data and a token user`);
    this.#server = new URL(cluster.server);
    this.#token = token;
    this.#ca = Buffer.from(cluster['certificate-authority-data'], 'base64');
  }

  request(method: string, path: string, body?: string, contentType = 'application/json'): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest({
        host: this.#server.hostname, port: this.#server.port, path, method, ca: this.#ca, timeout: 10_000,
        headers: { Authorization: `Bearer ${this.#token}`, Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': contentType } : {}) },
      }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
      req.end(body);
    });
  }

  static path(namespace: string, kind: string, name?: string): string {
    const resource = RESOURCES[kind.toLowerCase()];
    if (!resource) throw new Error(`KubeClient: unknown kind ${kind}`);
    const slash = resource.lastIndexOf('/');
    return `/${resource.slice(0, slash)}/namespaces/${namespace}/${resource.slice(slash + 1)}${name ? `/${name}` : ''}`;
  }

  async tryGet<T = Json>(namespace: string, kind: string, name: string): Promise<T | undefined> {
    const res = await this.request('GET', KubeClient.path(namespace, kind, name));
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`GET ${kind} ${namespace}/${name}: ${res.status} ${res.body}`);
    return JSON.parse(res.body) as T;
  }

  async get<T = Json>(namespace: string, kind: string, name: string): Promise<T> {
    const found = await this.tryGet<T>(namespace, kind, name);
    if (found === undefined) throw new Error(`${kind} ${namespace}/${name} not found`);
    return found;
  }

  async list<T = Json>(namespace: string, kind: string, labelSelector?: string): Promise<T[]> {
    const query = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    const res = await this.request('GET', `${KubeClient.path(namespace, kind)}${query}`);
    if (res.status !== 200) throw new Error(`LIST ${kind} ${namespace}: ${res.status} ${res.body}`);
    return (JSON.parse(res.body) as { items: T[] }).items;
  }

  /**
   * watch - every version of one object from now on (a watch from the current resourceVersion),
   * so a test sees transient states that polling would miss. stop() ends it.
   */
  async watch<T = Json>(namespace: string, kind: string, name: string, onEvent: (type: string, object: T) => void): Promise<{ stop: () => void }> {
    const current = await this.get<{ metadata: { resourceVersion: string } }>(namespace, kind, name);
    const query = `?watch=true&fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}&resourceVersion=${current.metadata.resourceVersion}`;
    const req = httpsRequest({
      host: this.#server.hostname, port: this.#server.port, path: `${KubeClient.path(namespace, kind)}${query}`, method: 'GET', ca: this.#ca,
      headers: { Authorization: `Bearer ${this.#token}`, Accept: 'application/json' },
    }, (res) => {
      let buffer = '';
      res.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line.trim() === '') continue;
          const event = JSON.parse(line) as { type: string; object: T };
          onEvent(event.type, event.object);
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', () => undefined);
    req.end();
    return { stop: () => void req.destroy() };
  }

  /** mergePatch - a JSON merge patch, on the status subresource when asked. */
  async mergePatch(namespace: string, kind: string, name: string, patch: object, subresource?: 'status'): Promise<void> {
    const res = await this.request('PATCH', `${KubeClient.path(namespace, kind, name)}${subresource ? `/${subresource}` : ''}`, JSON.stringify(patch), 'application/merge-patch+json');
    if (res.status !== 200) throw new Error(`PATCH ${kind} ${namespace}/${name}: ${res.status} ${res.body}`);
  }
}

const clients = new Map<string, KubeClient>();

/** kubeClient - the (cached) client for the test cluster. */
export function kubeClient(cluster: TestCluster): KubeClient {
  let client = clients.get(cluster.kubeconfig);
  if (!client) clients.set(cluster.kubeconfig, (client = new KubeClient(cluster.kubeconfig)));
  return client;
}

/** applyObjects - `kubectl apply` (client-side, as a user would) of documents given as objects. */
export function applyObjects(cluster: TestCluster, objects: object[]): string {
  return cluster.kubectl(['apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n---\n'));
}

/** markPodReady - what kubelet would report for a running, ready pod. */
export async function markPodReady(cluster: TestCluster, namespace: string, pod: string, ready = true): Promise<void> {
  const status = ready ? 'True' : 'False';
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await kubeClient(cluster).mergePatch(namespace, 'pod', pod, {
    status: {
      phase: 'Running',
      conditions: [
        { type: 'Initialized', status: 'True', lastTransitionTime: now },
        { type: 'ContainersReady', status, lastTransitionTime: now },
        { type: 'Ready', status, lastTransitionTime: now },
        { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
      ],
    },
  }, 'status');
}

/**
 * reportPodConfigHash - what the relay reports: the config hash it runs, in the pod's report
 * Lease (the same patch operator/cli/relay-command.ts sends), waiting for the operator to have
 * created the Lease.
 */
export async function reportPodConfigHash(cluster: TestCluster, namespace: string, pod: string, hash: string): Promise<void> {
  const kube = kubeClient(cluster);
  const uid = (await kube.get<{ metadata: { uid: string } }>(namespace, 'pod', pod)).metadata.uid;
  await until(`report Lease ${namespace}/${pod}`, () => kube.tryGet(namespace, 'lease', pod));
  await kube.mergePatch(namespace, 'lease', pod, configReportPatch(pod, uid, hash, new Date()));
}

/** podReportedConfigHash - the config hash the pod's own report Lease carries, if any. */
export async function podReportedConfigHash(cluster: TestCluster, namespace: string, pod: string): Promise<string | undefined> {
  const kube = kubeClient(cluster);
  const podObject = await kube.tryGet<{ metadata: { name: string; uid: string } }>(namespace, 'pod', pod);
  return podObject ? reportedConfigHash(podObject, await kube.tryGet(namespace, 'lease', pod)) : undefined;
}

interface PodView {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string };
  status?: { phase?: string; conditions?: Array<{ type: string; status: string }> };
}
interface StatefulSetView {
  metadata: { generation?: number };
  spec: { replicas: number; selector: { matchLabels: Record<string, string> } };
  status?: { observedGeneration?: number; updateRevision?: string };
}

export const podIsReady = (pod: PodView): boolean => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** statefulSetPods - the pods of a StatefulSet (by its selector), sorted by name. */
export async function statefulSetPods(cluster: TestCluster, namespace: string, statefulSet: string): Promise<PodView[]> {
  const kube = kubeClient(cluster);
  const sts = await kube.get<StatefulSetView>(namespace, 'statefulset', statefulSet);
  const selector = Object.entries(sts.spec.selector.matchLabels).map(([k, v]) => `${k}=${v}`).join(',');
  return (await kube.list<PodView>(namespace, 'pod', selector)).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

/**
 * settleStatefulSet - play kubelet until every desired pod of the StatefulSet exists at its
 * update revision (a template change makes the StatefulSet controller replace pods, one at a
 * time, waiting for the replaced ones to be Ready): each pod at the update revision is marked
 * Ready when markReady is set, and onPod is called once per such pod. Returns the pod names.
 */
export async function settleStatefulSet(cluster: TestCluster, namespace: string, statefulSet: string, options: { markReady: boolean; timeoutMs?: number; onPod?: (pod: string) => void | Promise<void> }): Promise<string[]> {
  const seen = new Set<string>();
  let last: unknown;
  const kube = kubeClient(cluster);
  return until(`StatefulSet ${statefulSet}: pods at the update revision${options.markReady ? ' and Ready' : ''}`, async () => {
    const sts = await kube.get<StatefulSetView>(namespace, 'statefulset', statefulSet);
    const revision = sts.status?.updateRevision;
    if (!revision || sts.status?.observedGeneration !== sts.metadata.generation) return undefined;
    const pods = (await statefulSetPods(cluster, namespace, statefulSet)).filter((p) => !p.metadata.deletionTimestamp);
    last = { revision, pods: pods.map((p) => [p.metadata.name, p.metadata.labels?.['controller-revision-hash'], p.status?.phase, podIsReady(p)]) };
    for (const pod of pods) {
      if (pod.metadata.labels?.['controller-revision-hash'] !== revision) continue;
      const key = `${pod.metadata.name}@${(pod.metadata as { uid?: string }).uid ?? ''}`;
      if (!seen.has(key)) {
        seen.add(key);
        await options.onPod?.(pod.metadata.name);
      }
      if (options.markReady && !podIsReady(pod)) await markPodReady(cluster, namespace, pod.metadata.name);
    }
    const done = pods.length === sts.spec.replicas && pods.every((p) => p.metadata.labels?.['controller-revision-hash'] === revision && (!options.markReady || podIsReady(p)));
    return done ? pods.map((p) => p.metadata.name) : undefined;
  }, options.timeoutMs ?? 30_000, () => last);
}

// ---------------------------------------------------------------------------------------------
// A relay pod

export interface RelayPodOptions {
  cluster: TestCluster;
  namespace: string;
  pod: string;
  configMap: string;
  /** The loopback address standing for the hub's Service IP. */
  bindAddress: string;
  dir?: string;
}

export class RelayPod extends JsonLogProcess {
  readonly options: RelayPodOptions;
  readonly dir: string;
  readonly configDir: string;
  readonly spoolDir: string;
  readonly metricsPort: number;

  constructor(child: ChildProcess, options: RelayPodOptions, dir: string, metricsPort: number) {
    super(child);
    this.options = options;
    this.dir = dir;
    this.configDir = join(dir, 'config');
    this.spoolDir = join(dir, 'spool');
    this.metricsPort = metricsPort;
  }

  /** syncConfig - rewrite the mounted config from the ConfigMap as it is now; returns the files written. */
  syncConfig(): Promise<string[]> {
    return writeConfigMapFiles(this.options.cluster, this.options.namespace, this.options.configMap, this.configDir);
  }

  /** configHash - the hash the relay says it runs (its /status). */
  async configHash(): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${this.metricsPort}/status`);
    return ((await response.json()) as { configHash: string }).configHash;
  }

  stop(): Promise<number | null> {
    return this.signal('SIGTERM');
  }

  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * writeConfigMapFiles - the ConfigMap's keys as files in dir, replaced atomically (kubelet
 * swaps the whole projected directory; a key no longer present disappears).
 */
export async function writeConfigMapFiles(cluster: TestCluster, namespace: string, configMap: string, dir: string): Promise<string[]> {
  const cm = await kubeClient(cluster).get<{ data?: Record<string, string>; binaryData?: Record<string, string> }>(namespace, 'configmap', configMap);
  mkdirSync(dir, { recursive: true });
  const files: Array<[string, Buffer]> = [
    ...Object.entries(cm.data ?? {}).map(([k, v]): [string, Buffer] => [k, Buffer.from(v)]),
    ...Object.entries(cm.binaryData ?? {}).map(([k, v]): [string, Buffer] => [k, Buffer.from(v, 'base64')]),
  ];
  if (files.length === 0) throw new Error(`ConfigMap ${namespace}/${configMap} has no keys`);
  for (const [name, content] of files) {
    writeFileSync(join(dir, `.${name}.tmp`), content);
    renameSync(join(dir, `.${name}.tmp`), join(dir, name));
  }
  for (const stale of ['config.json', 'config.json.gz']) {
    if (!files.some(([name]) => name === stale)) rmSync(join(dir, stale), { force: true });
  }
  return files.map(([name]) => name);
}

export async function startRelayPod(options: RelayPodOptions): Promise<RelayPod> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), `relay-pod-${options.pod}-`));
  const configDir = join(dir, 'config');
  await writeConfigMapFiles(options.cluster, options.namespace, options.configMap, configDir);
  // As in the pod: --config names config.json; the relay reads config.json.gz when only that exists.
  const configFile = join(configDir, 'config.json');
  const spool = join(dir, 'spool');
  mkdirSync(spool, { recursive: true });
  const metricsPort = await freePort();
  const podUid = (await kubeClient(options.cluster).get<{ metadata: { uid: string } }>(options.namespace, 'pod', options.pod)).metadata.uid;
  const child = spawn(process.execPath, [
    'bin/relay-operator.js', 'relay', '--config', configFile, '--spool', spool,
    '--metrics-addr', `127.0.0.1:${metricsPort}`, '--bind-address', options.bindAddress, '--grace-period', '2',
  ], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KUBECONFIG: options.cluster.kubeconfig, POD_NAME: options.pod, POD_NAMESPACE: options.namespace, POD_UID: podUid },
  });
  const pod = new RelayPod(child, options, dir, metricsPort);
  try {
    await pod.waitForLog((l) => l.log === 'app' && l.message === 'hub started', 20_000);
    await until(`${options.pod}: relay /healthz`, async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status === 200, 10_000);
  } catch (error) {
    await pod.signal('SIGKILL');
    throw error;
  }
  return pod;
}

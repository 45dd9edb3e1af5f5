/*
 * operator/cli/hub-targets - the relay pods of a hub in a cluster, each reached through a
 * port-forward to its HTTP endpoint: what `queue --hub NAME` and `track --hub NAME` talk to.
 *
 * The pods are those of the hub's StatefulSet selector (podLabels of resources/names.ts, the
 * selector hub-objects.ts gives the StatefulSet), listed through the API: the caller needs
 * `list` on pods and `get`/`create` on pods/portforward in the namespace, nothing else
 * (docs/operations.md). A pod that is not Running is reported and left out; a hub without
 * pods is an error that names the namespace and the selector.
 *
 * Through the port-forward the hub sees the request on its loopback interface, so the queue
 * and track APIs answer without a bearer token: RBAC on pods/portforward is the gate.
 */
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { METRICS_PORT, podLabels } from '../resources/names.ts';
import { FlagError } from './flags.ts';
import { HubClient } from './hub-client.ts';
import { openPodTunnel, type PodTunnel } from './pod-port-forward.ts';

/**
 * HUB_TARGET_FLAGS - the flags that name a running hub, the same for `queue` and `track`: one
 * hub's endpoint (`--hub-url`, `--token-file`) or every pod of a hub in a cluster (`--hub`, `-n`,
 * `--pod`, `--kubeconfig`, `--context`).
 */
export const HUB_TARGET_FLAGS = {
  'hub-url': { type: 'string' },
  'token-file': { type: 'string' },
  hub: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  pod: { type: 'string' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
} as const;

export interface ClusterFlags {
  hub: string;
  namespace?: string | undefined;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  /** Only this pod (`--pod`, or the POD of POD/ID arguments). */
  pods?: readonly string[] | undefined;
}

/** One hub endpoint to ask: a pod through its tunnel, or (pod null) the --hub-url given. */
export interface HubTarget {
  pod: string | null;
  client: HubClient;
}

export interface HubConnection {
  namespace: string;
  targets: HubTarget[];
  /** Pods of the hub left out, with the reason (not Running). */
  skipped: { pod: string; reason: string }[];
  close(): Promise<void>;
}

/** loadKubeConfig - the default loader (KUBECONFIG, ~/.kube/config, in-cluster) or --kubeconfig, then --context. */
export function loadKubeConfig(command: string, kubeconfig: string | undefined, context: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault();
  } catch (error) {
    throw new FlagError(`relay-operator ${command}: --kubeconfig ${kubeconfig ?? '(default)'}: ${(error as Error).message}`);
  }
  if (context !== undefined) {
    if (!kc.getContexts().some((c) => c.name === context)) throw new FlagError(`relay-operator ${command}: --context ${context}: no such context in the kubeconfig (${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw new FlagError(`relay-operator ${command}: the kubeconfig has no current cluster (set KUBECONFIG, --kubeconfig or --context)`);
  return kc;
}

/** namespaceOf - -n, else the kubeconfig context's namespace, else "default" (as kubectl). */
export function namespaceOf(kc: KubeConfig, flag: string | undefined): string {
  if (flag) return flag;
  const context = kc.getContextObject(kc.getCurrentContext());
  return context?.namespace ?? 'default';
}

export const selectorOf = (hub: string): string => Object.entries(podLabels(hub)).map(([k, v]) => `${k}=${v}`).join(',');

function podState(pod: V1Pod): string | null {
  if (pod.metadata?.deletionTimestamp) return 'terminating';
  const phase = pod.status?.phase ?? 'Unknown';
  return phase === 'Running' ? null : phase;
}

/** hubPods - the names of the hub's Running pods (sorted) and the others with their state. */
export async function hubPods(kc: KubeConfig, namespace: string, hub: string): Promise<{ running: string[]; skipped: { pod: string; reason: string }[] }> {
  const core = kc.makeApiClient(CoreV1Api);
  const labelSelector = selectorOf(hub);
  let items: V1Pod[];
  try {
    items = (await core.listNamespacedPod({ namespace, labelSelector })).items;
  } catch (error) {
    const status = (error as { code?: number }).code;
    const why = status === 403 ? 'forbidden: the user needs "list" on pods in this namespace (docs/operations.md, RBAC)' : (error as Error).message;
    throw new Error(`cannot list the pods of hub ${namespace}/${hub}: ${why}`, { cause: error });
  }
  if (items.length === 0) throw new Error(`hub ${namespace}/${hub} has no pods (selector ${labelSelector}): is the RelayHub in this namespace and reconciled? kubectl get relayhub -n ${namespace}`);
  const running: string[] = [];
  const skipped: { pod: string; reason: string }[] = [];
  for (const pod of items) {
    const name = pod.metadata?.name ?? '?';
    const state = podState(pod);
    if (state === null) running.push(name);
    else skipped.push({ pod: name, reason: state });
  }
  return { running: running.sort(), skipped };
}

/** connectHub - a port-forward to each Running pod of the hub (or to the pods asked for), ready to call. */
export async function connectHub(command: string, flags: ClusterFlags): Promise<HubConnection> {
  const kc = loadKubeConfig(command, flags.kubeconfig, flags.context);
  const namespace = namespaceOf(kc, flags.namespace);
  const pods = await hubPods(kc, namespace, flags.hub);
  let wanted = pods.running;
  if (flags.pods && flags.pods.length > 0) {
    const all = new Set([...pods.running, ...pods.skipped.map((s) => s.pod)]);
    const unknown = flags.pods.filter((p) => !all.has(p));
    if (unknown.length > 0) throw new Error(`hub ${namespace}/${flags.hub} has no pod ${unknown.join(', ')} (its pods: ${[...all].sort().join(', ')})`);
    const notRunning = pods.skipped.filter((s) => flags.pods?.includes(s.pod));
    if (notRunning.length > 0) throw new Error(`pod ${notRunning.map((s) => `${s.pod} is ${s.reason}`).join(', ')}: its queue cannot be asked now`);
    wanted = pods.running.filter((p) => flags.pods?.includes(p));
  }
  if (wanted.length === 0) throw new Error(`hub ${namespace}/${flags.hub} has no Running pod (${pods.skipped.map((s) => `${s.pod}: ${s.reason}`).join(', ')})`);
  const tunnels: PodTunnel[] = [];
  try {
    for (const pod of wanted) tunnels.push(await openPodTunnel(kc, namespace, pod, METRICS_PORT));
  } catch (error) {
    await Promise.all(tunnels.map((t) => t.close()));
    throw error;
  }
  return {
    namespace,
    targets: tunnels.map((t) => ({ pod: t.pod, client: new HubClient(t.url, null, () => t.lastError() ?? `port-forward to pod ${namespace}/${t.pod}: the pod may have stopped`) })),
    skipped: flags.pods && flags.pods.length > 0 ? [] : pods.skipped,
    close: async () => { await Promise.all(tunnels.map((t) => t.close())); },
  };
}

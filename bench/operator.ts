/*
 * bench/operator - the operator at scale on the real test control plane: 1,000 ReceiveConnectors
 * over 10 RelayHubs, from `kubectl apply` to every connector Ready; API writes per reconcile;
 * writes on a restart with nothing changed (a full resync); operator memory (VmRSS).
 *
 * Kubelet and the relay are played by the harness: each hub has one pod, marked Ready, and
 * the harness annotates it with the config hash the operator rendered (what the relay does
 * once it has loaded the ConfigMap). Run alone: `node bench/operator.ts`; `npm run bench`
 * runs it too.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { startControlPlane } from '../test/controlplane/controlplane.ts';
import type { TestCluster } from '../test/support/cluster.ts';
import { reportPodConfigHash, applyObjects, kubeClient, settleStatefulSet, startOperator, until } from '../test/support/operator-process.ts';

const HUBS = Number(process.env.OPERATOR_HUBS ?? 10);
const CONNECTORS = Number(process.env.OPERATOR_CONNECTORS ?? 1000);
const NS = 'bench-operator';
/** The heap settings the Helm chart gives the operator (charts/relay-operator values.yaml nodeOptions). */
const OPERATOR_ENV = { NODE_OPTIONS: process.env.OPERATOR_NODE_OPTIONS ?? '--max-old-space-size=192 --max-semi-space-size=4' };

interface Hub { metadata: { name: string }; status?: { configHash?: string; podsCurrent?: number; addresses?: Array<{ ports?: number[] }> } }
interface Connector { status?: { conditions?: Array<{ type: string; status: string }> } }

const hubName = (i: number): string => `hub-${String(i).padStart(2, '0')}`;
const connector = (i: number): object => ({
  apiVersion: 'relayoperator.io/v1alpha1',
  kind: 'ReceiveConnector',
  metadata: { name: `conn-${String(i).padStart(4, '0')}`, namespace: NS },
  spec: {
    hubs: [hubName(i % HUBS)],
    bindings: ['0.0.0.0:2525'],
    remoteIPRanges: [`10.${Math.floor(i / 250)}.${i % 250}.0/24`],
    permissionGroups: ['AnonymousUsers'],
  },
});

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

export async function main(): Promise<string> {
  const plane = await startControlPlane({ controllerManager: true });
  const cluster: TestCluster = {
    kubeconfig: plane.kubeconfig, binDir: plane.binDir, kubectl: (args, input) => plane.kubectl(args, input), stop: () => plane.stop(),
    tryKubectl: (args, input) => {
      try {
        return { status: 0, stdout: plane.kubectl(args, input), stderr: '' };
      } catch (error) {
        const e = error as { status?: number; stdout?: string; stderr?: string };
        return { status: e.status ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
      }
    },
  };
  const kube = kubeClient(cluster);
  try {
    cluster.kubectl(['apply', '--server-side', '-f', 'crds/']);
    cluster.kubectl(['wait', '--for=condition=Established', 'crd/receiveconnectors.relayoperator.io', 'crd/relayhubs.relayoperator.io']);
    cluster.kubectl(['create', 'namespace', NS]);
    let operator = await startOperator({ cluster, namespace: NS, lease: [15, 10, 2], waitFor: 'leader', env: OPERATOR_ENV });
    void operator.exited.then((code) => {
      if (code !== 0) process.stderr.write(`operator exited ${code}: ${operator.stderr.slice(-2000)}\n${operator.logs.slice(-5).map((l) => JSON.stringify(l)).join('\n')}\n`);
    });
    // Hubs first, each with one connector so its listener (and pod template) exists before the load.
    applyObjects(cluster, Array.from({ length: HUBS }, (_, i) => ({
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: hubName(i), namespace: NS }, spec: { replicas: 1 },
    })));
    applyObjects(cluster, Array.from({ length: HUBS }, (_, i) => connector(i)));
    // Wait until every hub rendered its listener, so the pod template is final before pods are played.
    await until('every hub rendered its listener', async () => {
      const hubs = await kube.list<Hub>(NS, 'relayhub');
      return hubs.length === HUBS && hubs.every((h) => (h.status?.addresses?.[0]?.ports?.length ?? 0) > 0);
    }, 120_000);
    const pods = new Map<string, string>();
    for (let i = 0; i < HUBS; i++) {
      const [pod] = await settleStatefulSet(cluster, NS, `${hubName(i)}-relay`, { markReady: true, timeoutMs: 120_000 });
      if (pod) pods.set(hubName(i), pod);
    }
    // The relay's part: each pod reports the hash of the config it would load.
    let playing = true;
    const player = (async () => {
      const reported = new Map<string, string>();
      while (playing) {
        for (const hub of await kube.list<Hub>(NS, 'relayhub')) {
          const hash = hub.status?.configHash;
          const pod = pods.get(hub.metadata.name);
          if (hash && pod && reported.get(pod) !== hash) {
            await reportPodConfigHash(cluster, NS, pod, hash);
            reported.set(pod, hash);
          }
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const ready = async (): Promise<number> => (await kube.list<Connector>(NS, 'receiveconnector')).filter((c) => c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')).length;
    await until('the first connectors Ready', async () => (await ready()) >= HUBS, 120_000);
    const writesBefore = await operator.writeCount();
    const reconcilesBefore = (await operator.reconciles('relayhub')) + (await operator.reconciles('receiveconnector'));

    const started = performance.now();
    for (let from = HUBS; from < CONNECTORS; from += 200) {
      applyObjects(cluster, Array.from({ length: Math.min(200, CONNECTORS - from) }, (_, k) => connector(from + k)));
    }
    const applied = performance.now();
    await until(`${CONNECTORS} connectors Ready`, async () => (await ready()) >= CONNECTORS, 600_000);
    const allReady = performance.now();
    await until('operator queues idle', () => operator.queueIdle(), 60_000);
    const writes = (await operator.writeCount()) - writesBefore;
    const reconciles = (await operator.reconciles('relayhub')) + (await operator.reconciles('receiveconnector')) - reconcilesBefore;
    const rss = rssMiB(operator.child.pid ?? 0);
    playing = false;
    await player;

    // A restart with nothing changed: a full list and reconcile of every key must write nothing.
    await operator.stop();
    operator = await startOperator({ cluster, namespace: NS, lease: [15, 10, 2], waitFor: 'leader', env: OPERATOR_ENV });
    await new Promise((r) => setTimeout(r, 3000));
    await until('operator queues idle after restart', () => operator.queueIdle(), 120_000);
    const restartWrites = await operator.writeCount();
    const restartBreakdown = [...(await operator.apiWrites())].filter(([, n]) => n > 0).map(([k, n]) => `${k}: ${n}`).join(', ');
    const restartReconciles = (await operator.reconciles('relayhub')) + (await operator.reconciles('receiveconnector'));
    const restartRss = rssMiB(operator.child.pid ?? 0);
    await operator.stop();

    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    return [
      '## Operator at scale (test control plane)',
      '',
      `command: \`node bench/operator.ts\` (also run by \`npm run bench\`); node ${process.version}, ${os.cpus().length} x ${cpu}; Kubernetes v1.36.3 (kube-apiserver, etcd, kube-controller-manager built by test/controlplane/build.sh)`,
      `operator: NODE_OPTIONS=${OPERATOR_ENV.NODE_OPTIONS} (as the Helm chart sets it)`,
      `load: ${HUBS} RelayHubs (1 pod each, kubelet and relay played by the harness: pods marked Ready, config hash annotated as the relay would), then ${CONNECTORS - HUBS} more ReceiveConnectors (${CONNECTORS} in all, ${CONNECTORS / HUBS} per hub, one /24 each, one listener) applied with kubectl apply in batches of 200`,
      '',
      '| figure | value | target |',
      '|---|---:|---|',
      `| apply of ${CONNECTORS - HUBS} connectors (kubectl) | ${((applied - started) / 1000).toFixed(1)} s | |`,
      `| from first apply to all ${CONNECTORS} connectors Ready | ${((allReady - started) / 1000).toFixed(1)} s | within 60 s |`,
      `| API writes during that | ${writes} (${reconciles} reconciles: ${(writes / Math.max(1, reconciles)).toFixed(2)} writes per reconcile) | |`,
      `| writes after a restart with nothing changed (full resync of ${restartReconciles} keys) | ${restartWrites}${restartBreakdown ? ` (${restartBreakdown})` : ''} | 0 |`,
      `| operator resident memory after the load / after the restart | ${rss.toFixed(0)} MiB / ${restartRss.toFixed(0)} MiB | under 300 MiB |`,
      '',
    ].join('\n');
  } catch (error) {
    process.stderr.write(`operator bench failed: ${(error as Error).stack ?? String(error)}\n`);
    throw error;
  } finally {
    await plane.stop();
  }
}

if (import.meta.main) console.log(await main());

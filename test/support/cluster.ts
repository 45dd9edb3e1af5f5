/*
 * test/support/cluster - the control plane a test file uses.
 *
 * `npm run test:integration` (test/run-integration.ts) starts one control plane per test run
 * and passes it in RELAY_TEST_KUBECONFIG; a test file started on its own starts its own.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { startControlPlane, controlPlaneBinaries, type ControlPlane } from '../controlplane/controlplane.ts';

export interface TestCluster {
  kubeconfig: string;
  binDir: string;
  kubectl(args: string[], input?: string): string;
  /** Like kubectl, but returns status and output instead of throwing. */
  tryKubectl(args: string[], input?: string): { status: number; stdout: string; stderr: string };
  stop(): Promise<void>;
}

function wrap(kubeconfig: string, binDir: string, stop: () => Promise<void>): TestCluster {
  const kubectl = (args: string[], input?: string): string =>
    execFileSync(join(binDir, 'kubectl'), [`--kubeconfig=${kubeconfig}`, ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  const tryKubectl = (args: string[], input?: string): { status: number; stdout: string; stderr: string } => {
    try {
      return { status: 0, stdout: kubectl(args, input), stderr: '' };
    } catch (error) {
      const e = error as { status?: number; stdout?: string; stderr?: string };
      return { status: e.status ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };
  return { kubeconfig, binDir, kubectl, tryKubectl, stop };
}

/** clusterOfControlPlane - a control plane a test file started itself, as a TestCluster. */
export function clusterOfControlPlane(plane: ControlPlane): TestCluster {
  return wrap(plane.kubeconfig, plane.binDir, () => plane.stop());
}

export async function testCluster(): Promise<TestCluster> {
  const shared = process.env.RELAY_TEST_KUBECONFIG;
  if (shared) return wrap(shared, process.env.RELAY_TEST_BIN_DIR ?? controlPlaneBinaries(), () => Promise.resolve());
  const plane = await startControlPlane({ controllerManager: true });
  return wrap(plane.kubeconfig, plane.binDir, () => plane.stop());
}

export interface TestNamespacesOptions {
  /** Apply crds/ and wait until every CRD is Established. */
  crds?: boolean;
  /** Called once the cluster and namespaces exist (assign the file's variables here). */
  ready: (cluster: TestCluster, kubeConfig: KubeConfig) => void | Promise<void>;
  /** Called first in the after hook, while the cluster still runs (stop processes here). */
  beforeStop?: () => void | Promise<void>;
}

/**
 * useTestNamespaces - the node:test hooks every integration test file on the API server needs.
 * before: the test cluster, the CRDs (crds: true), each namespace created, then ready().
 * after: beforeStop(), the namespaces deleted without waiting, the cluster stopped (a no-op on
 * the shared control plane of `npm run test:integration`).
 */
export function useTestNamespaces(namespaces: string[], options: TestNamespacesOptions): void {
  let cluster: TestCluster | undefined;
  before(async () => {
    cluster = await testCluster();
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    if (options.crds) {
      cluster.kubectl(['apply', '--server-side', '-f', 'crds/']);
      cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', 'crds/']);
    }
    for (const namespace of namespaces) cluster.kubectl(['create', 'namespace', namespace]);
    await options.ready(cluster, kubeConfig);
  });
  after(async () => {
    try {
      await options.beforeStop?.();
    } finally {
      // whatever beforeStop did, the namespaces and the control plane go
      cluster?.tryKubectl(['delete', 'namespace', ...namespaces, '--wait=false']);
      await cluster?.stop();
    }
  });
}

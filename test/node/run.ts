/*
 * test/node/run - `npm run test:node`: the suites that need a real node.
 *
 * Builds the image (`npm run image`: a test runs what a user would install), then, inside the
 * relay-clients network namespace (node-network.ts), starts the control plane with its node,
 * imports the image and runs test/node/*.test.ts against it, one file at a time. Everything the
 * node made (namespaces, mounts, cgroups, containers) is removed afterwards.
 *
 *   node test/node/run.ts [test files...]     RELAY_TEST_IMAGE=archive skips the image build
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNodeCluster } from '../controlplane/node.ts';
import { inClientsNamespace, runInClientsNamespace } from '../controlplane/node-network.ts';
import { controlPlaneBinaries } from '../controlplane/controlplane.ts';

/** LoadBalancer IPs of the tests (documentation ranges; clients come from 198.51.100.0/24 and 2001:db8::/32). */
const LOAD_BALANCER_POOL = ['203.0.113.0/24', '2001:db8:f:203::/120'];
const files = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['test/node/*.test.ts'];

if (!inClientsNamespace()) {
  if (process.getuid?.() !== 0) {
    console.error('test:node: needs root (network and mount namespaces, containerd, kubelet)');
    process.exit(2);
  }
  // Built here, where the npm registry is reachable; relay-clients reaches nothing outside.
  controlPlaneBinaries();
  const archive = process.env.RELAY_TEST_IMAGE ?? execFileSync('bash', ['.ci/image/build.sh'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;
  process.exit(await runInClientsNamespace([process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { ...process.env, RELAY_TEST_IMAGE: archive }));
}

const archive = process.env.RELAY_TEST_IMAGE!;
const cluster = await startNodeCluster({ images: [archive], loadBalancerPool: LOAD_BALANCER_POOL });
let status = 1;
try {
  const child = spawn(process.execPath, ['--test', '--test-concurrency=1', ...files], {
    stdio: 'inherit',
    env: {
      ...process.env,
      RELAY_TEST_KUBECONFIG: cluster.kubeconfig,
      RELAY_TEST_BIN_DIR: cluster.binDir,
      RELAY_TEST_NODE: '1',
      RELAY_TEST_IMAGE_REF: readFileSync(`${archive}.ref`, 'utf8').trim(),
      RELAY_TEST_CONTAINERD_SOCK: `${cluster.dir}/containerd/containerd.sock`,
    },
  });
  status = await new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
} finally {
  // The node's own logs outlive the run: what a failure needs to be understood.
  const logs = resolve('.cache/node-logs');
  rmSync(logs, { recursive: true, force: true });
  mkdirSync(logs, { recursive: true });
  for (const file of readdirSync(cluster.dir).filter((name) => name.endsWith('.log'))) copyFileSync(join(cluster.dir, file), join(logs, file));
  await cluster.stop();
  if (status !== 0) console.error(`test:node: control plane and node logs are in ${logs}`);
}
process.exit(status);

/*
 * test/run-integration - runs every test/**\/*.test.ts against one control plane per run, but
 * for test/node/ (the suites on a real node: npm run test:node).
 *
 * Builds (or reuses) the control plane binaries, starts etcd, kube-apiserver and
 * kube-controller-manager, passes the kubeconfig to the test files, stops everything after.
 */
import { spawn } from 'node:child_process';
import { globSync } from 'node:fs';
import { startControlPlane } from './controlplane/controlplane.ts';

const plane = await startControlPlane({ controllerManager: true });
let status: number;
try {
  const files = process.argv.slice(2).length > 0 ? process.argv.slice(2) : globSync('test/**/*.test.ts').filter((file) => !file.startsWith('test/node/')).sort();
  const child = spawn(process.execPath, ['--test', '--test-concurrency=1', ...files], {
    stdio: 'inherit',
    env: { ...process.env, RELAY_TEST_KUBECONFIG: plane.kubeconfig, RELAY_TEST_BIN_DIR: plane.binDir },
  });
  status = await new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
} finally {
  await plane.stop();
}
process.exit(status);

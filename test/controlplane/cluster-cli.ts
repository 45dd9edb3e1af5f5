/*
 * test/controlplane/cluster-cli - `npm run cluster`: a control plane by hand, until Ctrl-C.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { startControlPlane } from './controlplane.ts';

const plane = await startControlPlane({ controllerManager: true });
mkdirSync('.cache', { recursive: true });
const kubeconfig = `${process.cwd()}/.cache/kubeconfig`;
copyFileSync(plane.kubeconfig, kubeconfig);
try {
  plane.kubectl(['apply', '--server-side', '-f', 'crds/']);
} catch (error) {
  console.error(`CRDs not installed: ${(error as Error).message}`);
}
console.log(`control plane ready at ${plane.server} (CRDs installed)

  export KUBECONFIG=${kubeconfig}
  export PATH=${plane.binDir}:$PATH     # kubectl and helm built for it
  kubectl get relay -A

Ctrl-C stops it and deletes its data.`);
const shutdown = (): void => {
  void plane.stop().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
setInterval(() => undefined, 1 << 30);

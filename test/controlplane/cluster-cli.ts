/*
 * test/controlplane/cluster-cli - `npm run cluster`: a control plane by hand, until Ctrl-C.
 *
 * `npm run cluster -- --node` adds a real node (containerd, kubelet, kube-proxy; see node.ts) in
 * network namespaces of its own and imports the image `npm run image` built. The control plane and
 * the node are then reached from the relay-clients namespace: `ip netns exec relay-clients bash`.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane, type ControlPlane } from './controlplane.ts';
import { startNodeCluster } from './node.ts';
import { CLIENTS_NETNS, inClientsNamespace, runInClientsNamespace } from './node-network.ts';

const withNode = process.argv.includes('--node');
if (withNode && !inClientsNamespace()) {
  // The node's harness runs inside relay-clients; come back here once it stops.
  process.exit(await runInClientsNamespace([process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)]));
}

const IMAGE_ARCHIVE = '.cache/image/relay-operator.oci.tar';
let plane: ControlPlane;
if (withNode) {
  const images = existsSync(IMAGE_ARCHIVE) ? [IMAGE_ARCHIVE] : [];
  if (images.length === 0) console.error(`no ${IMAGE_ARCHIVE}: run \`npm run image\` first to run relay-operator on the node`);
  plane = await startNodeCluster({ images, loadBalancerPool: ['203.0.113.0/24', '2001:db8:f:203::/120'] });
} else {
  plane = await startControlPlane({ controllerManager: true });
}
mkdirSync('.cache', { recursive: true });
const kubeconfig = `${process.cwd()}/.cache/kubeconfig`;
copyFileSync(plane.kubeconfig, kubeconfig);
try {
  plane.kubectl(['apply', '--server-side', '-f', 'crds/']);
} catch (error) {
  console.error(`CRDs not installed: ${(error as Error).message}`);
}
const enter = withNode ? `\n  ip netns exec ${CLIENTS_NETNS} bash     # the node's API server and Services are reached from here\n` : '';
console.log(`control plane ready at ${plane.server} (CRDs installed${withNode ? `; node relay-node Ready, image ${IMAGE_ARCHIVE} loaded` : ''})
${enter}
  export KUBECONFIG=${kubeconfig}
  export PATH=${resolve(plane.binDir)}:$PATH     # kubectl and helm built for it
  kubectl get ${withNode ? 'nodes,relay -A' : 'relay -A'}

Ctrl-C stops it and deletes its data.`);
const shutdown = (): void => {
  void plane.stop().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
setInterval(() => undefined, 1 << 30);

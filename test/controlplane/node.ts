/*
 * test/controlplane/node - a real node beside the Go-built control plane: containerd and runc
 * (Debian), the CNI plugins (Debian's containernetworking-plugins: bridge, host-local, portmap),
 * kubelet and kube-proxy (built by build.sh with the API server), plus kube-scheduler.
 *
 * startNodeCluster() sets up the node's namespaces (node-network.ts), starts etcd and
 * kube-apiserver on the link address 192.0.2.1 (pods reach it through the `kubernetes` Service),
 * kube-controller-manager with the controllers a workload needs, kube-scheduler, then containerd,
 * kubelet and kube-proxy inside the node's namespaces. Images are never pulled: the pause image is
 * built here from the pause binary and imported, and so is every image a test names. Local
 * PersistentVolumes (StorageClass `local`, no provisioner, WaitForFirstConsumer, the default
 * class) stand in for a storage system. With loadBalancerPool, MetalLB's controller assigns
 * LoadBalancer IPs from it (announcement is replaced by a static route from relay-clients).
 * Cluster DNS (cluster-dns.ts, on 192.0.2.1:53, the kubelet's clusterDNS) answers the
 * Service and StatefulSet pod names a hub uses, as CoreDNS would (a relay scaled away hands
 * its queue to `<hub>-relay-<n>.<hub>-relay-pods.<ns>.svc`).
 *
 * Kubernetes 1.36's kubelet still accepts containerd 1.6 (the cgroup driver falls back to the
 * kubelet's own setting until 1.38) and runs on cgroup v1 with failCgroupV1: false.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane, startProcess, stopChildren, waitFor, freePort, type ControlPlane } from './controlplane.ts';
import { CLUSTER_DOMAIN, startClusterDns, type ClusterDns } from './cluster-dns.ts';
import { HOST_ADDRESS, NODE_ADDRESS, NODE_ADDRESS6, POD_CIDR, POD_CIDR6, SERVICE_CIDR, SERVICE_CIDR6, inNode, nodeExec, routeToNode, setUpNodeNetwork, teardownNodeNetwork } from './node-network.ts';

export const NODE_NAME = 'relay-node';
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';
export const METALLB_NAMESPACE = 'metallb-system';
const PAUSE_IMAGE_SCRIPT = fileURLToPath(new URL('./pause-image.sh', import.meta.url));

export interface NodeCluster extends ControlPlane {
  nodeName: string;
  /** The node's address (kubelet, NodePorts); the machine's side of the link is hostAddress. */
  nodeAddress: string;
  hostAddress: string;
  /** Imports an OCI image archive into the node's containerd (namespace k8s.io). */
  importImage(archive: string): void;
  /** Runs ctr against the node's containerd; returns stdout. */
  ctr(args: string[]): string;
  /** Creates `count` more local PersistentVolumes of `size` on the node. */
  addLocalVolumes(count: number, size?: string): void;
}

export interface NodeClusterOptions {
  /** OCI image archives imported before the node registers. */
  images?: string[];
  /** Local PersistentVolumes created at start (default 8 of 1Gi). */
  localVolumes?: number;
  /** kubelet syncFrequency: how soon a changed ConfigMap reaches a mounted volume. */
  syncFrequency?: string;
  /**
   * LoadBalancer addresses: MetalLB's controller (IPAM only) with one IPAddressPool of this
   * range, and a route to it through the node from relay-clients in place of L2/BGP
   * announcement; kube-proxy on the node answers for the assigned IPs.
   */
  loadBalancerPool?: string[];
}

/** startNodeProcess - a node daemon in the node's namespaces, its output straight to logFile. */
function startNodeProcess(argv: string[], logFile: string): ChildProcess {
  const [command, ...args] = inNode(argv);
  const log = openSync(logFile, 'a');
  try {
    return spawn(command!, args, { stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
}

function containerdConfig(dir: string): string {
  return `version = 2
root = "${dir}/containerd/root"
state = "${dir}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "${dir}/containerd/containerd.sock"
[ttrpc]
  address = "${dir}/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  enable_unprivileged_ports = true
  # This machine refuses to lower a process's oom_score_adj (not even root may); pods get at
  # least containerd's own instead of the kubelet's -998 for sandboxes.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${dir}/cni/net.d"
`;
}

function cniConfig(dir: string): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'relay-node',
    plugins: [
      {
        type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: true, hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR }], [{ subnet: POD_CIDR6 }]], routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }], dataDir: join(dir, 'cni', 'ipam') },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  }, null, 2);
}

function kubeletConfig(dir: string, sock: string, ports: { kubelet: number; healthz: number }, syncFrequency: string): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://${sock}
address: ${NODE_ADDRESS}
port: ${ports.kubelet}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${ports.healthz}
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
failSwapOn: false
serializeImagePulls: false
syncFrequency: ${syncFrequency}
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 5s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
podLogsDir: ${dir}/pod-logs
resolvConf: ""
clusterDNS: [${HOST_ADDRESS}]
clusterDomain: ${CLUSTER_DOMAIN}
protectKernelDefaults: false
makeIPTablesUtilChains: false
localStorageCapacityIsolation: true
`;
}

function kubeProxyConfig(kubeconfig: string, ports: { metrics: number; healthz: number }): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: ${kubeconfig}}
mode: iptables
clusterCIDR: ${POD_CIDR},${POD_CIDR6}
hostnameOverride: ${NODE_NAME}
bindAddress: ${NODE_ADDRESS}
metricsBindAddress: 127.0.0.1:${ports.metrics}
healthzBindAddress: 127.0.0.1:${ports.healthz}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
nodePortAddresses: ["${NODE_ADDRESS}/32", "${NODE_ADDRESS6}/128"]
`;
}

function storageObjects(): string {
  return `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
`;
}

function localVolume(dir: string, index: number, size: string): string {
  const path = join(dir, 'volumes', `pv-${index}`);
  mkdirSync(path, { recursive: true });
  // kubelet applies the pod's fsGroup to a local volume; the directory itself starts as root's.
  chmodSync(path, 0o755);
  return `apiVersion: v1
kind: PersistentVolume
metadata:
  name: local-pv-${index}
  labels: {relayoperator.io/test-volume: "true"}
spec:
  capacity: {storage: ${size}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: local
  local: {path: ${path}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [${NODE_NAME}]}]
`;
}

/** startMetalLB - MetalLB's controller (webhooks off, IPAM only) and a pool of `ranges`. */
async function startMetalLB(plane: ControlPlane, ranges: string[]): Promise<ChildProcess> {
  const { binDir, dir, kubeconfig } = plane;
  plane.kubectl(['apply', '--server-side', '-f', join(binDir, 'metallb-crds')]);
  plane.kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', join(binDir, 'metallb-crds')]);
  plane.kubectl(['create', 'namespace', METALLB_NAMESPACE]);
  const controller = startProcess(join(binDir, 'metallb-controller'), [
    `--kubeconfig=${kubeconfig}`, `--namespace=${METALLB_NAMESPACE}`, '--webhook-mode=disabled', '--disable-cert-rotation',
    `--port=${await freePort(HOST_ADDRESS)}`, '--log-level=info',
  ], join(dir, 'metallb-controller.log'));
  plane.kubectl(['apply', '-f', '-'], `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: test-pool, namespace: ${METALLB_NAMESPACE}}
spec:
  addresses: ${JSON.stringify(ranges)}
`);
  for (const range of ranges) routeToNode(range);
  return controller;
}

/** startNodeCluster - a control plane with one real node; see the file comment. */
export async function startNodeCluster(options: NodeClusterOptions = {}): Promise<NodeCluster> {
  await teardownNodeNetwork();
  let plane: ControlPlane | undefined;
  let dns: ClusterDns | undefined;
  const children: ChildProcess[] = [];
  const stopNode = async (): Promise<void> => {
    await dns?.stop();
    await stopChildren(children);
    await teardownNodeNetwork();
  };
  try {
    plane = await startControlPlane({
      controllerManager: true, address: HOST_ADDRESS, serviceCIDR: `${SERVICE_CIDR},${SERVICE_CIDR6}`,
      controllers: ['garbage-collector-controller', 'namespace-controller', 'serviceaccount-controller', 'serviceaccount-token-controller',
        'statefulset-controller', 'deployment-controller', 'replicaset-controller', 'endpointslice-controller', 'endpointslice-mirroring-controller',
        'endpoints-controller', 'persistentvolume-binder-controller', 'persistentvolume-protection-controller', 'persistentvolumeclaim-protection-controller',
        'persistentvolume-attach-detach-controller', 'pod-garbage-collector-controller', 'disruption-controller', 'root-ca-certificate-publisher-controller',
        'node-lifecycle-controller', 'taint-eviction-controller', 'ttl-after-finished-controller', 'job-controller', 'daemonset-controller',
        'clusterrole-aggregation-controller'],
      setUp: (dir) => setUpNodeNetwork(dir),
    });
    const { dir, binDir, kubeconfig } = plane;
    dns = await startClusterDns(kubeconfig, HOST_ADDRESS, join(dir, 'cluster-dns.log'));
    const sock = join(dir, 'containerd', 'containerd.sock');
    mkdirSync(join(dir, 'containerd'), { recursive: true });
    mkdirSync(join(dir, 'cni', 'net.d'), { recursive: true });
    mkdirSync(join(dir, 'pod-logs'), { recursive: true });
    writeFileSync(join(dir, 'containerd.toml'), containerdConfig(dir));
    writeFileSync(join(dir, 'cni', 'net.d', '10-relay-node.conflist'), cniConfig(dir));

    const schedulerPort = await freePort(HOST_ADDRESS);
    children.push(startProcess(join(binDir, 'kube-scheduler'), [
      `--kubeconfig=${kubeconfig}`, '--leader-elect=false', `--bind-address=${HOST_ADDRESS}`, `--secure-port=${schedulerPort}`,
    ], join(dir, 'kube-scheduler.log')));

    const containerd = startNodeProcess(['containerd', '--log-level', process.env.RELAY_NODE_DEBUG ? 'debug' : 'info', '--config', join(dir, 'containerd.toml')], join(dir, 'containerd.log'));
    children.push(containerd);
    const ctr = (args: string[]): string => nodeExec(['ctr', '--address', sock, '--namespace', 'k8s.io', ...args]);
    await waitFor('containerd', 30_000, () => existsSync(sock) && ctr(['version']).includes('Server'), containerd);

    const pauseArchive = execFileSync('bash', [PAUSE_IMAGE_SCRIPT, join(binDir, 'pause'), join(binDir, '..', 'pause.oci.tar'), PAUSE_IMAGE], { encoding: 'utf8' }).trim();
    const importImage = (archive: string): void => {
      ctr(['images', 'import', resolve(archive)]);
    };
    for (const archive of [pauseArchive, ...(options.images ?? [])]) importImage(archive);

    const ports = { kubelet: 10250, healthz: await freePort(), proxyMetrics: await freePort(), proxyHealthz: await freePort() };
    writeFileSync(join(dir, 'kubelet.yaml'), kubeletConfig(dir, sock, { kubelet: ports.kubelet, healthz: ports.healthz }, options.syncFrequency ?? '5s'));
    const kubelet = startNodeProcess([join(binDir, 'kubelet'), `--config=${join(dir, 'kubelet.yaml')}`, `--kubeconfig=${kubeconfig}`,
      `--root-dir=${join(dir, 'kubelet')}`, `--cert-dir=${join(dir, 'kubelet', 'pki')}`, `--hostname-override=${NODE_NAME}`, `--node-ip=${NODE_ADDRESS},${NODE_ADDRESS6}`,
      '--v=1'], join(dir, 'kubelet.log'));
    children.push(kubelet);
    writeFileSync(join(dir, 'kube-proxy.yaml'), kubeProxyConfig(kubeconfig, { metrics: ports.proxyMetrics, healthz: ports.proxyHealthz }));
    children.push(startNodeProcess([join(binDir, 'kube-proxy'), `--config=${join(dir, 'kube-proxy.yaml')}`, '--v=1'], join(dir, 'kube-proxy.log')));

    await waitFor(`node ${NODE_NAME} Ready`, 120_000, () => {
      const ready = plane!.kubectl(['get', 'node', NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
      return ready === 'True';
    }, kubelet);
    plane.kubectl(['apply', '-f', '-'], storageObjects());
    let volumes = 0;
    const addLocalVolumes = (count: number, size = '1Gi'): void => {
      const docs: string[] = [];
      for (let i = 0; i < count; i++) docs.push(localVolume(dir, volumes++, size));
      plane!.kubectl(['apply', '-f', '-'], docs.join('---\n'));
    };
    addLocalVolumes(options.localVolumes ?? 8);
    if (options.loadBalancerPool) children.push(await startMetalLB(plane, options.loadBalancerPool));

    const started = plane;
    return {
      ...plane,
      nodeName: NODE_NAME,
      nodeAddress: NODE_ADDRESS,
      hostAddress: HOST_ADDRESS,
      importImage,
      ctr,
      addLocalVolumes,
      stop: async () => {
        try {
          await stopNode();
        } finally {
          await started.stop();
        }
      },
    };
  } catch (error) {
    await stopNode();
    await plane?.stop();
    throw error;
  }
}


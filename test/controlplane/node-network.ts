/*
 * test/controlplane/node-network - the test node's own network and mount namespaces.
 *
 * Two network namespaces, joined by one veth pair:
 *   relay-clients  where the harness, the control plane (etcd, kube-apiserver, controllers,
 *                  scheduler) and the tests run: the "machine" side of the link, and the place a
 *                  client host of the tests (or a person, `ip netns exec relay-clients bash`)
 *                  connects from. This machine's own namespace cannot exchange packets with a
 *                  namespace it creates (ARP over such a veth gets no answer here), and a test
 *                  must not touch it anyway, so the harness runs inside relay-clients
 *                  (runInClientsNamespace re-executes a command there).
 *   relay-node     the node: containerd, kubelet, kube-proxy and the pods, also in a mount
 *                  namespace of its own (persisted at /run/relay-node/mnt), so its bridge,
 *                  iptables rules, pod network namespaces and mounts never touch the machine.
 * Addresses are documentation ranges only:
 *
 *   192.0.2.0/28     the link: 192.0.2.1 in relay-clients (the API server binds here),
 *                    192.0.2.2 the node's address
 *   192.0.2.64/26    pod addresses (CNI bridge cni0, host-local IPAM, masqueraded off the node)
 *   192.0.2.128/25   Service cluster IPs (kube-proxy, iptables)
 *
 * and the same in IPv6 (dual-stack): link 2001:db8:f::1 and ::2, pods 2001:db8:f:64::/64,
 * Services 2001:db8:f:128::/112.
 *
 * relay-clients routes the pod and Service ranges to the node, so tests (and a person) reach
 * ClusterIPs and pods directly. Everything is removed by teardownNodeNetwork and
 * removeClientsNamespace, also when a previous run died without them.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const NODE_NETNS = 'relay-node';
export const CLIENTS_NETNS = 'relay-clients';
export const NODE_MOUNT_DIR = '/run/relay-node';
export const NODE_MOUNTNS = `${NODE_MOUNT_DIR}/mnt`;
export const HOST_ADDRESS = '192.0.2.1';
export const NODE_ADDRESS = '192.0.2.2';
export const LINK_PREFIX = 28;
export const POD_CIDR = '192.0.2.64/26';
export const SERVICE_CIDR = '192.0.2.128/25';
// The node is dual-stack: the same layout in 2001:db8:f::/48 (outside 2001:db8::/48, which the
// seed example's connector covers, so tests pick client addresses on either side of it).
export const HOST_ADDRESS6 = '2001:db8:f::1';
export const NODE_ADDRESS6 = '2001:db8:f::2';
export const POD_CIDR6 = '2001:db8:f:64::/64';
export const SERVICE_CIDR6 = '2001:db8:f:128::/112';
const HOST_LINK = 'rnode-host';
const NODE_LINK = 'rnode0';

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryRun(command: string, args: string[]): void {
  spawnSync(command, args, { stdio: 'ignore' });
}

/** inNode - the argv that runs a command inside the node's network and mount namespaces. */
export function inNode(argv: string[]): string[] {
  return ['nsenter', `--net=/run/netns/${NODE_NETNS}`, `--mount=${NODE_MOUNTNS}`, '--', ...argv];
}

/** nodeExec - runs a command inside the node's namespaces; returns stdout, throws with stderr. */
export function nodeExec(argv: string[], input?: string): string {
  const [command, ...args] = inNode(argv);
  return execFileSync(command!, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

function pidsInNetns(): number[] {
  const result = spawnSync('ip', ['netns', 'pids', NODE_NETNS], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.split(/\s+/).filter(Boolean).map(Number) : [];
}

/** killCgroupTree - SIGKILL every process under a cgroup v1 directory (the pods' containers). */
function killCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) killCgroupTree(path);
  }
  const procs = join(dir, 'cgroup.procs');
  if (!existsSync(procs)) return;
  for (const pid of readFileSync(procs, 'utf8').split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) removeCgroupTree(path);
  }
  try {
    rmdirSync(dir);
  } catch {
    // still busy: a later teardown removes it
  }
}

const CGROUP_ROOT = '/sys/fs/cgroup';

function kubepodsCgroups(): string[] {
  if (!existsSync(CGROUP_ROOT)) return [];
  return readdirSync(CGROUP_ROOT).map((controller) => join(CGROUP_ROOT, controller, 'kubepods')).filter((dir) => existsSync(dir));
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * teardownNodeNetwork - stops every process of the node (pods first), then removes the mount
 * namespace, the network namespace (its bridge, veth and iptables rules go with it), the
 * routes and the pods' cgroups. Safe to call when nothing is there.
 */
export async function teardownNodeNetwork(): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const cgroups = kubepodsCgroups();
    for (const dir of cgroups) killCgroupTree(dir);
    const pids = pidsInNetns();
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    if (pids.length === 0 && cgroups.every((dir) => !readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim())) break;
    await sleep(300);
  }
  for (const dir of kubepodsCgroups()) removeCgroupTree(dir);
  // The node's mount namespace is gone with its last process and its anchor.
  if (existsSync(NODE_MOUNTNS)) tryRun('umount', ['-l', NODE_MOUNTNS]);
  // Deleting the node's namespace deletes the veth pair, and with it the routes through it.
  if (existsSync(`/run/netns/${NODE_NETNS}`)) tryRun('ip', ['netns', 'del', NODE_NETNS]);
}

function sameNetns(a: string, b: string): boolean {
  return statSync(a).ino === statSync(b).ino;
}

/** inClientsNamespace - whether this process runs in relay-clients. */
export function inClientsNamespace(): boolean {
  const path = `/run/netns/${CLIENTS_NETNS}`;
  return existsSync(path) && sameNetns('/proc/self/ns/net', path);
}

/** createClientsNamespace - relay-clients, fresh (a leftover one is removed with its node). */
export async function createClientsNamespace(): Promise<void> {
  await teardownNodeNetwork();
  removeClientsNamespace();
  run('ip', ['netns', 'add', CLIENTS_NETNS]);
  run('ip', ['-n', CLIENTS_NETNS, 'link', 'set', 'lo', 'up']);
}

export function removeClientsNamespace(): void {
  if (existsSync(`/run/netns/${CLIENTS_NETNS}`)) tryRun('ip', ['netns', 'del', CLIENTS_NETNS]);
}

/**
 * runInClientsNamespace - runs argv inside relay-clients (created fresh) with inherited stdio,
 * then removes the node and relay-clients; resolves with the exit code.
 */
export async function runInClientsNamespace(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  await createClientsNamespace();
  try {
    const child = spawn('nsenter', [`--net=/run/netns/${CLIENTS_NETNS}`, '--', ...argv], { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const code = await new Promise<number>((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1))));
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    return code;
  } finally {
    await teardownNodeNetwork();
    removeClientsNamespace();
  }
}

/** routeToNode - from relay-clients, send `cidr` through the node (in place of announcement). */
export function routeToNode(cidr: string): void {
  run('ip', ['route', 'replace', cidr, 'via', cidr.includes(':') ? NODE_ADDRESS6 : NODE_ADDRESS]);
}

/**
 * setUpNodeNetwork - from inside relay-clients: the node's namespaces, the veth link, sysctls
 * and routes. `stateDir` is where the mount namespace's private /sys/fs/cgroup is staged.
 */
export function setUpNodeNetwork(stateDir: string): void {
  if (!inClientsNamespace()) throw new Error(`node network: run the harness inside the ${CLIENTS_NETNS} network namespace (runInClientsNamespace)`);
  run('ip', ['netns', 'add', NODE_NETNS]);
  run('ip', ['link', 'add', HOST_LINK, 'type', 'veth', 'peer', 'name', NODE_LINK, 'netns', NODE_NETNS]);
  run('ip', ['addr', 'add', `${HOST_ADDRESS}/${LINK_PREFIX}`, 'dev', HOST_LINK]);
  run('ip', ['addr', 'add', `${HOST_ADDRESS6}/64`, 'dev', HOST_LINK, 'nodad']);
  run('ip', ['link', 'set', HOST_LINK, 'up']);
  const ns = (args: string[]): string => run('ip', ['netns', 'exec', NODE_NETNS, ...args]);
  ns(['ip', 'link', 'set', 'lo', 'up']);
  ns(['ip', 'addr', 'add', `${NODE_ADDRESS}/${LINK_PREFIX}`, 'dev', NODE_LINK]);
  ns(['ip', 'addr', 'add', `${NODE_ADDRESS6}/64`, 'dev', NODE_LINK, 'nodad']);
  ns(['ip', 'link', 'set', NODE_LINK, 'up']);
  ns(['ip', 'route', 'add', 'default', 'via', HOST_ADDRESS]);
  ns(['ip', '-6', 'route', 'add', 'default', 'via', HOST_ADDRESS6]);
  // Forwarding between pods, the bridge and the link; bridged pod traffic through iptables so
  // that kube-proxy's DNAT is undone for pod-to-pod replies (per namespace on this kernel).
  if (!existsSync('/proc/sys/net/bridge')) throw new Error('node network: the kernel has no br_netfilter (/proc/sys/net/bridge is missing)');
  ns(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  ns(['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1']);
  ns(['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
  ns(['sysctl', '-qw', 'net.bridge.bridge-nf-call-ip6tables=1']);
  ns(['sysctl', '-qw', 'net.ipv4.conf.all.route_localnet=1']);
  for (const cidr of [POD_CIDR, SERVICE_CIDR, POD_CIDR6, SERVICE_CIDR6]) routeToNode(cidr);

  // A persistent mount namespace: its anchor lives on a private mount so it can be bound there.
  mkdirSync(NODE_MOUNT_DIR, { recursive: true });
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === NODE_MOUNT_DIR);
  if (!mounted) {
    run('mount', ['--bind', NODE_MOUNT_DIR, NODE_MOUNT_DIR]);
    run('mount', ['--make-private', NODE_MOUNT_DIR]);
  }
  writeFileSync(NODE_MOUNTNS, '');
  const cgroupStage = join(stateDir, 'cgroup-stage');
  mkdirSync(cgroupStage, { recursive: true });
  // Inside: a sysfs of the node's network namespace (with the machine's cgroup v1 hierarchies
  // moved back under it), and private /run/netns, /run/containerd and /var/lib/cni, so pod
  // sandboxes and shim sockets never appear on the machine.
  const setup = [
    `mount --rbind /sys/fs/cgroup ${cgroupStage}`,
    'mount -t sysfs sysfs /sys',
    `mount --move ${cgroupStage} /sys/fs/cgroup`,
    'mkdir -p /run/netns /run/containerd /var/lib/cni',
    'mount -t tmpfs tmpfs /run/netns',
    'mount -t tmpfs tmpfs /run/containerd',
    'mount -t tmpfs tmpfs /var/lib/cni',
  ].join(' && ');
  run('nsenter', [`--net=/run/netns/${NODE_NETNS}`, 'unshare', `--mount=${NODE_MOUNTNS}`, '--propagation', 'private', 'sh', '-c', setup]);
}

/*
 * test/controlplane/controlplane - a real Kubernetes control plane on loopback for tests.
 *
 * Starts the binaries build.sh made (embedded etcd, kube-apiserver, optionally
 * kube-controller-manager for garbage collection and namespaces) on free 127.0.0.1 ports,
 * with token authentication (admin in system:masters) and RBAC, writes a kubeconfig for
 * tests and for people, waits for /readyz, and stops everything (SIGTERM, then SIGKILL).
 * Nothing is mocked: this is the API server users run, with CEL, SSA and the status subresource.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:https';

const BUILD_SCRIPT = fileURLToPath(new URL('./build.sh', import.meta.url));

export interface ControlPlane {
  server: string;
  token: string;
  kubeconfig: string;
  binDir: string;
  dir: string;
  /** Runs the control plane's own kubectl against it; returns stdout, throws with stderr. */
  kubectl(args: string[], input?: string): string;
  /**
   * restartApiServer - SIGKILL kube-apiserver and start it again on the same port, etcd and
   * certificates (an API server crash or upgrade under running clients); resolves once /readyz
   * is 200 again. downMs keeps it down that long first (a longer outage).
   */
  restartApiServer(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** controlPlaneBinaries - the bin directory, building it first when its inputs changed. */
export function controlPlaneBinaries(): string {
  if (process.env.RELAY_TEST_BIN_DIR && existsSync(join(process.env.RELAY_TEST_BIN_DIR, 'kube-apiserver'))) return process.env.RELAY_TEST_BIN_DIR;
  return execFileSync('bash', [BUILD_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop() ?? '';
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** startProcess - a child whose output is kept (last part) and written to logFile when it exits. */
export function startProcess(binary: string, args: string[], logFile: string): ChildProcess {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  const keep = (chunk: Buffer): void => {
    chunks.push(chunk);
    if (chunks.length > 2000) chunks.splice(0, 1000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', () => writeFileSync(logFile, Buffer.concat(chunks)));
  return child;
}

/** waitFor - polls probe (a throw counts as not yet) until it holds; fails early if child exits. */
export async function waitFor(what: string, timeoutMs: number, probe: () => boolean | Promise<boolean>, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`${what}: process exited with ${child.exitCode}`);
    if (await Promise.resolve().then(probe).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms`);
}

/** stopChildren - SIGTERM each child, last started first; SIGKILL after 5 s. */
export async function stopChildren(children: ChildProcess[]): Promise<void> {
  for (const child of [...children].reverse()) {
    if (child.exitCode !== null) continue;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

function httpsGet(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

function kubeconfigText(server: string, token: string, caFile: string): string {
  const ca = readFileSync(caFile).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: relay-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    '- name: admin',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: relay-test',
    '  context: {cluster: relay-test, user: admin, namespace: default}',
    'current-context: relay-test',
    '',
  ].join('\n');
}

export interface StartOptions {
  controllerManager?: boolean;
  /** The address the API server binds and advertises (default 127.0.0.1). */
  address?: string;
  /** Service cluster IP range (default 10.0.0.0/24). */
  serviceCIDR?: string;
  /** kube-controller-manager's controllers (default: what the operator tests need). */
  controllers?: string[];
  /** Runs once the data directory exists, before any process starts (a node's network). */
  setUp?: (dir: string) => void;
}

/** startControlPlane - etcd + kube-apiserver (+ kube-controller-manager) on loopback. */
export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  const binDir = controlPlaneBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'relay-cp-'));
  const token = randomBytes(16).toString('hex');
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await stopChildren(children);
    if (!process.env.RELAY_TEST_KEEP_CONTROLPLANE) rmSync(dir, { recursive: true, force: true });
  };
  try {
    options.setUp?.(dir);
    const address = options.address ?? '127.0.0.1';
    const [etcdPort, peerPort, apiPort, kcmPort] = await Promise.all([freePort(), freePort(), freePort(address), freePort()]);
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`);

    const etcd = startProcess(join(binDir, 'etcd'), [`--data-dir=${join(dir, 'etcd')}`, `--client-url=http://127.0.0.1:${etcdPort}`, `--peer-url=http://127.0.0.1:${peerPort}`], join(dir, 'etcd.log'));
    children.push(etcd);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('etcd: not ready after 60 s')), 60_000);
      etcd.stdout?.on('data', (c: Buffer) => {
        if (c.toString().includes('READY')) {
          clearTimeout(timer);
          resolve();
        }
      });
      etcd.once('exit', (code) => reject(new Error(`etcd exited with ${code}`)));
    });

    const server = `https://${address}:${apiPort}`;
    const apiserverArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--bind-address=${address}`, `--advertise-address=${address}`, `--secure-port=${apiPort}`, `--cert-dir=${join(dir, 'certs')}`,
      `--service-cluster-ip-range=${options.serviceCIDR ?? '10.0.0.0/24'}`, '--kubelet-preferred-address-types=InternalIP', '--authorization-mode=RBAC', '--allow-privileged=true',
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      `--service-account-issuer=${server}`, `--service-account-key-file=${join(dir, 'sa.key')}`, `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      // As hardened clusters and OpenShift run: setting blockOwnerDeletion on an owner reference
      // needs update on the owner's finalizers (which the chart's RBAC grants for RelayHubs).
      '--enable-admission-plugins=OwnerReferencesPermissionEnforcement',
      ...(options.controllerManager ? [] : ['--disable-admission-plugins=ServiceAccount']),
    ];
    let apiserverStarts = 0;
    const startApiServer = async (): Promise<void> => {
      // the first run's log keeps its name; a restarted server logs to kube-apiserver.<n>.log
      const logName = apiserverStarts === 0 ? 'kube-apiserver.log' : `kube-apiserver.${apiserverStarts}.log`;
      apiserverStarts += 1;
      const apiserver = startProcess(join(binDir, 'kube-apiserver'), apiserverArgs, join(dir, logName));
      // stop() ends children in reverse start order: the API server keeps its place after etcd
      children.splice(1, 0, apiserver);
      await waitFor('kube-apiserver', 90_000, async () => (await httpsGet(`${server}/readyz`, token)).status === 200, apiserver);
    };
    const restartApiServer = async (downMs = 0): Promise<void> => {
      const running = children[1];
      if (running && running.exitCode === null && running.signalCode === null) {
        const exited = new Promise((r) => running.once('exit', r));
        running.kill('SIGKILL');
        await exited;
      }
      if (running) children.splice(1, 1);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await startApiServer();
    };
    await startApiServer();

    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigText(server, token, join(dir, 'certs', 'apiserver.crt')));
    const kubectl = (args: string[], input?: string): string =>
      execFileSync(join(binDir, 'kubectl'), [`--kubeconfig=${kubeconfig}`, ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });

    if (options.controllerManager) {
      const kcm = startProcess(join(binDir, 'kube-controller-manager'), [
        `--kubeconfig=${kubeconfig}`, '--leader-elect=false',
        `--controllers=${(options.controllers ?? ['garbagecollector', 'namespace', 'serviceaccount', 'serviceaccount-token', 'statefulset']).join(',')}`,
        `--service-account-private-key-file=${join(dir, 'sa.key')}`, `--root-ca-file=${join(dir, 'certs', 'apiserver.crt')}`, '--use-service-account-credentials=false',
        '--bind-address=127.0.0.1', `--secure-port=${kcmPort}`,
      ], join(dir, 'kube-controller-manager.log'));
      children.push(kcm);
      await waitFor('kube-controller-manager', 60_000, async () => (await httpsGet(`https://127.0.0.1:${kcmPort}/healthz`, token)).status === 200, kcm);
    }
    await waitFor('namespace default', 30_000, async () => (await httpsGet(`${server}/api/v1/namespaces/default`, token)).status === 200);
    return { server, token, kubeconfig, binDir, dir, kubectl, restartApiServer, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

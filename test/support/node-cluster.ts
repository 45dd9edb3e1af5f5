/*
 * test/support/node-cluster - what a test on the real node (test/node/, run by test/node/run.ts)
 * uses: the cluster, helm, the node's containerd, an SMTP client inside a pod, waiting.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { nodeExec } from '../controlplane/node-network.ts';
import { testCluster, type TestCluster } from './cluster.ts';

export interface NodeTestCluster extends TestCluster {
  /** The image `npm run image` built, as imported into the node (repository:tag). */
  imageRef: string;
  helm(args: string[]): string;
  /** ctr against the node's containerd (namespace k8s.io). */
  ctr(args: string[]): string;
  json<T = Record<string, unknown>>(args: string[]): T;
  /** helm install of charts/relay-operator with the imported image (pull policy Never), waiting for it. */
  installChart(release: string, namespace: string, extraSets?: string[]): string;
}

export async function nodeTestCluster(): Promise<NodeTestCluster> {
  if (!process.env.RELAY_TEST_NODE) throw new Error('this file needs the real node: run it with `node test/node/run.ts FILE` (npm run test:node)');
  const cluster = await testCluster();
  const imageRef = process.env.RELAY_TEST_IMAGE_REF ?? '';
  const sock = process.env.RELAY_TEST_CONTAINERD_SOCK ?? '';
  const helm = (args: string[]): string => execFileSync(join(cluster.binDir, 'helm'), ['--kubeconfig', cluster.kubeconfig, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    ...cluster,
    imageRef,
    helm,
    ctr: (args) => nodeExec(['ctr', '--address', sock, '--namespace', 'k8s.io', ...args]),
    json: <T>(args: string[]): T => JSON.parse(cluster.kubectl([...args, '-o', 'json'])) as T,
    installChart: (release, namespace, extraSets = []) => {
      const colon = imageRef.lastIndexOf(':');
      const sets = [`image.repository=${imageRef.slice(0, colon)}`, `image.tag=${imageRef.slice(colon + 1)}`, 'image.pullPolicy=Never', ...extraSets];
      return helm(['install', release, 'charts/relay-operator', '-n', namespace, '--create-namespace', ...sets.flatMap((set) => ['--set', set]), '--wait', '--timeout', '4m']);
    },
  };
}

/** eventually - polls check until it returns a value that is not undefined/false. */
export async function eventually<T>(what: string, timeoutMs: number, check: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export interface SmtpStep {
  /** Bytes to send (CRLF included). */
  send?: string;
  /** Wait for the reply to what was sent. */
  reply?: boolean;
  /** Pause before this step (ms). */
  sleep?: number;
}

export interface SmtpOutcome {
  replies: string[];
  error?: string;
}

/*
 * The client that runs inside a pod (`node -e`, nothing but Node in our image): it sends each
 * step, collects the full reply to each, and stops at the first 4xx/5xx, printing JSON.
 */
const SMTP_CLIENT = `
const net = require('net');
const [host, port, plan, localAddress] = [process.argv[1], Number(process.argv[2]), JSON.parse(process.argv[3]), process.argv[4]];
const socket = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
socket.setTimeout(10000, () => socket.destroy(new Error('timeout')));
let buffer = ''; const queued = []; let waiter = null; const replies = [];
const deliver = (r) => { if (waiter) { const w = waiter; waiter = null; w(r); } else queued.push(r); };
socket.on('data', (d) => { buffer += d; let m; while ((m = /^\\d{3} .*\\r?\\n/m.exec(buffer))) { const end = m.index + m[0].length; deliver(buffer.slice(0, end).trim()); buffer = buffer.slice(end); } });
socket.on('close', () => deliver('closed'));
socket.on('error', (e) => { console.log(JSON.stringify({ replies, error: e.message })); process.exit(0); });
const next = () => queued.length ? Promise.resolve(queued.shift()) : new Promise((r) => (waiter = r));
(async () => {
  replies.push(await next());
  for (const step of plan) {
    if (/^[45]|closed/.test(replies[replies.length - 1])) break;
    if (step.sleep) await new Promise((r) => setTimeout(r, step.sleep));
    if (step.send !== undefined) socket.write(step.send);
    if (step.reply) replies.push(await next());
  }
  console.log(JSON.stringify({ replies }));
  socket.end();
})();
`;

function smtpArgs(namespace: string, pod: string, host: string, port: number, plan: SmtpStep[]): string[] {
  return ['exec', '-n', namespace, pod, '--', 'node', '-e', SMTP_CLIENT, host, String(port), JSON.stringify(plan)];
}

/** smtpFromPod - one SMTP session from inside a pod; the replies it got. */
export function smtpFromPod(cluster: TestCluster, namespace: string, pod: string, host: string, port: number, plan: SmtpStep[]): SmtpOutcome {
  return JSON.parse(cluster.kubectl(smtpArgs(namespace, pod, host, port, plan)).trim().split('\n').pop()!) as SmtpOutcome;
}

/**
 * smtpFromAddress - one SMTP session from this process's namespace (relay-clients), from the
 * source address `localAddress` (added to its loopback by addClientAddress).
 */
export function smtpFromAddress(localAddress: string, host: string, port: number, plan: SmtpStep[]): SmtpOutcome {
  const out = execFileSync(process.execPath, ['-e', SMTP_CLIENT, host, String(port), JSON.stringify(plan), localAddress], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as SmtpOutcome;
}

/** addClientAddress - a client host's address on relay-clients' loopback (idempotent). */
export function addClientAddress(address: string): void {
  const shown = execFileSync('ip', ['-o', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' });
  if (!shown.includes(` ${address}/`)) execFileSync('ip', ['addr', 'add', `${address}/${address.includes(':') ? 128 : 32}`, 'dev', 'lo']);
}

/** smtpFromPodInBackground - the same, running while the test goes on. */
export function smtpFromPodInBackground(cluster: TestCluster, namespace: string, pod: string, host: string, port: number, plan: SmtpStep[]): Promise<SmtpOutcome> {
  const child = spawn(join(cluster.binDir, 'kubectl'), [`--kubeconfig=${cluster.kubeconfig}`, ...smtpArgs(namespace, pod, host, port, plan)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) => child.on('exit', (code) => {
    if (code !== 0) return reject(new Error(`kubectl exec exited ${code}: ${err}`));
    resolve(JSON.parse(out.trim().split('\n').pop()!) as SmtpOutcome);
  }));
}

/** message - the steps of one message from `from` to `to`. */
export function message(from: string, to: string, subject: string, body = 'hello from a pod'): SmtpStep[] {
  return [
    { send: 'EHLO client.pod.test\r\n', reply: true },
    { send: `MAIL FROM:<${from}>\r\n`, reply: true },
    { send: `RCPT TO:<${to}>\r\n`, reply: true },
    { send: 'DATA\r\n', reply: true },
    { send: `From: <${from}>\r\nTo: <${to}>\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@pod.test>\r\n\r\n${body}\r\n.\r\n`, reply: true },
    { send: 'QUIT\r\n', reply: true },
  ];
}

/*
 * bench/smtp-load - SMTP load and its measurement for bench/run.ts: Postfix's smtp-source as
 * the load generator (wall time of one run -> msgs/s), smtp-sink as the next hop of end-to-end
 * runs, a 220-greeting probe for readiness, and CPU seconds of process trees read from /proc.
 *
 * smtp-source (man smtp-source): -s sessions in parallel, -m messages in all, -l payload bytes
 * (headers excluded), -f/-t envelope, -M HELO name (also spares smtp-source a lookup of the
 * machine's own name). Without -d every message gets a new TCP connection (connect, 220, HELO,
 * MAIL, RCPT, DATA, QUIT); -d keeps the connection for the next message. (-r is recipients per
 * transaction, not connection reuse; -N numbers recipients.) smtp-source does not pipeline:
 * each command waits for its reply. It exits non-zero on any reply other than the expected 2xx/3xx
 * (no -A), so a finished run means every message got its 250.
 *
 * CPU: utime+stime+cutime+cstime summed over a process and its live descendants is conserved
 * when children exit (the parent reaps them into cutime/cstime), so the difference of two
 * readings is the CPU the whole tree used in between, including short-lived workers such as
 * Postfix's smtpd and cleanup processes.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export const SMTP_SOURCE = '/usr/sbin/smtp-source';
export const SMTP_SINK = '/usr/sbin/smtp-sink';

export interface LoadParams {
  sessions: number;
  size: number;
  messages: number;
  from: string;
  to: string;
  helo: string;
  timeoutMs: number;
}

export interface Endpoint {
  host: string;
  port: number;
}

export interface SourceRun {
  argv: string[];
  seconds: number;
  msgsPerSec: number;
  sourceCpuSec: number;
}

/** smtpSourceArgs - the smtp-source argument list for one run (reuse = -d). */
export function smtpSourceArgs(params: LoadParams, target: Endpoint, reuse: boolean): string[] {
  return [
    ...(reuse ? ['-d'] : []),
    '-M', params.helo,
    '-s', String(params.sessions),
    '-l', String(params.size),
    '-m', String(params.messages),
    '-f', params.from,
    '-t', params.to,
    `${target.host}:${target.port}`,
  ];
}

/** runSmtpSource - one smtp-source run; rejects on a non-zero exit or timeout. */
export async function runSmtpSource(params: LoadParams, target: Endpoint, reuse: boolean): Promise<SourceRun> {
  const args = smtpSourceArgs(params, target, reuse);
  const cpuBefore = selfChildrenCpuSeconds();
  const started = performance.now();
  const child = spawn(SMTP_SOURCE, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), params.timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c, s) => resolve([c, s]));
  }).finally(() => clearTimeout(timer));
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) {
    const why = signal === 'SIGKILL' ? `timed out after ${params.timeoutMs / 1000} s` : `exit ${code ?? signal}`;
    throw new Error(`smtp-source ${args.join(' ')}: ${why}${stderr ? `: ${stderr.trim()}` : ''}`);
  }
  return { argv: [SMTP_SOURCE, ...args], seconds, msgsPerSec: params.messages / seconds, sourceCpuSec: selfChildrenCpuSeconds() - cpuBefore };
}

export interface Sink {
  pid: number;
  argv: string[];
  /** resolves with the time (performance.now()) the sink exited after its last message */
  done: Promise<number>;
  /** messages received so far (from the -c counters) */
  received(): number;
  stop(): Promise<void>;
}

/** startSink - smtp-sink on host:port that exits after `messages` messages; waits until it greets. */
export async function startSink(at: Endpoint, messages: number): Promise<Sink> {
  // -u: smtp-sink refuses to keep root privileges; -c: counters on stdout ("sess=N quit=N msg=N\r");
  // -M: exit after that many messages; the trailing number is the listen(2) backlog.
  const args = [...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), '-c', '-M', String(messages), `${at.host}:${at.port}`, '1000'];
  const child = spawn(SMTP_SINK, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let counters = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    counters = (counters + chunk).slice(-200);
  });
  const received = (): number => Number([...counters.matchAll(/msg=(\d+)/g)].at(-1)?.[1] ?? 0);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  let exited = false;
  const done = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      exited = true;
      if (code === 0) resolve(performance.now());
      else reject(new Error(`smtp-sink ${args.join(' ')}: exit ${code ?? signal}${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
  done.catch(() => undefined); // observed by the caller; never an unhandled rejection
  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    await done.catch(() => undefined);
  };
  try {
    await waitForGreeting(at, 5000, () => (exited ? `smtp-sink exited: ${stderr.trim()}` : null));
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: child.pid ?? 0, argv: [SMTP_SINK, ...args], done, received, stop };
}

/**
 * waitForGreeting - connect to host:port until it answers a 220 line (then QUIT); returns the
 * milliseconds waited. `gone()` returning a reason stops the wait early (server process died).
 */
export async function waitForGreeting(at: Endpoint, timeoutMs: number, gone: () => string | null = () => null): Promise<number> {
  const started = performance.now();
  let last = 'no answer';
  while (performance.now() - started < timeoutMs) {
    const reason = gone();
    if (reason !== null) throw new Error(reason);
    const reply = await greetingOnce(at).catch((err: Error) => err);
    if (typeof reply === 'string' && reply.startsWith('220')) return performance.now() - started;
    last = typeof reply === 'string' ? `answered "${reply}"` : reply.message;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${at.host}:${at.port} did not greet with 220 within ${timeoutMs / 1000} s (${last})`);
}

function greetingOnce(at: Endpoint): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: at.host, port: at.port });
    let buffer = '';
    socket.setTimeout(2000, () => socket.destroy(new Error('no greeting within 2 s')));
    socket.once('error', reject);
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      const eol = buffer.indexOf('\n');
      if (eol < 0) return;
      socket.end('QUIT\r\n');
      socket.destroySoon();
      resolve(buffer.slice(0, eol).trim());
    });
    socket.once('close', () => reject(new Error('closed without a greeting')));
  });
}

/** portIsFree - true if nothing listens on host:port (we could bind it ourselves). */
export function portIsFree(at: Endpoint): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(at.port, at.host, () => server.close(() => resolve(true)));
  });
}

/** freePort - a port the kernel considers free on host now. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

let ticks = 0;

/** clockTicks - USER_HZ, the unit of the CPU times in /proc/PID/stat. */
function clockTicks(): number {
  if (ticks === 0) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, in ticks */
  cpu: number;
  /** cutime + cstime, in ticks */
  children: number;
}

function readStat(pid: number | 'self'): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // gone meanwhile
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'
  const head = text.slice(0, text.indexOf(' '));
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ').map(Number);
  const at = (field: number): number => fields[field - 3] ?? 0; // proc(5) numbers fields from 1; state is 3
  return { pid: Number(head), ppid: at(4), cpu: at(14) + at(15) + at(16) + at(17), children: at(16) + at(17) };
}

function allStats(): ProcStat[] {
  const all: ProcStat[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) all.push(stat);
  }
  return all;
}

function processTree(rootPid: number): ProcStat[] {
  const all = allStats();
  const kids = new Map<number, ProcStat[]>();
  for (const s of all) kids.set(s.ppid, [...(kids.get(s.ppid) ?? []), s]);
  const root = all.find((s) => s.pid === rootPid);
  const tree: ProcStat[] = [];
  const stack = root ? [root] : [];
  for (let s = stack.pop(); s; s = stack.pop()) {
    tree.push(s);
    stack.push(...(kids.get(s.pid) ?? []));
  }
  return tree;
}

/** treePids - rootPid and its live descendants. */
export function treePids(rootPid: number): number[] {
  return processTree(rootPid).map((s) => s.pid);
}

/** treeCpuSeconds - CPU seconds used so far by rootPid and its descendants (reaped ones included). */
export function treeCpuSeconds(rootPid: number): number {
  const tree = processTree(rootPid);
  if (tree.length === 0) return Number.NaN;
  return tree.reduce((sum, s) => sum + s.cpu, 0) / clockTicks();
}

/**
 * kernelThreadsCpuSeconds - CPU seconds of the kernel's own threads (children of kthreadd, pid 2):
 * kworkers that do ext4 journal commits, writeback and io_uring work on behalf of the servers.
 */
export function kernelThreadsCpuSeconds(): number {
  return allStats().filter((s) => s.pid === 2 || s.ppid === 2).reduce((sum, s) => sum + s.cpu, 0) / clockTicks();
}

/** machineBusyCpuSeconds - CPU seconds all processes on the machine used since boot (/proc/stat, idle and iowait excluded). */
export function machineBusyCpuSeconds(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / clockTicks();
}

/** threadCpuSeconds - CPU seconds of one thread of pid (Node's main JavaScript thread has tid = pid). */
export function threadCpuSeconds(pid: number, tid: number = pid): number {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  } catch {
    return Number.NaN;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ').map(Number);
  return ((fields[11] ?? 0) + (fields[12] ?? 0)) / clockTicks(); // utime, stime (proc(5) fields 14, 15)
}

/** selfChildrenCpuSeconds - CPU seconds of this process's reaped children (cutime + cstime). */
export function selfChildrenCpuSeconds(): number {
  return (readStat('self')?.children ?? 0) / clockTicks();
}

/*
 * bench/noisy-scenario - the `noisy` scenario of `npm run bench` (issue 14 item 8): the hub and
 * Postfix measured with and without noisy neighbours on the machine, under the same load.
 *
 * The neighbours (bench/noisy-neighbour.ts, each its own process, started by this harness): a
 * writer appending 64 KiB blocks and fdatasyncing about 200 times a second in the run
 * directory, on the same filesystem as the Postfix queue and the hub spools, and one busy CPU
 * process. Conditions alternate A/B/A/B (quiet, then noisy, NOISY_SAMPLES rounds), so drift
 * of the machine (other work, page cache, writeback) hits both; within each condition Postfix
 * then a fresh hub (bench/hub.yaml, receive-only: Postfix holds, the hub --hold-delivery),
 * each warmed up as in the other scenarios, then measured with smtp-source -d (msgs/s) while
 * bench/latency-client.ts runs LATENCY_SESSIONS sessions beside it, timing every message from
 * its end-of-data dot to the 250. The neighbours run from before the warm-up of the first
 * server to after the last one of that condition.
 *
 * Isolation (NOISY_ISOLATION, bench/cgroup-isolation.ts): `cgroup`, the default as root with the
 * cgroup v1 cpu controller, models two pods on a node: the side under test (the hub, or Postfix's
 * master and every daemon it forks) in one cgroup, the neighbours in another, equal cpu.shares;
 * smtp-source and the latency client outside both. `none`: every process in one cgroup, where
 * the kernel divides CPU per thread and Postfix's many processes outnumber the CPU hog.
 *
 * Target (issue 14): the relay/Postfix throughput ratio holds with the neighbours:
 * ratio_with >= NOISY_TARGET x ratio_without.
 * Parameters (environment): NOISY_SAMPLES=2 (rounds), LATENCY_SESSIONS=2, NOISY_BLOCK=65536,
 * NOISY_SYNCS=200 (fdatasync/s the writer aims at), NOISY_NEIGHBOURS=writer,cpu (one alone tells
 * their effects apart), NOISY_ISOLATION=cgroup|none; the load is SESSIONS/SIZE/MESSAGES/WARMUP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { chooseIsolation, createPodCgroups, probeIsolation, type Group, type Isolation, type IsolationProbe, type PodCgroups } from './cgroup-isolation.ts';
import { startLatencyClient } from './latency-client.ts';
import type { NeighbourReport } from './noisy-neighbour.ts';
import { cleanups, hubServer, log, postfixServer, settle, warmUp, type Params, type Scenario, type Server, type Side } from './scenarios.ts';
import { machineBusyCpuSeconds, runSmtpSource, treeCpuSeconds, treePids, type LoadParams } from './smtp-load.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NEIGHBOUR_SCRIPT = path.join(ROOT, 'bench/noisy-neighbour.ts');
const READY_TIMEOUT_MS = 10_000; // a neighbour that has not said `ready` by then is killed and the run fails
/** the share of the quiet relay/Postfix ratio that must hold with the neighbours */
export const NOISY_TARGET = 0.8;
export const NOISY_SCENARIO: Scenario = { id: 'noisy', title: 'receive, reuse (-d), with and without noisy neighbours', reuse: true, endToEnd: false, target: null };

export type Condition = 'quiet' | 'noisy';
export const CONDITIONS: readonly Condition[] = ['quiet', 'noisy'];

export interface NoisyParams {
  rounds: number;
  latencySessions: number;
  writerBlockBytes: number;
  writerSyncsPerSec: number;
  /** which neighbours run in the `noisy` condition (NOISY_NEIGHBOURS; both by default, one alone to tell their effects apart) */
  neighbours: NeighbourKind[];
  /** NOISY_ISOLATION, or the default the machine allows (bench/cgroup-isolation.ts) */
  isolation: Isolation;
}
export type NeighbourKind = 'writer' | 'cpu';
const NEIGHBOUR_KINDS: readonly NeighbourKind[] = ['writer', 'cpu'];

export function noisyParamsFrom(env: NodeJS.ProcessEnv, probe: IsolationProbe = probeIsolation()): NoisyParams {
  const int = (name: string, def: number): number => {
    const value = Number(env[name] ?? def);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be an integer >= 1, got ${env[name]}`);
    return value;
  };
  const kinds = (env.NOISY_NEIGHBOURS ?? NEIGHBOUR_KINDS.join(',')).split(',').map((k) => k.trim()).filter((k) => k.length > 0);
  const unknown = kinds.filter((k) => !(NEIGHBOUR_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0 || kinds.length === 0) throw new Error(`NOISY_NEIGHBOURS: ${unknown.length ? `unknown ${unknown.join(', ')}` : 'empty'} (known: ${NEIGHBOUR_KINDS.join(', ')})`);
  return {
    rounds: int('NOISY_SAMPLES', 2), latencySessions: int('LATENCY_SESSIONS', 2), writerBlockBytes: int('NOISY_BLOCK', 65536), writerSyncsPerSec: int('NOISY_SYNCS', 200),
    neighbours: NEIGHBOUR_KINDS.filter((k) => kinds.includes(k)),
    isolation: chooseIsolation(env.NOISY_ISOLATION, probe),
  };
}

export interface NoisySample {
  round: number;
  msgsPerSec: number;
  seconds: number;
  /** msgs/s of the warm-up run before this sample; null without one */
  warmUpMsgsPerSec: number | null;
  serverCores: number;
  /** the neighbour processes (0 in the quiet condition) */
  neighbourCores: number;
  machineCores: number;
  /** DATA-to-250 latencies (ms) of the latency client's messages sent while smtp-source ran */
  latencyMs: number[];
}

export interface NoisyResults {
  /** by `${condition}/${side}` */
  samples: Map<string, NoisySample[]>;
  /** what each neighbour reported when stopped, one pair per noisy condition */
  neighbours: NeighbourReport[];
  /** why the relay has no figure, or null */
  relayUnavailable: string | null;
}

interface Neighbours {
  pids: number[];
  stop(): Promise<NeighbourReport[]>;
}

/** startNeighbour - one neighbour process; resolves once it printed `ready`. */
async function startNeighbour(args: string[], cgroups: PodCgroups | null): Promise<{ child: ChildProcess; report: Promise<NeighbourReport> }> {
  const child = spawn(process.execPath, [NEIGHBOUR_SCRIPT, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  // moved before its script even loads: the neighbour never runs outside its pod
  try {
    if (cgroups && child.pid !== undefined) cgroups.move('neighbour', [child.pid]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  let stdout = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`noisy-neighbour ${args[0]}: exit ${code ?? signal}${stderr ? `: ${stderr.trim()}` : ''}`))));
  });
  exited.catch(() => undefined); // observed through `ready` and `report`
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.startsWith('ready\n')) resolve();
    });
    exited.then(() => reject(new Error(`noisy-neighbour ${args[0]} exited before it was ready`)), reject);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), READY_TIMEOUT_MS); // an exit rejects `ready`
  await ready.finally(() => clearTimeout(timer));
  const report = exited.then(() => {
    const line = stdout.split('\n').find((l) => l.startsWith('{'));
    if (!line) throw new Error(`noisy-neighbour ${args[0]} printed no report: ${JSON.stringify(stdout.slice(0, 200))}`);
    return JSON.parse(line) as NeighbourReport;
  });
  return { child, report };
}

/** startNeighbours - the writer (in `dir`, the filesystem of the spools) and the CPU hog, or the one of them NOISY_NEIGHBOURS names; in `cgroups`' neighbour group if given. */
export async function startNeighbours(dir: string, noisy: NoisyParams, cgroups: PodCgroups | null = null): Promise<Neighbours> {
  const started: { child: ChildProcess; report: Promise<NeighbourReport> }[] = [];
  const stop = async (): Promise<NeighbourReport[]> => {
    const registered = cleanups.indexOf(stopQuietly);
    if (registered >= 0) cleanups.splice(registered, 1);
    for (const n of started) n.child.kill('SIGTERM');
    return Promise.all(started.map((n) => n.report));
  };
  const stopQuietly = async (): Promise<void> => void (await stop().catch(() => undefined));
  cleanups.push(stopQuietly);
  try {
    if (noisy.neighbours.includes('writer')) started.push(await startNeighbour(['writer', dir, String(noisy.writerBlockBytes), String(noisy.writerSyncsPerSec)], cgroups));
    if (noisy.neighbours.includes('cpu')) started.push(await startNeighbour(['cpu'], cgroups));
  } catch (err) {
    await stopQuietly();
    throw err;
  }
  return { pids: started.map((n) => n.child.pid ?? 0), stop };
}

/** measureWithLatency - smtp-source -d against the server with the latency client beside it. */
async function measureWithLatency(server: Server, load: LoadParams, noisy: NoisyParams, neighbourPids: number[]): Promise<Omit<NoisySample, 'round' | 'warmUpMsgsPerSec'>> {
  const latency = startLatencyClient({ host: server.at.host, port: server.at.port, sessions: noisy.latencySessions, size: load.size, from: load.from, to: load.to, helo: load.helo });
  await latency.ready;
  const neighboursCpu = (): number => neighbourPids.reduce((sum, pid) => sum + (treeCpuSeconds(pid) || 0), 0);
  const cpu0 = treeCpuSeconds(server.pid);
  const neighbour0 = neighboursCpu();
  const machine0 = machineBusyCpuSeconds();
  const t0 = performance.now();
  const source = await runSmtpSource(load, server.at, true).catch(async (err: unknown) => {
    await latency.stop();
    throw err;
  });
  const seconds = source.seconds;
  const sample = {
    msgsPerSec: load.messages / seconds, seconds,
    serverCores: (treeCpuSeconds(server.pid) - cpu0) / seconds,
    neighbourCores: (neighboursCpu() - neighbour0) / seconds,
    machineCores: (machineBusyCpuSeconds() - machine0) / seconds,
  };
  const measured = await latency.stop();
  if (measured.errors.length > 0) throw new Error(`latency client: ${measured.errors.join('; ')}`);
  const end = t0 + seconds * 1000;
  const latencyMs = measured.samples.filter((s) => s.at >= t0 && s.at <= end).map((s) => s.ms);
  if (latencyMs.length === 0) throw new Error('latency client: no message finished while smtp-source ran');
  const problem = await server.check(load.messages + measured.accepted);
  if (problem) log(`warning: ${problem}`);
  return { ...sample, latencyMs };
}

/** moveTree - a server and every process it has forked into a group; master first, so what it forks meanwhile inherits the group. */
function moveTree(cgroups: PodCgroups, group: Group, pid: number): void {
  cgroups.move(group, [pid]);
  cgroups.move(group, treePids(pid));
}

/** outsideGroup - the server's processes (still alive) that are not in the group: should be none. */
function outsideGroup(cgroups: PodCgroups, group: Group, pid: number): number[] {
  const tree = treePids(pid);
  const inside = new Set(cgroups.pids(group));
  return tree.filter((p) => !inside.has(p) && alive(p));
}

function alive(pid: number): boolean {
  try {
    readFileSync(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}

/** withPodCgroups - run `body` with the run's cgroups (NOISY_ISOLATION=cgroup) or none; removed afterwards, on failure and on a signal too. */
async function withPodCgroups<T>(isolation: Isolation, body: (cgroups: PodCgroups | null) => Promise<T>): Promise<T> {
  if (isolation.mode === 'none') return body(null);
  const cgroups = createPodCgroups();
  log(`noisy: isolation cgroup (${isolation.why}): ${cgroups.paths.subject} and ${cgroups.paths.neighbour}`);
  const remove = (): Promise<void> => cgroups.remove();
  cleanups.push(remove);
  try {
    return await body(cgroups);
  } finally {
    const registered = cleanups.indexOf(remove);
    if (registered >= 0) cleanups.splice(registered, 1); // a signal may have run the cleanups already
    await remove();
  }
}

/** runNoisyScenario - NOISY_SAMPLES rounds of (quiet, noisy) x (Postfix, relay). */
export function runNoisyScenario(params: Params, noisy: NoisyParams, runDir: string): Promise<NoisyResults> {
  return withPodCgroups(noisy.isolation, (cgroups) => runRounds(params, noisy, runDir, cgroups));
}

async function runRounds(params: Params, noisy: NoisyParams, runDir: string, cgroups: PodCgroups | null): Promise<NoisyResults> {
  const results: NoisyResults = { samples: new Map(), neighbours: [], relayUnavailable: null };
  for (let round = 1; round <= noisy.rounds; round++) {
    for (const condition of CONDITIONS) {
      const neighbours = condition === 'noisy' ? await startNeighbours(runDir, noisy, cgroups) : null;
      try {
        for (const side of ['postfix', 'relay'] as Side[]) {
          if (side === 'relay' && results.relayUnavailable !== null) continue;
          const unavailable = (err: unknown): void => {
            results.relayUnavailable = (err as Error).message.replace(/\s+/g, ' ');
            for (const c of CONDITIONS) results.samples.delete(`${c}/relay`); // no partial figure
            log(`noisy: relay figure not available: ${results.relayUnavailable}`);
          };
          let server: Server;
          try {
            server = side === 'postfix' ? await postfixServer('hold', runDir) : await hubServer(runDir, `noisy-${condition}-${round}`, true);
          } catch (err) {
            if (side === 'postfix') throw err;
            unavailable(err);
            continue;
          }
          try {
            // Postfix lives for the whole run (it may have been started by an earlier scenario): moved every time, a no-op once in
            if (cgroups) moveTree(cgroups, 'subject', server.pid);
            const warmUpMsgsPerSec = await warmUp(server, NOISY_SCENARIO, params.load, params.warmup);
            const sample: NoisySample = { round, warmUpMsgsPerSec, ...(await measureWithLatency(server, params.load, noisy, neighbours?.pids ?? [])) };
            const strays = cgroups ? outsideGroup(cgroups, 'subject', server.pid) : [];
            if (strays.length > 0) throw new Error(`isolation: ${side} processes ${strays.join(', ')} are not in ${cgroups?.paths.subject}`);
            const loose = cgroups && neighbours ? neighbours.pids.filter((p) => !cgroups.pids('neighbour').includes(p)) : [];
            if (loose.length > 0) throw new Error(`isolation: neighbour processes ${loose.join(', ')} are not in ${cgroups?.paths.neighbour}`);
            const key = `${condition}/${side}`;
            results.samples.set(key, [...(results.samples.get(key) ?? []), sample]);
            log(`noisy ${key} round ${round}/${noisy.rounds}: ${sample.msgsPerSec.toFixed(0)} msgs/s, ${sample.latencyMs.length} latency probes, server ${sample.serverCores.toFixed(2)} cores, neighbours ${sample.neighbourCores.toFixed(2)} cores`);
          } catch (err) {
            if (side === 'postfix') throw err;
            unavailable(err);
          } finally {
            await server.reset();
            await server.stop();
            await settle();
          }
        }
      } finally {
        if (neighbours) results.neighbours.push(...(await neighbours.stop()));
      }
    }
  }
  return results;
}

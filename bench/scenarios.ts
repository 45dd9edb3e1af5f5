/*
 * bench/scenarios - the SMTP scenarios of `npm run bench` (bench/run.ts) and how one is measured.
 *
 * Per sample, per scenario: Postfix, then a fresh hub; each gets WARMUP messages of the same
 * load (not counted; the server is then emptied and the machine settled), then the measured
 * smtp-source run, CPU read from /proc before and after. Postfix instances (bench/postfix.ts)
 * live for the whole run; the hub is started fresh, on an empty spool, for every sample
 * (bench/hub.yaml, fixed address 127.0.0.41:2525; the DNS scenarios' hub on 127.0.0.43).
 * A hub that does not start or fails a sample leaves the relay without a figure, with the
 * reason; a Postfix failure ends the run. What to undo on exit is kept in `cleanups`.
 * The noisy scenario (bench/noisy-scenario.ts) takes its servers, warm-up and settle from here.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startPostfix } from './postfix.ts';
import type { PostfixInstance, PostfixMode } from './postfix.ts';
import {
  freePort, kernelThreadsCpuSeconds, machineBusyCpuSeconds, portIsFree, runSmtpSource, startSink, threadCpuSeconds, treeCpuSeconds, waitForGreeting,
} from './smtp-load.ts';
import type { Endpoint, LoadParams, Sink } from './smtp-load.ts';
import { SLOW_DNS_MS, startDnsScenario, type DnsBehaviour } from './dns-scenario.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const HUB: Endpoint = { host: '127.0.0.41', port: 2525 }; // = bench/hub.yaml bindings
export const SINK: Endpoint = { host: '127.0.0.42', port: 2526 }; // = bench/hub.yaml smartHosts
// The DNS scenarios' hub (its manifest is written by bench/dns-scenario.ts): an address of its
// own, so a hub left on 127.0.0.41 (a by-hand run of bench/hub.yaml) cannot answer in its place.
const DNS_HUB: Endpoint = { host: '127.0.0.43', port: 2525 };
export const POSTFIX_HOST = '127.0.0.40';
export const HUB_ARGS = ['bin/relay-operator.js', 'hub', '--manifests', 'bench/hub.yaml', '--hub', 'bench', '--spool'];
export const SETTLE_MS = 1000; // pause after each sample's sync (settle)
const STALL_MS = 15_000; // end-to-end: no message reached the sink for this long = the server does not deliver

export interface Scenario { id: string; title: string; reuse: boolean; endToEnd: boolean; target: number | null; dns?: DnsBehaviour }
const ALL_SCENARIOS: Scenario[] = [
  { id: 'receive-new', title: 'receive, new connection per message', reuse: false, endToEnd: false, target: 2 },
  { id: 'receive-reuse', title: 'receive, connection reuse (-d)', reuse: true, endToEnd: false, target: 3 },
  { id: 'relay-reuse', title: 'end-to-end to smtp-sink, reuse (-d)', reuse: true, endToEnd: true, target: null },
  // Issue 14 item 7: the anonymous connector of examples/ with SPF on; the hub's DNS answers
  // slowly or not at all. Postfix runs no SPF: the hub must keep 2x it all the same.
  { id: 'dns-slow', title: `receive, reuse (-d), anti-spam on, DNS answering in ${SLOW_DNS_MS} ms`, reuse: true, endToEnd: false, target: 2, dns: 'slow' },
  { id: 'dns-dead', title: 'receive, reuse (-d), anti-spam on, DNS never answering', reuse: true, endToEnd: false, target: 2, dns: 'dead' },
];
/** Issue 14 item 8: the noisy-neighbour scenario, with a runner of its own (bench/noisy-scenario.ts). */
export const NOISY_SCENARIO_ID = 'noisy';
/** SCENARIOS=id,id runs only those (e.g. SCENARIOS=dns-slow,dns-dead); unknown ids are an error. */
function selectScenarios(value: string | undefined): { smtp: Scenario[]; noisy: boolean } {
  if (!value) return { smtp: ALL_SCENARIOS, noisy: true };
  const ids = value.split(',').map((id) => id.trim()).filter((id) => id.length > 0);
  const known = [...ALL_SCENARIOS.map((sc) => sc.id), NOISY_SCENARIO_ID];
  const unknown = ids.filter((id) => !known.includes(id));
  if (unknown.length > 0) throw new Error(`SCENARIOS: unknown ${unknown.join(', ')} (known: ${known.join(', ')})`);
  return { smtp: ALL_SCENARIOS.filter((sc) => ids.includes(sc.id)), noisy: ids.includes(NOISY_SCENARIO_ID) };
}
const selected = selectScenarios(process.env.SCENARIOS);
/** the scenarios runSmtpScenarios measures (the noisy one is not among them: NOISY_SELECTED) */
export const SCENARIOS: Scenario[] = selected.smtp;
export const NOISY_SELECTED: boolean = selected.noisy;
export type Side = 'postfix' | 'relay';

export interface Sample {
  msgsPerSec: number;
  seconds: number;
  serverCores: number;
  /** the hub's main JavaScript thread alone; null for Postfix (many single-threaded processes) */
  mainThreadCores: number | null;
  sourceCores: number;
  kernelCores: number;
  machineCores: number;
  /** msgs/s of the warm-up run before this sample (the first WARMUP messages); null without one */
  warmUpMsgsPerSec: number | null;
}
/** a running server under test: where to send, whose CPU to count, how to check, reset and stop it */
export interface Server {
  at: Endpoint;
  pid: number;
  singleProcess: boolean;
  /** after a receive-only run: a problem with what was stored, or null */
  check(expected: number): Promise<string | null>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export interface Params { load: LoadParams; samples: number; warmup: number; baseDir: string; micro: boolean; out: string | null }

export function paramsFrom(env: NodeJS.ProcessEnv): Params {
  const int = (name: string, def: number, min = 1): number => {
    const value = Number(env[name] ?? def);
    if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}`);
    return value;
  };
  const messages = int('MESSAGES', 5000);
  const load: LoadParams = {
    sessions: int('SESSIONS', 20), size: int('SIZE', 10240), messages, from: 'sender@bench.test', to: 'rcpt@remote.test',
    helo: 'bench.test', timeoutMs: Math.max(120_000, messages * 50),
  };
  const out = env.OUT === '-' ? null : path.resolve(ROOT, env.OUT ?? 'docs/benchmarks.md');
  return { load, samples: int('SAMPLES', 3), warmup: int('WARMUP', 2000, 0), baseDir: env.BENCH_DIR ?? os.tmpdir(), micro: env.MICRO !== '0', out };
}

/** what to undo on exit or signal, newest first: running servers, then the run directory */
export const cleanups: (() => Promise<void>)[] = [];
export const log = (line: string): boolean => process.stderr.write(`bench: ${line}\n`);

/**
 * sinkFinished - when the sink had its last message (performance.now()); rejects when it has
 * had no new message for STALL_MS, or 5x the source's time (at least 30 s) after the load ended.
 */
async function sinkFinished(sink: Sink, messages: number, t0: number, sourceSeconds: number, what = ''): Promise<number> {
  const deadline = performance.now() + Math.max(30_000, 5 * sourceSeconds * 1000);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    let seen = -1;
    let since = performance.now();
    timer = setInterval(() => {
      const now = performance.now();
      if (sink.received() !== seen) [seen, since] = [sink.received(), now];
      if (now - since < STALL_MS && now < deadline) return;
      reject(new Error(`${what}smtp-sink got ${seen} of ${messages} messages (${((now - t0) / 1000).toFixed(0)} s after the load started, the last ${((now - since) / 1000).toFixed(0)} s without a new one)`));
    }, 500);
  });
  return Promise.race([sink.done, late]).finally(() => clearInterval(timer));
}

/** warmUp - `messages` of the same load, not measured (end-to-end: until the sink has them all),
 *  then the server is emptied and the machine settled. Returns the warm-up's own msgs/s: the
 *  cold figure, reported beside the measured one. */
export async function warmUp(server: Server, scenario: Scenario, load: LoadParams, messages: number): Promise<number | null> {
  if (messages === 0) return null;
  const sink = scenario.endToEnd ? await startSink(SINK, messages) : null;
  let seconds: number;
  try {
    const t0 = performance.now();
    const source = await runSmtpSource({ ...load, messages }, server.at, scenario.reuse);
    seconds = source.seconds;
    if (sink) seconds = ((await sinkFinished(sink, messages, t0, source.seconds, 'warm-up: ')) - t0) / 1000;
  } finally {
    await sink?.stop();
  }
  await server.reset();
  await settle();
  return messages / seconds;
}

/** measure - one smtp-source run against a server; end-to-end waits for the sink's last message. */
async function measure(server: Server, scenario: Scenario, load: LoadParams): Promise<Omit<Sample, 'warmUpMsgsPerSec'>> {
  const sink = scenario.endToEnd ? await startSink(SINK, load.messages) : null;
  try {
    const cpu0 = treeCpuSeconds(server.pid);
    const main0 = threadCpuSeconds(server.pid);
    const kernel0 = kernelThreadsCpuSeconds();
    const machine0 = machineBusyCpuSeconds();
    const t0 = performance.now();
    const source = await runSmtpSource(load, server.at, scenario.reuse);
    const end = sink ? await sinkFinished(sink, load.messages, t0, source.seconds) : t0 + source.seconds * 1000;
    const seconds = (end - t0) / 1000;
    const sample = {
      msgsPerSec: load.messages / seconds, seconds,
      serverCores: (treeCpuSeconds(server.pid) - cpu0) / seconds,
      mainThreadCores: server.singleProcess ? (threadCpuSeconds(server.pid) - main0) / seconds : null,
      sourceCores: source.sourceCpuSec / source.seconds,
      kernelCores: (kernelThreadsCpuSeconds() - kernel0) / seconds,
      machineCores: (machineBusyCpuSeconds() - machine0) / seconds,
    };
    const problem = scenario.endToEnd ? null : await server.check(load.messages);
    if (problem) log(`warning: ${problem}`);
    return sample;
  } finally {
    await sink?.stop();
  }
}

/** one long-lived Postfix instance per mode for the whole run (every scenario shares it) */
const postfixInstances = new Map<PostfixMode, PostfixInstance>();

/** postfixServer - one long-lived Postfix instance per mode, emptied between samples. */
export async function postfixServer(mode: PostfixMode, baseDir: string): Promise<Server> {
  let pf = postfixInstances.get(mode);
  if (!pf) {
    const listen = { host: POSTFIX_HOST, port: await freePort(POSTFIX_HOST) };
    log(`starting Postfix (${mode}) on ${listen.host}:${listen.port}`);
    const started = await startPostfix({ baseDir, listen, mode, relayHost: SINK });
    cleanups.push(() => started.stop());
    postfixInstances.set(mode, started);
    pf = started;
  }
  const instance = pf;
  const check = async (expected: number): Promise<string | null> => {
    const held = await instance.queued('hold');
    return held === expected ? null : `Postfix hold queue has ${held} messages, expected ${expected}`;
  };
  return { at: instance.listen, pid: instance.masterPid, singleProcess: false, check, reset: () => instance.clear(), stop: () => Promise.resolve() };
}

/** hubServer - a fresh hub started on an empty spool; rejects with the reason if it never greets. */
export async function hubServer(runDir: string, label: string, holdDelivery: boolean, dnsBehaviour?: DnsBehaviour): Promise<Server> {
  const spool = await fs.mkdtemp(path.join(runDir, `hub-spool-${label}-`));
  // DNS scenarios: the example's connector, and a test DNS server as the hub's resolver.
  const at = dnsBehaviour ? DNS_HUB : HUB;
  // Something else on the address would answer smtp-source in the hub's place (and the hub
  // would exit on EADDRINUSE): no figure rather than someone else's.
  if (!(await portIsFree(at))) throw new Error(`${at.host}:${at.port} is in use by another process`);
  const dnsRun = dnsBehaviour ? await startDnsScenario(ROOT, runDir, label, `${at.host}:${at.port}`, dnsBehaviour) : null;
  const args = dnsRun ? HUB_ARGS.map((a) => (a === 'bench/hub.yaml' ? dnsRun.manifestFile : a)) : HUB_ARGS;
  const logFile = path.join(runDir, `hub-${label}.log`);
  const fd = openSync(logFile, 'w');
  // stdout/stderr go straight to a file: the hub's JSON logs cost the harness no CPU
  // Receive-only: the hub holds its queue (--hold-delivery) as Postfix holds its mail, so both
  // sides do the same work: accept, fsync, answer 250.
  const child: ChildProcess = spawn(process.execPath, [...args, spool, ...(holdDelivery ? ['--hold-delivery'] : [])], { cwd: ROOT, stdio: ['ignore', fd, fd], ...(dnsRun ? { env: dnsRun.env } : {}) });
  closeSync(fd);
  let exit: string | null = null;
  child.once('exit', (code, signal) => (exit = `exit status ${code ?? signal}`));
  child.once('error', (err) => (exit = err.message));
  const stop = async (): Promise<void> => {
    const registered = cleanups.indexOf(stop);
    if (registered >= 0) cleanups.splice(registered, 1);
    if (exit === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    }
    if (dnsRun) {
      log(`${label}: the test DNS server got ${dnsRun.dns.queries.length} questions (${[...new Set(dnsRun.dns.queries)].join(', ')})`);
      dnsQuestions.set(label, dnsRun.dns.queries.length);
      await dnsRun.dns.close();
    }
    await fs.rm(spool, { recursive: true, force: true });
  };
  cleanups.push(stop);
  try {
    await waitForGreeting(at, 20_000, () => (exit === null ? null : `hub ended (${exit}) before greeting`));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const ended: string | null = child.exitCode !== null || child.signalCode !== null ? `exit status ${child.exitCode ?? child.signalCode}` : null;
    if (ended !== null) throw new Error(`hub ended (${ended}) right after a greeting on ${at.host}:${at.port}: another process answered there`);
  } catch (err) {
    await stop();
    const tail = (await fs.readFile(logFile, 'utf8')).trim().split('\n').slice(-3).join(' / ').slice(0, 400);
    throw new Error(`${(err as Error).message}${tail ? `: ${tail}` : ''}`, { cause: err });
  }
  const check = (): Promise<null> => Promise.resolve(null); // smtp-source saw a 250 for each; the spool format is the hub's business
  return { at, pid: child.pid ?? 0, singleProcess: true, check, reset: () => Promise.resolve(), stop };
}

/** DNS questions the test DNS server got during each DNS-scenario hub's life (warm-up + sample), by hub label */
export const dnsQuestions = new Map<string, number>();

/** samples by "scenario/side"; why the relay has no figure, by scenario */
export interface Results { samples: Map<string, Sample[]>; relayUnavailable: Map<string, string> }

export async function runSmtpScenarios(params: Params, runDir: string): Promise<Results> {
  const results: Results = { samples: new Map(), relayUnavailable: new Map() };
  for (let i = 1; i <= params.samples; i++) {
    for (const scenario of SCENARIOS) {
      for (const side of ['postfix', 'relay'] as Side[]) {
        if (side === 'relay' && results.relayUnavailable.has(scenario.id)) continue;
        const unavailable = (err: unknown, scenarios: Scenario[]): void => {
          const reason = (err as Error).message.replace(/\s+/g, ' ');
          for (const sc of scenarios) if (!results.relayUnavailable.has(sc.id)) results.relayUnavailable.set(sc.id, reason);
          log(`relay figure not available (${scenarios.map((sc) => sc.id).join(', ')}): ${reason}`);
        };
        let server: Server;
        try {
          server = side === 'postfix'
            ? await postfixServer(scenario.endToEnd ? 'relay' : 'hold', runDir)
            : await hubServer(runDir, `${scenario.id}-${i}`, !scenario.endToEnd, scenario.dns);
        } catch (err) {
          if (side === 'postfix') throw err;
          unavailable(err, SCENARIOS); // the hub does not start: no relay figure at all
          continue;
        }
        try {
          const warmUpMsgsPerSec = await warmUp(server, scenario, params.load, params.warmup);
          const sample: Sample = { ...(await measure(server, scenario, params.load)), warmUpMsgsPerSec };
          const key = `${scenario.id}/${side}`;
          results.samples.set(key, [...(results.samples.get(key) ?? []), sample]);
          log(`${scenario.id} ${side} sample ${i}/${params.samples}: ${sample.msgsPerSec.toFixed(0)} msgs/s, server ${sample.serverCores.toFixed(2)} cores`);
        } catch (err) {
          if (side === 'postfix') throw err;
          unavailable(err, [scenario]);
          results.samples.delete(`${scenario.id}/relay`); // no partial figure from earlier samples
        } finally {
          await server.reset();
          await server.stop();
          await settle();
        }
      }
    }
  }
  return results;
}

/** settle - flush what the last sample left dirty (queue files written, spools deleted) and
 *  pause, so its writeback does not run during the next sample, whichever side that is. */
export async function settle(): Promise<void> {
  await new Promise<void>((resolve) => spawn('sync', [], { stdio: 'ignore' }).once('close', () => resolve()).once('error', () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

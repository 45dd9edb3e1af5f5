/*
 * bench/run - `npm run bench`: SMTP throughput of the relay hub against Postfix on the same
 * machine, with the same load, in the same run, reported as ratios; then the spool and
 * range-matcher micro benchmarks. Prints markdown to stdout and writes it to docs/benchmarks.md.
 *
 * Scenarios (smtp-source, SESSIONS sessions, SIZE-byte payload, MESSAGES messages each):
 *   receive, new connection per message   target relay >= 2x Postfix
 *   receive, connection reuse (-d)        target relay >= 3x Postfix
 *   end-to-end to smtp-sink, reuse (-d)   no target; msgs/s until the sink has every message
 *   DNS on the accept path, slow / dead    target relay >= 2x Postfix: receive with reuse (-d), the
 *                                          hub running the anonymous connector of examples/ with SPF
 *                                          on, its DNS a local server answering 200 ms late / never
 *                                          (bench/dns-scenario.ts); Postfix as in the receive runs
 * Receive-only: Postfix parks each message in its hold queue, the hub runs with
 * --hold-delivery so the message stays queued in its spool; both fsync before 250.
 * Each sample alternates Postfix and relay; after each one, sync(1) and a 1 s pause keep its
 * writeback out of the next. Before each sample the server gets WARMUP messages of the same
 * load (not counted, then emptied and settled): a hub started a second ago still runs much of
 * its code unoptimised by the JIT, and a relay runs for days; Postfix gets the same warm-up.
 * Postfix instances (bench/postfix.ts) live for the whole run and are emptied between
 * samples; the hub is started fresh, on an empty spool, for every sample and keeps the
 * warm-up's messages queued while it is measured (bench/hub.yaml,
 * fixed address 127.0.0.41:2525).
 *
 * Installs nothing. Needs root and the Debian package postfix (see postfixPrerequisites).
 * Parameters (environment): SESSIONS=20 SIZE=10240 MESSAGES=5000 SAMPLES=3 WARMUP=2000 BENCH_DIR=$TMPDIR
 * MICRO=1 (0 skips the micro benchmarks) OUT=docs/benchmarks.md (OUT=- writes no file)
 * SCENARIOS=id,id (only those SMTP scenarios; default all).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { openSync, closeSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { postfixPrerequisites, postfixSettings, postfixVersion, startPostfix } from './postfix.ts';
import type { PostfixInstance, PostfixMode } from './postfix.ts';
import {
  freePort, kernelThreadsCpuSeconds, machineBusyCpuSeconds, portIsFree, runSmtpSource, smtpSourceArgs, startSink, threadCpuSeconds, treeCpuSeconds, waitForGreeting,
} from './smtp-load.ts';
import type { Endpoint, LoadParams, Sink } from './smtp-load.ts';
import { main as rangeMatcherMain } from './range-matcher.ts';
import { main as headerParseMain } from './header-parse.ts';
import { main as spoolMain } from './spool.ts';
import { main as operatorMain } from './operator.ts';
import { EXAMPLE_CONNECTOR, EXAMPLE_FILE, SLOW_DNS_MS, startDnsScenario, type DnsBehaviour } from './dns-scenario.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HUB: Endpoint = { host: '127.0.0.41', port: 2525 }; // = bench/hub.yaml bindings
const SINK: Endpoint = { host: '127.0.0.42', port: 2526 }; // = bench/hub.yaml smartHosts
// The DNS scenarios' hub (its manifest is written by bench/dns-scenario.ts): an address of its
// own, so a hub left on 127.0.0.41 (a by-hand run of bench/hub.yaml) cannot answer in its place.
const DNS_HUB: Endpoint = { host: '127.0.0.43', port: 2525 };
const POSTFIX_HOST = '127.0.0.40';
const HUB_ARGS = ['bin/relay-operator.js', 'hub', '--manifests', 'bench/hub.yaml', '--hub', 'bench', '--spool'];
const SETTLE_MS = 1000; // pause after each sample's sync (settle)
const STALL_MS = 15_000; // end-to-end: no message reached the sink for this long = the server does not deliver
const FS_TYPES: Record<number, string> = { 0xef53: 'ext4', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x01021994: 'tmpfs', 0x794c7630: 'overlayfs' };

interface Scenario { id: string; title: string; reuse: boolean; endToEnd: boolean; target: number | null; dns?: DnsBehaviour }
const ALL_SCENARIOS: Scenario[] = [
  { id: 'receive-new', title: 'receive, new connection per message', reuse: false, endToEnd: false, target: 2 },
  { id: 'receive-reuse', title: 'receive, connection reuse (-d)', reuse: true, endToEnd: false, target: 3 },
  { id: 'relay-reuse', title: 'end-to-end to smtp-sink, reuse (-d)', reuse: true, endToEnd: true, target: null },
  // Issue 14 item 7: the anonymous connector of examples/ with SPF on; the hub's DNS answers
  // slowly or not at all. Postfix runs no SPF: the hub must keep 2x it all the same.
  { id: 'dns-slow', title: `receive, reuse (-d), anti-spam on, DNS answering in ${SLOW_DNS_MS} ms`, reuse: true, endToEnd: false, target: 2, dns: 'slow' },
  { id: 'dns-dead', title: 'receive, reuse (-d), anti-spam on, DNS never answering', reuse: true, endToEnd: false, target: 2, dns: 'dead' },
];
/** SCENARIOS=id,id runs only those (e.g. SCENARIOS=dns-slow,dns-dead); unknown ids are an error. */
function selectScenarios(value: string | undefined): Scenario[] {
  if (!value) return ALL_SCENARIOS;
  const ids = value.split(',').map((id) => id.trim()).filter((id) => id.length > 0);
  const unknown = ids.filter((id) => !ALL_SCENARIOS.some((sc) => sc.id === id));
  if (unknown.length > 0) throw new Error(`SCENARIOS: unknown ${unknown.join(', ')} (known: ${ALL_SCENARIOS.map((sc) => sc.id).join(', ')})`);
  return ALL_SCENARIOS.filter((sc) => ids.includes(sc.id));
}
const SCENARIOS: Scenario[] = selectScenarios(process.env.SCENARIOS);
type Side = 'postfix' | 'relay';

interface Sample {
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
interface Server {
  at: Endpoint;
  pid: number;
  singleProcess: boolean;
  /** after a receive-only run: a problem with what was stored, or null */
  check(expected: number): Promise<string | null>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

interface Params { load: LoadParams; samples: number; warmup: number; baseDir: string; micro: boolean; out: string | null }

function paramsFrom(env: NodeJS.ProcessEnv): Params {
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
const cleanups: (() => Promise<void>)[] = [];
const log = (line: string): boolean => process.stderr.write(`bench: ${line}\n`);

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
async function warmUp(server: Server, scenario: Scenario, load: LoadParams, messages: number): Promise<number | null> {
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

/** postfixServer - one long-lived Postfix instance per mode, emptied between samples. */
async function postfixServer(instances: Map<PostfixMode, PostfixInstance>, mode: PostfixMode, baseDir: string): Promise<Server> {
  let pf = instances.get(mode);
  if (!pf) {
    const listen = { host: POSTFIX_HOST, port: await freePort(POSTFIX_HOST) };
    log(`starting Postfix (${mode}) on ${listen.host}:${listen.port}`);
    const started = await startPostfix({ baseDir, listen, mode, relayHost: SINK });
    cleanups.push(() => started.stop());
    instances.set(mode, started);
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
async function hubServer(runDir: string, label: string, holdDelivery: boolean, dnsBehaviour?: DnsBehaviour): Promise<Server> {
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
const dnsQuestions = new Map<string, number>();

/** samples by "scenario/side"; why the relay has no figure, by scenario */
interface Results { samples: Map<string, Sample[]>; relayUnavailable: Map<string, string> }

async function runSmtpScenarios(params: Params, runDir: string): Promise<Results> {
  const results: Results = { samples: new Map(), relayUnavailable: new Map() };
  const instances = new Map<PostfixMode, PostfixInstance>();
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
            ? await postfixServer(instances, scenario.endToEnd ? 'relay' : 'hold', runDir)
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
async function settle(): Promise<void> {
  await new Promise<void>((resolve) => spawn('sync', [], { stdio: 'ignore' }).once('close', () => resolve()).once('error', () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

const cpuMsPerMessage = (x: Sample, messages: number): number => (x.serverCores * x.seconds * 1000) / messages;
const otherCores = (x: Sample): number => Math.max(0, x.machineCores - x.serverCores - x.sourceCores - x.kernelCores);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const spread = (xs: number[]): string => (xs.length < 2 ? '' : ` ±${(((Math.max(...xs) - Math.min(...xs)) / 2 / median(xs)) * 100).toFixed(0)}%`);

function cpuModel(): string {
  const text = readFileSync('/proc/cpuinfo', 'utf8');
  return /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown CPU';
}

function commandLine(): string {
  const shown = ['SCENARIOS', 'SESSIONS', 'SIZE', 'MESSAGES', 'SAMPLES', 'WARMUP', 'BENCH_DIR', 'MICRO', 'OPERATOR', 'OUT'].filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]}`);
  const viaNpm = process.env.npm_lifecycle_event === 'bench';
  return [...shown, viaNpm ? 'npm run bench' : 'node bench/run.ts'].join(' ');
}

function renderSmtp(params: Params, results: Results, header: string[]): string {
  const { load } = params;
  const source = (reuse: boolean): string => `smtp-source ${smtpSourceArgs(load, { host: 'HOST', port: 0 }, reuse).join(' ').replace('HOST:0', 'HOST:PORT')}`;
  const rows = SCENARIOS.map((sc) => {
    const pf = (results.samples.get(`${sc.id}/postfix`) ?? []).map((s) => s.msgsPerSec);
    const relay = (results.samples.get(`${sc.id}/relay`) ?? []).map((s) => s.msgsPerSec);
    const ratio = pf.length && relay.length ? median(relay) / median(pf) : null;
    const relayCell = relay.length ? `${median(relay).toFixed(0)}${spread(relay)}` : `not available: ${results.relayUnavailable.get(sc.id) ?? 'no samples'}`;
    const target = sc.target === null ? '-' : `>= ${sc.target}x`;
    const met = ratio === null || sc.target === null ? '-' : ratio >= sc.target ? 'yes' : 'no';
    return `| ${sc.title} | \`${source(sc.reuse)}\` | ${pf.length ? `${median(pf).toFixed(0)}${spread(pf)}` : '-'} | ${relayCell} | ${ratio === null ? 'n/a' : `${ratio.toFixed(2)}x`} | ${target} | ${met} |`;
  });
  const cpuRows = SCENARIOS.flatMap((sc) => (['postfix', 'relay'] as Side[]).flatMap((side) => {
    const s = results.samples.get(`${sc.id}/${side}`) ?? [];
    if (!s.length) return [];
    const m = (f: (x: Sample) => number): string => median(s.map(f)).toFixed(2);
    const other = median(s.map(otherCores));
    const mainThread = side === 'relay' ? m((x) => x.mainThreadCores ?? Number.NaN) : '-';
    return [`| ${sc.title} | ${side === 'postfix' ? 'Postfix' : 'relay'} | ${s.map((x) => x.msgsPerSec.toFixed(0)).join(', ')} | ${m((x) => x.seconds)} | ${m((x) => cpuMsPerMessage(x, load.messages))} | ${m((x) => x.serverCores)} | ${mainThread} | ${m((x) => x.sourceCores)} | ${m((x) => x.kernelCores)} | ${other.toFixed(2)} | ${m((x) => x.machineCores)} |`];
  }));
  return [
    '## SMTP throughput: relay hub vs Postfix',
    '',
    ...header,
    '',
    '| scenario | load (HOST:PORT = Postfix or hub) | Postfix msgs/s | relay msgs/s | relay / Postfix | target | met |',
    '|---|---|---:|---:|---:|---:|---|',
    ...rows,
    '',
    `msgs/s = ${load.messages} / wall seconds of smtp-source (end-to-end: until smtp-sink has the last message); median of the samples, ± half their range. `
      + 'Receive-only: Postfix puts each message on hold and does nothing more with it; the hub runs with `--hold-delivery` and likewise only queues it.',
    '',
    ...dnsNotes(params, results),
    ...coldStart(params, results),
    ...contention(results),
    '### CPU during each run (cores = CPU seconds / wall seconds; medians)',
    '',
    `| scenario | server | samples msgs/s | wall s | server CPU ms/msg | server | of which hub main thread | smtp-source | kernel threads | other processes | whole machine (of ${os.cpus().length}) |`,
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...cpuRows,
    '',
    'Server = the Postfix master and all its daemons (smtpd, cleanup, trivial-rewrite, qmgr, smtp, postlogd, ...), or the hub process; '
      + 'read from /proc/PID/stat (utime+stime+cutime+cstime of the process tree) before and after; the hub main thread from /proc/PID/task/PID/stat. '
      + 'Kernel threads = kworkers and other children of kthreadd (ext4 journal, writeback, io_uring work done for the servers); '
      + 'whole machine = /proc/stat busy time; other processes = the rest (smtp-sink, this harness, and whatever else runs on the machine).',
  ].join('\n');
}

/** dnsNotes - what the DNS scenarios ran, and how many questions reached the test DNS server. */
function dnsNotes(params: Params, results: Results): string[] {
  const dns = SCENARIOS.filter((sc) => sc.dns);
  if (dns.length === 0) return [];
  const asked = dns.map((sc) => {
    const counts = [...dnsQuestions.entries()].filter(([label]) => label.startsWith(`${sc.id}-`)).map(([, n]) => n);
    const samples = (results.samples.get(`${sc.id}/relay`) ?? []).length;
    return `${sc.id}: ${counts.join(', ') || '-'} (per hub, ${samples} sample(s))`;
  });
  return [
    `DNS scenarios (${dns.map((sc) => sc.id).join(', ')}): the hub runs the ReceiveConnector \`${EXAMPLE_CONNECTOR}\` of [${EXAMPLE_FILE}](../${EXAMPLE_FILE}) as shipped `
      + '(AnonymousUsers + AcceptAnyRecipient, default limits and `limits.dnsLookupTimeout: 5s`; only the per-source connection limits are lifted, '
      + 'as on the Postfix side, because all 20 sessions come from one address), on bench/hub.yaml\'s hub without its `antiSpam: {spf: false}`, listening on 127.0.0.43:2525, '
      + 'so every message gets an SPF check of its sender domain (bench.test; the client 127.0.0.1 is not public, so no DNSBL query would be sent). '
      + `The hub's DNS is a local test DNS server (bench/dns-scenario.ts) that answers ${SLOW_DNS_MS} ms late (slow) or never (dead); `
      + 'Postfix runs no SPF check and is measured as in the receive runs. Questions that reached the test DNS server during each hub\'s life '
      + `(warm-up and measured run, ${params.warmup + params.load.messages} messages): ${asked.join('; ')}.`,
    '',
  ];
}

/** coldStart - the warm-up runs as a figure of their own: the first WARMUP messages after start. */
function coldStart(params: Params, results: Results): string[] {
  if (params.warmup === 0) return [];
  const rows = SCENARIOS.flatMap((sc) => {
    const [pf, relay] = (['postfix', 'relay'] as Side[]).map((side) => (results.samples.get(`${sc.id}/${side}`) ?? []).flatMap((x) => (x.warmUpMsgsPerSec === null ? [] : [x.warmUpMsgsPerSec])));
    if (!pf?.length || !relay?.length) return [];
    return [`| ${sc.title} | ${median(pf).toFixed(0)}${spread(pf)} | ${median(relay).toFixed(0)}${spread(relay)} | ${(median(relay) / median(pf)).toFixed(2)}x |`];
  });
  if (!rows.length) return [];
  return [
    `### Cold: the warm-up runs (the first ${params.warmup} messages to a hub started for the sample)`,
    '',
    'Not the figure the targets are judged on: a hub in service has long compiled its hot code, and the Postfix daemons stay up between samples '
      + '(only the first sample starts them). Shown so that what the warm-up changes is in plain sight.',
    '',
    '| scenario | Postfix msgs/s | relay msgs/s | relay / Postfix |',
    '|---|---:|---:|---:|',
    ...rows,
    '',
  ];
}

/** contention - a warning when other processes took a large share of the machine during the samples. */
function contention(results: Results): string[] {
  const others = [...results.samples.values()].flat().map(otherCores);
  const cores = os.cpus().length;
  if (!others.length || median(others) < 0.2 * cores) return [];
  return [`**Shared machine:** processes other than the server, smtp-source and the kernel used ${median(others).toFixed(2)} of ${cores} cores `
    + '(median over all samples) while these figures were taken: absolute msgs/s are low and noisy (see ±); '
    + 'CPU per message (next table) is the steadier comparison. Rerun on an idle machine for figures to publish.', ''];
}

function renderLimits(results: Results, messages: number): string {
  const perMessage = SCENARIOS.flatMap((sc) => {
    const [pf, relay] = (['postfix', 'relay'] as Side[]).map((side) => (results.samples.get(`${sc.id}/${side}`) ?? []).map((x) => cpuMsPerMessage(x, messages)));
    if (!pf?.length || !relay?.length) return [];
    return [`- ${sc.title}: server CPU per message Postfix ${median(pf).toFixed(2)} ms, relay ${median(relay).toFixed(2)} ms `
      + `(the relay needs ${(median(relay) / median(pf)).toFixed(2)}x the CPU of Postfix per message).`];
  });
  const cores = os.cpus().length;
  const lines = SCENARIOS.flatMap((sc) => (['postfix', 'relay'] as Side[]).flatMap((side) => {
    const s = results.samples.get(`${sc.id}/${side}`) ?? [];
    if (!s.length) return [];
    const server = median(s.map((x) => x.serverCores));
    const machine = median(s.map((x) => x.machineCores));
    const mainThread = median(s.map((x) => x.mainThreadCores ?? 0));
    const who = side === 'postfix' ? 'Postfix' : 'relay';
    const shares = `${who} ${server.toFixed(2)}, kernel threads ${median(s.map((x) => x.kernelCores)).toFixed(2)}, `
      + `smtp-source ${median(s.map((x) => x.sourceCores)).toFixed(2)}, other processes ${median(s.map(otherCores)).toFixed(2)} cores`;
    const thread = side === 'relay' ? `; hub main thread ${mainThread.toFixed(2)} of 1 core` : '';
    const verdict = side === 'relay' && mainThread >= 0.85
      ? `bound by the hub's main JavaScript thread (${shares}${thread})`
      : machine >= 0.9 * cores
        ? `CPU-bound machine: ${((machine / cores) * 100).toFixed(0)}% of ${cores} cores busy (${shares}${thread})`
          + (median(s.map(otherCores)) >= 0.2 * cores ? ', a large share of it other processes: the server got the cores they left' : '')
        : `neither CPU nor the hub's thread is saturated (${shares}${thread}): waiting on fsync and on the lock-step SMTP round trips of smtp-source`;
    return [`- ${sc.title}, ${who}: ${verdict}.`];
  }));
  return [
    '## What limits throughput',
    '',
    ...lines,
    '',
    ...(perMessage.length ? ['CPU cost per message, which does not depend on how many cores the server got:', '', ...perMessage, ''] : []),
    'Read with these facts about the setup:',
    '',
    '- Both sides make every message durable before answering 250. Postfix: cleanup(8) writes one queue file per message, fsyncs it, '
      + 'then smtpd replies (there is no switch to turn it off). The hub appends the message to its commit log and the sessions that finish DATA '
      + 'together share one write and one fdatasync (group commit, [docs/spool.md](spool.md)). The spool micro benchmark (next section) shows '
      + 'what that costs on this disk: concurrency 1 = one commit at a time.',
    '- Every SMTP reply is a write(2) to a loopback TCP socket, and the kernel charges the writer for the receiving side\'s work too: '
      + 'a quarter or more of the hub\'s main-thread time in these runs (CPU profile), the same for Postfix\'s smtpd. With a new connection '
      + 'per message there are seven replies per message, plus accept and close; with reuse, five.',
    '- Postfix spreads the work of one message over several processes: smtpd, cleanup(8) (writes and fsyncs the queue file), '
      + 'trivial-rewrite, master(8) for each new connection, and postlogd(8) for its few log lines per message. '
      + 'The hub does it in one Node process: one JavaScript thread plus libuv threads (and io_uring, whose kernel workers count as kernel threads).',
    '- smtp-source does not pipeline: every command waits for its reply, so with few sessions the round-trip latency '
      + 'of each reply (including the time to fsync) caps msgs/s per session; more sessions hide it until a CPU or the disk saturates.',
    '- Load generator, servers and sink share the same cores, and the machine may run other work (the "other processes" column): '
      + 'compare the ratios of one run, not absolute figures across runs or machines.',
    '- Each sample is short (seconds): a burst absorbed by the queue, not a sustained rate over minutes. The warm-up before it matters for the hub: '
      + 'V8 compiles hot JavaScript to optimised code only after it has run for a while, so a hub measured in its first seconds runs partly unoptimised '
      + '(the cold table above: the warm-up runs themselves); a relay runs for days. Postfix is C and its daemons stay up between samples.',
  ].join('\n');
}

function renderPostfixSettings(): string {
  const dir = '$DIR';
  const settings = [...postfixSettings(dir, { baseDir: dir, listen: { host: POSTFIX_HOST, port: 0 }, mode: 'hold', relayHost: SINK }).map((s) => ({ ...s, mode: 'both' })),
    ...postfixSettings(dir, { baseDir: dir, listen: { host: POSTFIX_HOST, port: 0 }, mode: 'relay', relayHost: SINK }).map((s) => ({ ...s, mode: 'end-to-end' }))];
  const seen = new Set<string>();
  const rows = settings.filter((s) => (seen.has(s.name) ? false : (seen.add(s.name), true)))
    .map((s) => `| \`${s.name} = ${s.value}\` | ${s.name === 'smtpd_client_restrictions' ? 'receive-only' : s.mode} | ${s.why} |`);
  return [
    '## Postfix configuration (bench/postfix.ts)',
    '',
    'A private instance: `postfix -c $DIR/conf start`, with its own config, queue and data directory under a temp dir, '
      + 'daemons without chroot, smtpd listening on a free port of 127.0.0.40; removed afterwards. main.cf:',
    '',
    '| setting | used in | why |',
    '|---|---|---|',
    ...rows,
  ].join('\n');
}

async function main(): Promise<number> {
  const params = paramsFrom(process.env);
  const missing = await postfixPrerequisites();
  if (missing.length) {
    console.error(['bench: cannot measure the Postfix peer; missing:', ...missing.map((m) => `  - ${m}`),
      'install (Debian, as root):',
      '  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections',
      '  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postfix'].join('\n'));
    return 2;
  }
  // The sink's port matters only to end-to-end runs (SCENARIOS may leave them out).
  for (const at of SCENARIOS.some((sc) => sc.endToEnd) ? [HUB, SINK] : [HUB]) {
    if (!(await portIsFree(at))) {
      console.error(`bench: ${at.host}:${at.port} is in use (fixed in bench/hub.yaml): stop whatever listens there (another hub or sink?)`);
      return 2;
    }
  }
  const runDir = await fs.mkdtemp(path.join(params.baseDir, 'relay-bench-'));
  await fs.chmod(runDir, 0o755); // the postfix user must reach the queue directories inside
  cleanups.push(() => fs.rm(runDir, { recursive: true, force: true }));
  const fsType = await fs.statfs(runDir).then((s) => FS_TYPES[s.type] ?? `fs type 0x${s.type.toString(16)}`);
  const { load } = params;
  const header = [
    `command: \`${commandLine()}\` (bench/run.ts)`,
    `date: ${new Date().toISOString()}`,
    `machine: ${os.cpus().length} x ${cpuModel()}, ${os.type()} ${os.release()}, load average at start ${os.loadavg()[0]?.toFixed(2)}`,
    `node ${process.version}; Postfix ${await postfixVersion()} (Debian package); queues and spools on ${params.baseDir} (${fsType})`,
    `load: smtp-source -s ${load.sessions} sessions, -l ${load.size} bytes payload, -m ${load.messages} messages, ${params.samples} samples per scenario and server, Postfix and relay alternating, each sample after sync(1) and a ${SETTLE_MS / 1000} s pause`,
    `warm-up: before each sample, ${params.warmup} messages of the same load to the same server, not counted; then the server is emptied (Postfix: postsuper -d ALL; the hub keeps them queued) and the machine settled`,
    `relay: \`node ${HUB_ARGS.join(' ')} DIR\`, fresh spool per sample; next hop \`smtp-sink${process.getuid?.() === 0 ? ' -u nobody' : ''} -c -M ${load.messages} ${SINK.host}:${SINK.port} 1000\` in end-to-end runs (Postfix relayhost and hub smart host)`,
  ];
  log(`SMTP scenarios: ${SCENARIOS.length} x ${params.samples} samples x (Postfix, relay), ${load.messages} messages each`);
  const results = await runSmtpScenarios(params, runDir);
  const doc: string[] = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench` ([bench/run.ts](../bench/run.ts)); do not edit by hand, run it again. '
      + 'Speed targets are met here, against Postfix measured in the same run on the same machine, as ratios.',
  ];
  const smtp = [renderSmtp(params, results, header), renderLimits(results, load.messages)].join('\n\n');
  console.log(smtp);
  doc.push('', smtp);
  if (params.micro) {
    for (const [title, script, run] of [
      ['Spool commit (relay/spool)', 'bench/spool.ts', () => spoolMain(process.env)],
      ['Listener range index (relay/listener/range-index.ts)', 'bench/range-matcher.ts', () => Promise.resolve(rangeMatcherMain(process.env))],
      ['Header parsing (relay/session, relay/delivery/message-headers.ts)', 'bench/header-parse.ts', () => Promise.resolve(headerParseMain(process.env))],
    ] as const) {
      const heading = `## ${title}\n\nRun by bench/run.ts through \`main()\` of [${script}](../${script}) (alone: \`node ${script}\`).\n`;
      console.log(`\n${heading}`);
      doc.push('', heading, await run());
    }
  }
  if (process.env.OPERATOR !== '0') {
    // The operator at scale on the test control plane (OPERATOR=0 skips it).
    const section = await operatorMain();
    console.log(`\n${section}`);
    doc.push('', section);
  }
  const tail = renderPostfixSettings();
  console.log(`\n${tail}`);
  doc.push('', tail, '');
  if (params.out) {
    await fs.writeFile(params.out, doc.join('\n'));
    log(`wrote ${path.relative(process.cwd(), params.out)}`);
  }
  return 0;
}

async function cleanup(): Promise<void> {
  for (const step of cleanups.splice(0).reverse()) await step().catch((err: Error) => log(`cleanup: ${err.message}`));
}

// a closed stdout/stderr (`npm run bench | head`) must not skip the cleanup below
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping Postfix and the hub`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  process.exitCode = await main();
} catch (err) {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}

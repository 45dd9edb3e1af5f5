/*
 * bench/report - the markdown `npm run bench` prints and writes to docs/benchmarks.md from the
 * samples bench/scenarios.ts took: msgs/s per scenario and server as medians with their spread,
 * the ratio to Postfix against each target, CPU per run, what limited throughput, and the
 * Postfix configuration measured, and the noisy-neighbour section (renderNoisy). Pure but for reading the machine's CPU model and the
 * environment the command line was given.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { postfixSettings } from './postfix.ts';
import { smtpSourceArgs } from './smtp-load.ts';
import { EXAMPLE_CONNECTOR, EXAMPLE_FILE, SLOW_DNS_MS } from './dns-scenario.ts';
import { dnsQuestions, HUB_ARGS, POSTFIX_HOST, SCENARIOS, SINK, type Params, type Results, type Sample, type Side } from './scenarios.ts';
import { median, spread, summarize } from './stats.ts';
import { CONDITIONS, NOISY_TARGET, type Condition, type NoisyParams, type NoisyResults, type NoisySample } from './noisy-scenario.ts';
import type { CpuHogReport, WriterReport } from './noisy-neighbour.ts';
import { CPU_CGROUP_ROOT, POD_SHARES, podsShares } from './cgroup-isolation.ts';

const cpuMsPerMessage = (x: Sample, messages: number): number => (x.serverCores * x.seconds * 1000) / messages;
const otherCores = (x: Sample): number => Math.max(0, x.machineCores - x.serverCores - x.sourceCores - x.kernelCores);

export function cpuModel(): string {
  const text = readFileSync('/proc/cpuinfo', 'utf8');
  return /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown CPU';
}

export function commandLine(): string {
  const shown = ['SCENARIOS', 'SESSIONS', 'SIZE', 'MESSAGES', 'SAMPLES', 'WARMUP', 'NOISY_SAMPLES', 'LATENCY_SESSIONS', 'NOISY_BLOCK', 'NOISY_SYNCS', 'NOISY_NEIGHBOURS', 'NOISY_ISOLATION', 'BENCH_DIR', 'MICRO', 'OPERATOR', 'OUT'].filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]}`);
  const viaNpm = process.env.npm_lifecycle_event === 'bench';
  return [...shown, viaNpm ? 'npm run bench' : 'node bench/run.ts'].join(' ');
}

export function renderSmtp(params: Params, results: Results, header: string[]): string {
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

export function renderLimits(results: Results, messages: number): string {
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

export function renderPostfixSettings(): string {
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

export interface NoisyFigures { postfix: number | null; relay: number | null; ratio: number | null }
export interface NoisyVerdict {
  quiet: NoisyFigures;
  noisy: NoisyFigures;
  /** NOISY_TARGET x the quiet ratio: what the ratio with neighbours must reach */
  required: number | null;
  met: boolean | null;
}

/** noisyVerdict - median msgs/s per side and condition, the two ratios, and whether the target holds. */
export function noisyVerdict(results: NoisyResults): NoisyVerdict {
  const figures = (condition: Condition): NoisyFigures => {
    const [postfix, relay] = (['postfix', 'relay'] as Side[]).map((side) => {
      const xs = (results.samples.get(`${condition}/${side}`) ?? []).map((x) => x.msgsPerSec);
      return xs.length ? median(xs) : null;
    });
    return { postfix: postfix ?? null, relay: relay ?? null, ratio: postfix && relay ? relay / postfix : null };
  };
  const quiet = figures('quiet');
  const noisy = figures('noisy');
  const required = quiet.ratio === null ? null : NOISY_TARGET * quiet.ratio;
  return { quiet, noisy, required, met: required === null || noisy.ratio === null ? null : noisy.ratio >= required };
}

const ms = (x: number): string => (Number.isNaN(x) ? '-' : x < 10 ? x.toFixed(1) : x.toFixed(0));
const change = (before: number | null, after: number | null): string => (before && after !== null ? `${after >= before ? '+' : ''}${(((after - before) / before) * 100).toFixed(0)}%` : 'n/a');

/** renderNoisy - the noisy-neighbour section: msgs/s and ratios with and without, p50/p99 DATA-to-250, the verdict. */
export function renderNoisy(params: Params, noisy: NoisyParams, results: NoisyResults, header: string[]): string {
  const verdict = noisyVerdict(results);
  const latencies = (condition: Condition, side: Side): number[] => (results.samples.get(`${condition}/${side}`) ?? []).flatMap((x) => x.latencyMs);
  const msgs = (condition: Condition, side: Side): string => {
    const xs = (results.samples.get(`${condition}/${side}`) ?? []).map((x) => x.msgsPerSec);
    if (xs.length) return `${median(xs).toFixed(0)}${spread(xs)}`;
    return side === 'relay' && results.relayUnavailable !== null ? `not available: ${results.relayUnavailable}` : '-';
  };
  const latencyCell = (condition: Condition, side: Side): string => {
    const l = summarize(latencies(condition, side));
    return l.n === 0 ? '-' : `${ms(l.p50)} / ${ms(l.p99)} (n=${l.n})`;
  };
  const label: Record<Condition, string> = { quiet: 'without neighbours', noisy: 'with neighbours' };
  const rows = CONDITIONS.map((c) => {
    const ratio = verdict[c].ratio;
    return `| ${label[c]} | ${msgs(c, 'postfix')} | ${msgs(c, 'relay')} | ${ratio === null ? 'n/a' : `${ratio.toFixed(2)}x`} | ${latencyCell(c, 'postfix')} | ${latencyCell(c, 'relay')} |`;
  });
  const writers = results.neighbours.filter((n): n is WriterReport => n.kind === 'writer');
  const hogs = results.neighbours.filter((n): n is CpuHogReport => n.kind === 'cpu');
  const writerSeconds = writers.reduce((sum, w) => sum + w.seconds, 0);
  const writerLine = writers.length === 0 ? `not run${noisy.neighbours.includes('writer') ? '' : ' (NOISY_NEIGHBOURS)'}`
    : `achieved ${(writers.reduce((sum, w) => sum + w.writes, 0) / writerSeconds).toFixed(0)} fdatasync/s over its ${writers.length} run(s) `
      + `(${(writers.reduce((sum, w) => sum + w.bytes, 0) / writerSeconds / 2 ** 20).toFixed(1)} MiB/s; fdatasync p50 ${median(writers.map((w) => w.fdatasyncP50Ms)).toFixed(1)} ms, p99 ${median(writers.map((w) => w.fdatasyncP99Ms)).toFixed(1)} ms, median of its runs; `
      + `${(writers.reduce((sum, w) => sum + w.cpuSeconds, 0) / writerSeconds).toFixed(2)} cores)`;
  const hogLine = hogs.length === 0 ? `not run${noisy.neighbours.includes('cpu') ? '' : ' (NOISY_NEIGHBOURS)'}`
    : `${(hogs.reduce((sum, h) => sum + h.cpuSeconds, 0) / hogs.reduce((sum, h) => sum + h.seconds, 0)).toFixed(2)} cores while it ran`;
  const p99 = (c: Condition, side: Side): number | null => {
    const l = summarize(latencies(c, side));
    return l.n ? l.p99 : null;
  };
  const cost = (['postfix', 'relay'] as Side[]).map((side) => `${side === 'postfix' ? 'Postfix' : 'relay'} ${change(verdict.quiet[side], verdict.noisy[side])} msgs/s, p99 DATA-to-250 ${change(p99('quiet', side), p99('noisy', side))}`);
  const target = verdict.met === null || verdict.noisy.ratio === null || verdict.quiet.ratio === null || verdict.required === null
    ? `not judged: ${results.relayUnavailable === null ? 'a figure is missing' : 'no relay figure'}`
    : `${verdict.noisy.ratio.toFixed(2)}x with neighbours against ${NOISY_TARGET} x ${verdict.quiet.ratio.toFixed(2)}x = ${verdict.required.toFixed(2)}x required: **${verdict.met ? 'met' : 'not met'}**`;
  const cpuRows = CONDITIONS.flatMap((c) => (['postfix', 'relay'] as Side[]).flatMap((side) => {
    const s: NoisySample[] = results.samples.get(`${c}/${side}`) ?? [];
    if (!s.length) return [];
    const m = (f: (x: NoisySample) => number): string => median(s.map(f)).toFixed(2);
    return [`| ${label[c]} | ${side === 'postfix' ? 'Postfix' : 'relay'} | ${s.map((x) => x.msgsPerSec.toFixed(0)).join(', ')} | ${m((x) => x.seconds)} | ${m((x) => x.serverCores)} | ${m((x) => x.neighbourCores)} | ${m((x) => x.machineCores)} |`];
  }));
  const { load } = params;
  const isolation = noisy.isolation.mode === 'cgroup'
    ? `isolation: cgroup (${noisy.isolation.why}): two pods on a node, modelled with cgroup v1 cpu groups of their own, cpu.shares ${POD_SHARES} each (equal CPU requests), no quota and no blkio throttling: `
      + `the side under test (the hub, or Postfix's master and every daemon it forks) in ${CPU_CGROUP_ROOT}/relay-bench-PID/subject, the neighbours in .../neighbour; `
      + `relay-bench-PID weighs ${podsShares(os.availableParallelism())} (1024 per CPU, as kubelet's kubepods) against each other process of the machine in the root cgroup; `
      + 'smtp-source, the latency client and the harness outside both, as clients on another machine'
    : `isolation: none (${noisy.isolation.why}): every process in the machine's one cgroup, so the kernel divides CPU per runnable thread: the hub's one JavaScript thread meets the CPU hog one to one, Postfix's many processes outnumber it`;
  return [
    `## Noisy neighbours: relay hub vs Postfix beside a disk writer and a CPU hog (issue 14 item 8; isolation ${noisy.isolation.mode})`,
    '',
    ...header,
    `load: \`smtp-source ${smtpSourceArgs(load, { host: 'HOST', port: 0 }, true).join(' ').replace('HOST:0', 'HOST:PORT')}\` against Postfix (hold queue) and a fresh hub (\`node ${HUB_ARGS.join(' ')} DIR --hold-delivery\`), `
      + `each after ${params.warmup} warm-up messages; beside it ${noisy.latencySessions} sessions of bench/latency-client.ts send ${load.size}-byte messages back to back and time each from its end-of-data dot to the 250`,
    `neighbours (bench/noisy-neighbour.ts, each its own process, started by the harness): a writer appending ${noisy.writerBlockBytes / 1024} KiB blocks with an fdatasync after each, aiming at ${noisy.writerSyncsPerSec}/s, `
      + `in the run directory on the filesystem of the Postfix queue and the hub spools: ${writerLine}; and one busy CPU process: ${hogLine}`,
    isolation,
    `order: ${noisy.rounds} rounds of (without, with) neighbours, A/B/A/B, so drift of the machine hits both conditions; in each, Postfix then the hub; the neighbours run from before Postfix's warm-up to after the hub's run`,
    '',
    '| condition | Postfix msgs/s | relay msgs/s | relay / Postfix | Postfix DATA-to-250 ms p50 / p99 | relay DATA-to-250 ms p50 / p99 |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    `Target (issue 14 item 8: the ratio without a neighbour holds), relay/Postfix with neighbours >= ${NOISY_TARGET} x without: ${target}.`,
    '',
    `What the neighbours cost each side (with against without): ${cost.join('; ')}.`,
    '',
    `msgs/s = ${load.messages} / wall seconds of smtp-source, median of the rounds, ± half their range. DATA-to-250: every latency-client message whose final dot was written while smtp-source ran, `
      + 'pooled over the rounds; nearest-rank percentiles (bench/stats.ts), n = messages. Both sides fsync each message before its 250 (Postfix one queue file each, the hub a group commit), '
      + 'so the writer\'s fdatasyncs queue in the same journal and device as theirs.',
    '',
    '### CPU during each noisy-scenario run (cores = CPU seconds / wall seconds; medians)',
    '',
    `| condition | server | samples msgs/s | wall s | server | neighbours | whole machine (of ${os.cpus().length}) |`,
    '|---|---|---|---:|---:|---:|---:|',
    ...cpuRows,
  ].join('\n');
}

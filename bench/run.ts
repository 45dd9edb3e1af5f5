/*
 * bench/run - `npm run bench`: SMTP throughput of the relay hub against Postfix on the same
 * machine, with the same load, in the same run, reported as ratios; then the spool,
 * range-matcher, header-parse and tracking-search micro benchmarks. Prints markdown to stdout and writes it to docs/benchmarks.md.
 * The scenarios and how one is measured: bench/scenarios.ts; the markdown: bench/report.ts.
 *
 * Scenarios (smtp-source, SESSIONS sessions, SIZE-byte payload, MESSAGES messages each):
 *   receive, new connection per message   target relay >= 2x Postfix
 *   receive, connection reuse (-d)        target relay >= 3x Postfix
 *   end-to-end to smtp-sink, reuse (-d)   no target; msgs/s until the sink has every message
 *   DNS on the accept path, slow / dead    target relay >= 2x Postfix: receive with reuse (-d), the
 *                                          hub running the anonymous connector of examples/ with SPF
 *                                          on, its DNS a local server answering 200 ms late / never
 *                                          (bench/dns-scenario.ts); Postfix as in the receive runs
 *   noisy: receive, reuse (-d), with and    target relay/Postfix with >= 0.8 x without; p99
 *   without noisy neighbours                DATA-to-250 of both sides (bench/noisy-scenario.ts:
 *                                          a 64 KiB write+fdatasync writer on the spools' disk and
 *                                          a CPU hog, A/B/A/B; latency from bench/latency-client.ts)
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
 * SCENARIOS=id,id (only those SMTP scenarios; default all); the noisy scenario's own:
 * NOISY_SAMPLES=2 LATENCY_SESSIONS=2 NOISY_BLOCK=65536 NOISY_SYNCS=200 NOISY_NEIGHBOURS=writer,cpu
 * NOISY_ISOLATION=cgroup|none (default cgroup as root with the cgroup v1 cpu controller).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { postfixPrerequisites, postfixVersion } from './postfix.ts';
import { portIsFree } from './smtp-load.ts';
import { main as rangeMatcherMain } from './range-matcher.ts';
import { main as headerParseMain } from './header-parse.ts';
import { main as spoolMain } from './spool.ts';
import { main as trackingSearchMain } from './tracking-search.ts';
import { main as operatorMain } from './operator.ts';
import { commandLine, cpuModel, renderLimits, renderNoisy, renderPostfixSettings, renderSmtp } from './report.ts';
import { cleanups, HUB, HUB_ARGS, log, NOISY_SELECTED, paramsFrom, runSmtpScenarios, SCENARIOS, SETTLE_MS, SINK } from './scenarios.ts';
import { noisyParamsFrom, runNoisyScenario } from './noisy-scenario.ts';

const FS_TYPES: Record<number, string> = { 0xef53: 'ext4', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x01021994: 'tmpfs', 0x794c7630: 'overlayfs' };


async function main(): Promise<number> {
  const params = paramsFrom(process.env);
  const noisy = noisyParamsFrom(process.env); // read before anything runs: a bad NOISY_* fails at once
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
  const machine = (): string[] => [
    `command: \`${commandLine()}\` (bench/run.ts)`,
    `date: ${new Date().toISOString()}`,
    `machine: ${os.cpus().length} x ${cpuModel()}, ${os.type()} ${os.release()}, load average at start ${os.loadavg()[0]?.toFixed(2)}`,
  ];
  const software = `node ${process.version}; Postfix ${await postfixVersion()} (Debian package); queues and spools on ${params.baseDir} (${fsType})`;
  const header = [
    ...machine(),
    software,
    `load: smtp-source -s ${load.sessions} sessions, -l ${load.size} bytes payload, -m ${load.messages} messages, ${params.samples} samples per scenario and server, Postfix and relay alternating, each sample after sync(1) and a ${SETTLE_MS / 1000} s pause`,
    `warm-up: before each sample, ${params.warmup} messages of the same load to the same server, not counted; then the server is emptied (Postfix: postsuper -d ALL; the hub keeps them queued) and the machine settled`,
    `relay: \`node ${HUB_ARGS.join(' ')} DIR\`, fresh spool per sample; next hop \`smtp-sink${process.getuid?.() === 0 ? ' -u nobody' : ''} -c -M ${load.messages} ${SINK.host}:${SINK.port} 1000\` in end-to-end runs (Postfix relayhost and hub smart host)`,
  ];
  const doc: string[] = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench` ([bench/run.ts](../bench/run.ts)); do not edit by hand, run it again. '
      + 'Speed targets are met here, against Postfix measured in the same run on the same machine, as ratios.',
  ];
  if (SCENARIOS.length > 0) {
    log(`SMTP scenarios: ${SCENARIOS.length} x ${params.samples} samples x (Postfix, relay), ${load.messages} messages each`);
    const results = await runSmtpScenarios(params, runDir);
    const smtp = [renderSmtp(params, results, header), renderLimits(results, load.messages)].join('\n\n');
    console.log(smtp);
    doc.push('', smtp);
  }
  if (NOISY_SELECTED) {
    // Issue 14 item 8: with and without a disk writer and a CPU hog (bench/noisy-scenario.ts).
    log(`noisy scenario: ${noisy.rounds} rounds x (without, with neighbours) x (Postfix, relay), ${load.messages} messages each`);
    const header = [...machine(), software];
    const section = renderNoisy(params, noisy, await runNoisyScenario(params, noisy, runDir), header);
    console.log(`\n${section}`);
    doc.push('', section);
  }
  if (params.micro) {
    for (const [title, script, run] of [
      ['Spool commit (relay/spool)', 'bench/spool.ts', () => spoolMain(process.env)],
      ['Listener range index (relay/listener/range-index-lookup.ts)', 'bench/range-matcher.ts', () => Promise.resolve(rangeMatcherMain(process.env))],
      ['Header parsing (relay/session, relay/delivery/message-headers.ts)', 'bench/header-parse.ts', () => Promise.resolve(headerParseMain(process.env))],
      ['Tracking log search (relay-operator track, relay/log/tracking-log-search.ts)', 'bench/tracking-search.ts', () => trackingSearchMain(process.env)],
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

/*
 * bench/spool - commit throughput and latency of relay/spool at several concurrencies.
 *
 * For each concurrency C, a fresh spool in a temp directory takes N messages of SIZE bytes
 * from C concurrent committers (each awaits its commit before starting the next, like C
 * SMTP sessions). Reported: msgs/s over the wall time, fdatasyncs per message, messages per
 * group commit (what sharing one commit-log write and fdatasync saves), p50/p99 commit latency.
 *
 * Parameters (environment): N=5000 SIZE=10240 CONCURRENCY=1,20,100 WINDOW_MS=0
 * BENCH_DIR=$TMPDIR. Run: node bench/spool.ts. The disk under BENCH_DIR is what is measured:
 * tmpfs makes fsync free, network block storage makes it 2-5x slower than a local virtio disk.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Spool } from '../relay/spool/spool.ts';
import type { MessageEnvelope } from '../relay/delivery/envelope.ts';

interface BenchParams {
  n: number;
  size: number;
  concurrency: number[];
  windowMs: number;
  dir: string;
}

interface BenchRow {
  concurrency: number;
  msgsPerSec: number;
  fsyncsPerMsg: number;
  msgsPerSync: number;
  p50Ms: number;
  p99Ms: number;
}

const FS_TYPES: Record<number, string> = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
};

function paramsFrom(env: NodeJS.ProcessEnv): BenchParams {
  const int = (name: string, def: number): number => {
    const value = Number(env[name] ?? def);
    if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer`);
    return value;
  };
  const concurrency = (env.CONCURRENCY ?? '1,20,100').split(',').map(Number);
  if (!concurrency.every((c) => Number.isInteger(c) && c > 0)) throw new Error('CONCURRENCY must be a list of positive integers');
  return { n: int('N', 5000), size: int('SIZE', 10240), concurrency, windowMs: int('WINDOW_MS', 0), dir: env.BENCH_DIR ?? os.tmpdir() };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function benchBody(size: number): Buffer {
  const line = Buffer.from('x'.repeat(76) + '\r\n');
  const body = Buffer.alloc(size);
  for (let off = 0; off < size; off += line.length) line.copy(body, off);
  return body;
}

function benchEnvelope(size: number, seq: number): MessageEnvelope {
  return {
    mailFrom: 'bench@example.org',
    rcptTo: [{ address: 'sink@example.com', notify: ['FAILURE'] }],
    receivedAt: new Date().toISOString(),
    connectorId: 'bench/default',
    sessionId: `bench-${seq}`,
    clientAddress: '127.0.0.1',
    size,
  };
}

/** runOne - N commits at one concurrency on a fresh spool. */
async function runOne(params: BenchParams, concurrency: number, body: Buffer): Promise<BenchRow> {
  const dir = await fs.mkdtemp(path.join(params.dir, 'relay-spool-bench-'));
  const spool = await Spool.open(dir, { groupCommitWindowMs: params.windowMs });
  try {
    const latencies: number[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < params.n) {
        const seq = next++;
        const started = performance.now();
        await spool.commitMessage(benchEnvelope(body.length, seq), body);
        latencies.push(performance.now() - started);
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = (performance.now() - started) / 1000;
    const { commits, logSyncs, fileSyncs, dirSyncs } = spool.stats;
    latencies.sort((a, b) => a - b);
    return {
      concurrency,
      msgsPerSec: commits / seconds,
      fsyncsPerMsg: (logSyncs + fileSyncs + dirSyncs) / commits,
      msgsPerSync: commits / Math.max(1, logSyncs),
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
    };
  } finally {
    await spool.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function renderTable(params: BenchParams, rows: BenchRow[], fsType: string, command: string): string {
  const cpu = os.cpus();
  const lines = [
    `command: \`${command}\``,
    `node ${process.version}, ${os.type()} ${os.release()}, ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}`,
    `spool on ${params.dir} (${fsType}), N=${params.n} messages of ${params.size} bytes, groupCommitWindowMs=${params.windowMs}`,
    '',
    '| concurrency | msgs/s | fsyncs/msg | msgs per group commit | p50 ms | p99 ms |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.concurrency} | ${r.msgsPerSec.toFixed(0)} | ${r.fsyncsPerMsg.toFixed(3)} | ${r.msgsPerSync.toFixed(1)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} |`,
    ),
  ];
  return lines.join('\n');
}

/** main - run the benchmark and print a markdown table; returns the table. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const params = paramsFrom(env);
  const body = benchBody(params.size);
  const fsType = await fs.statfs(params.dir).then((s) => FS_TYPES[s.type] ?? `fs type 0x${s.type.toString(16)}`);
  const rows: BenchRow[] = [];
  for (const c of params.concurrency) rows.push(await runOne(params, c, body));
  const envShown = ['N', 'SIZE', 'CONCURRENCY', 'WINDOW_MS', 'BENCH_DIR'].filter((k) => env[k] !== undefined).map((k) => `${k}=${env[k]}`);
  const script = path.relative(process.cwd(), process.argv[1] ?? 'bench/spool.ts');
  const command = [...envShown, 'node', script].join(' ');
  const table = renderTable(params, rows, fsType, command);
  console.log(table);
  return table;
}

if (import.meta.main) await main();

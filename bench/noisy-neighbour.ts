/*
 * bench/noisy-neighbour - the neighbours of the `noisy` bench scenario (issue 14 item 8), each a
 * small process of its own that bench/noisy-scenario.ts starts and stops:
 *
 *   node bench/noisy-neighbour.ts writer DIR [BLOCK_BYTES] [SYNCS_PER_SEC]
 *       appends BLOCK_BYTES (default 65536) to DIR/noisy-neighbour.dat and fdatasyncs, paced at
 *       SYNCS_PER_SEC (default 200) or as fast as the disk allows when it cannot keep up: a
 *       database WAL or a log shipper on the disk of both spools. At 64 MiB the file is cut
 *       back to 0, so blocks are allocated again (journal work, not just data writes) and the
 *       disk use stays bounded.
 *   node bench/noisy-neighbour.ts cpu
 *       one busy thread (a batch job), yielding to its event loop every 50 ms only to hear SIGTERM.
 *
 * Each prints `ready` once running, and on SIGTERM one JSON line (NeighbourReport) with what it
 * did, then exits 0. They never nice themselves: a neighbour does not.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { percentile } from './stats.ts';

export const WRITER_FILE = 'noisy-neighbour.dat';
const WRAP_BYTES = 64 * 1024 * 1024;

export interface WriterReport { kind: 'writer'; seconds: number; writes: number; bytes: number; fdatasyncP50Ms: number; fdatasyncP99Ms: number; cpuSeconds: number }
export interface CpuHogReport { kind: 'cpu'; seconds: number; cpuSeconds: number }
export type NeighbourReport = WriterReport | CpuHogReport;

const cpuSeconds = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

function onStop(report: () => NeighbourReport, cleanup: () => void = () => undefined): void {
  process.once('SIGTERM', () => {
    cleanup();
    process.stdout.write(`${JSON.stringify(report())}\n`, () => process.exit(0));
  });
}

/** writer - BLOCK_BYTES appended and fdatasynced, SYNCS_PER_SEC times a second (or as often as the disk allows). */
function writer(dir: string, blockBytes: number, syncsPerSec: number): void {
  const file = path.join(dir, WRITER_FILE);
  const fd = fs.openSync(file, 'w', 0o600);
  const block = Buffer.alloc(blockBytes, 'noisy neighbour ');
  const syncMs: number[] = [];
  const started = performance.now();
  let offset = 0;
  let writes = 0;
  let stopped = false;
  onStop(() => ({
    kind: 'writer', seconds: (performance.now() - started) / 1000, writes, bytes: writes * blockBytes,
    fdatasyncP50Ms: percentile(syncMs, 50), fdatasyncP99Ms: percentile(syncMs, 99), cpuSeconds: cpuSeconds(),
  }), () => {
    stopped = true;
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  });
  const intervalMs = 1000 / syncsPerSec;
  const tick = (): void => {
    if (stopped) return;
    if (offset >= WRAP_BYTES) {
      fs.ftruncateSync(fd, 0);
      offset = 0;
    }
    fs.writeSync(fd, block, 0, blockBytes, offset);
    offset += blockBytes;
    const t0 = performance.now();
    fs.fdatasyncSync(fd);
    syncMs.push(performance.now() - t0);
    writes++;
    // paced against the start, so a slow fdatasync is made up for, never a burst after a stall
    const due = started + writes * intervalMs - performance.now();
    if (due > 0) setTimeout(tick, due);
    else setImmediate(tick);
  };
  process.stdout.write('ready\n');
  tick();
}

/** cpuHog - one thread busy all the time, but for a yield every 50 ms. */
function cpuHog(): void {
  const started = performance.now();
  let stopped = false;
  let sink = 0;
  onStop(() => ({ kind: 'cpu', seconds: (performance.now() - started) / 1000, cpuSeconds: cpuSeconds() }), () => (stopped = true));
  const spin = (): void => {
    if (stopped) return;
    const until = performance.now() + 50;
    while (performance.now() < until) sink = (sink * 31 + 7) % 1_000_003;
    setImmediate(spin);
  };
  process.stdout.write('ready\n');
  spin();
}

function positiveInt(value: string | undefined, def: number, what: string): number {
  const n = Number(value ?? def);
  if (!Number.isInteger(n) || n < 1) throw new Error(`noisy-neighbour: ${what} must be an integer >= 1, got ${value}`);
  return n;
}

if (import.meta.main) {
  const [kind, dir, block, rate] = process.argv.slice(2);
  if (kind === 'writer' && dir) writer(dir, positiveInt(block, 65536, 'BLOCK_BYTES'), positiveInt(rate, 200, 'SYNCS_PER_SEC'));
  else if (kind === 'cpu') cpuHog();
  else {
    process.stderr.write('usage: node bench/noisy-neighbour.ts writer DIR [BLOCK_BYTES] [SYNCS_PER_SEC] | cpu\n');
    process.exit(2);
  }
}

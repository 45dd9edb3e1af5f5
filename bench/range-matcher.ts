/*
 * bench/range-matcher - load time, lookup cost and memory of the listener range index
 * (relay/listener/range-index-build.ts, range-index-lookup.ts) at 1,000 / 100,000 / 1,000,000
 * remoteIPRanges entries, through the calls production makes: the hub's buildListenerIndex and
 * the listener's selectConnector.
 *
 * Entries: 70% IPv4, 30% IPv6, a mix of single addresses, a-b ranges and CIDR blocks, one per
 * disjoint block of the address space (so nothing conflicts), spread over 16 connectors; 10% of
 * blocks get a second, nested entry on another connector (most-specific selection at work), and
 * a catch-all connector holds 0.0.0.0/0 and ::/0. Load = buildListenerIndex, cold (first build
 * in the process for that size) and median of the following builds. Lookup = selectConnector()
 * on pre-generated address strings (parsing included), as the listener calls it per connection,
 * median ns/op over several runs, for IPv4, IPv4-mapped IPv6 (::ffff:a.b.c.d, as dual-stack sockets report) and IPv6 clients. Memory =
 * growth of V8 heap + ArrayBuffers retained by one index after GC, input strings excluded.
 *
 * Parameters (environment): ENTRIES=1000,100000,1000000 LOOKUPS=200000 RUNS=7 SEED=1.
 * Run: node bench/range-matcher.ts
 */
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { buildListenerIndex, type ConnectorRanges } from '../relay/listener/range-index-build.ts';
import { selectConnector, type ListenerRangeIndex } from '../relay/listener/range-index-lookup.ts';
import { mulberry32, v4Text } from '../test/support/seeded-random.ts';

interface BenchParams {
  entries: number[];
  lookups: number;
  runs: number;
  seed: number;
}

interface BenchRow {
  entries: number;
  segments: number;
  coldLoadMs: number;
  loadMs: number;
  v4Ns: number;
  mappedNs: number;
  v6Ns: number;
  indexMb: number;
  heapUsedMb: number;
}

const CONNECTORS = 16;
const V6_BLOCK_BITS = 32; // IPv6 blocks are the /64s 2001:db8:XXXX:YYYY::/64, indexed by XXXXYYYY

function paramsFrom(env: NodeJS.ProcessEnv): BenchParams {
  const int = (name: string, def: number): number => {
    const value = Number(env[name] ?? def);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
    return value;
  };
  const entries = (env.ENTRIES ?? '1000,100000,1000000').split(',').map(Number);
  if (entries.some((n) => !Number.isInteger(n) || n < 10)) throw new Error('ENTRIES must be integers >= 10');
  return { entries, lookups: int('LOOKUPS', 200_000), runs: int('RUNS', 7), seed: int('SEED', 1) };
}

/** Address in IPv6 block `block` with the 64-bit interface id given as two 32-bit halves. */
function v6Text(block: number, high: number, low: number): string {
  const hex = (n: number) => n.toString(16);
  return `2001:db8:${hex(block >>> 16)}:${hex(block & 0xffff)}:${hex(high >>> 16)}:${hex(high & 0xffff)}:${hex(low >>> 16)}:${hex(low & 0xffff)}`;
}

function largestPowerOfTwoBelow(n: number): number {
  return 2 ** Math.floor(Math.log2(n));
}

interface Generated {
  connectors: ConnectorRanges[];
  /** IPv6 block b is at b * v6Stride, for b below v6Blocks. */
  v6Stride: number;
  v6Blocks: number;
}

/** `count` non-conflicting entries, as connectors. */
function generateConnectors(count: number, random: () => number): Generated {
  const ranges: string[][] = Array.from({ length: CONNECTORS }, () => []);
  const otherConnector = (c: number) => (c + 1 + Math.floor(random() * (CONNECTORS - 1))) % CONNECTORS;
  // One block per entry is enough blocks even without nesting; the last ones may stay empty.
  const v4Target = Math.round((count - 2) * 0.7);
  const v4Blocks = v4Target;
  const v6Blocks = count - 2 - v4Target;
  let made = 2;

  const v4Stride = Math.floor(2 ** 32 / v4Blocks);
  for (let b = 0; b < v4Blocks && made < 2 + v4Target; b++) {
    const base = b * v4Stride;
    const c = Math.floor(random() * CONNECTORS);
    const kind = random();
    let low: number;
    let high: number;
    if (kind < 0.34) {
      low = high = base + Math.floor(random() * v4Stride);
      ranges[c]!.push(v4Text(low));
    } else if (kind < 0.67) {
      low = base + Math.floor(random() * (v4Stride / 2));
      high = low + Math.floor(random() * (v4Stride / 2));
      ranges[c]!.push(`${v4Text(low)}-${v4Text(high)}`);
    } else {
      // At most half the stride, so that an aligned block still ends inside this block.
      const size = largestPowerOfTwoBelow(v4Stride) / 2 ** (1 + Math.floor(random() * 4));
      low = Math.ceil(base / size) * size;
      high = low + size - 1;
      ranges[c]!.push(`${v4Text(low)}/${32 - Math.log2(size)}`);
    }
    made++;
    if (random() < 0.1 && made < 2 + v4Target && high > low) {
      ranges[otherConnector(c)]!.push(v4Text(low + Math.floor(random() * (high - low + 1))));
      made++;
    }
  }

  const v6Stride = Math.floor(2 ** V6_BLOCK_BITS / v6Blocks);
  for (let b = 0; b < v6Blocks && made < count; b++) {
    const block = b * v6Stride;
    const c = Math.floor(random() * CONNECTORS);
    const kind = random();
    const high = Math.floor(random() * 2 ** 32);
    if (kind < 0.34) {
      ranges[c]!.push(v6Text(block, high, Math.floor(random() * 2 ** 32)));
    } else if (kind < 0.67) {
      const low = Math.floor(random() * 2 ** 31);
      ranges[c]!.push(`${v6Text(block, high, low)}-${v6Text(block, high, low + Math.floor(random() * 2 ** 31))}`);
    } else {
      ranges[c]!.push(`${v6Text(block, 0, 0)}/${64 + Math.floor(random() * 4) * 16}`);
    }
    made++;
    if (random() < 0.1 && made < count) {
      ranges[otherConnector(c)]!.push(v6Text(block, 0, Math.floor(random() * 256)));
      made++;
    }
  }

  // Through JSON like a config loader's output: flat strings, not the ropes template literals make.
  const connectors = JSON.parse(JSON.stringify([
    { id: 'bench/default', createdAt: '2024-01-01T00:00:00Z', ranges: ['0.0.0.0/0', '::/0'] },
    ...ranges.map((list, c) => ({
      id: `bench/connector-${String(c).padStart(2, '0')}`,
      createdAt: '2024-01-02T00:00:00Z',
      ranges: list,
    })),
  ])) as ConnectorRanges[];
  return { connectors, v6Stride, v6Blocks };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function lookupNs(index: ListenerRangeIndex, addresses: string[], runs: number): number {
  const times: number[] = [];
  let found = 0;
  const warmUpRuns = 3; // until the JIT has settled on optimized code
  for (let run = 0; run < warmUpRuns + runs; run++) {
    const started = process.hrtime.bigint();
    for (const address of addresses) if (selectConnector(index, address).ok) found++;
    const elapsed = Number(process.hrtime.bigint() - started);
    if (run >= warmUpRuns) times.push(elapsed / addresses.length);
  }
  if (found === 0) throw new Error('no lookup matched: the generated addresses are wrong');
  return median(times);
}

/** A collector, so memory figures are not GC timing noise. */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const exposed: unknown = vm.runInNewContext('gc');
  if (typeof exposed !== 'function') throw new Error('could not expose gc');
  const gc = exposed as () => void;
  return () => {
    gc();
    gc();
  };
}

function retainedBytes(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** Memory one index holds: retained bytes with it minus after dropping it, both after GC. */
function indexMemory(connectors: ConnectorRanges[], collect: () => void): { indexMb: number; heapUsedMb: number } {
  const holder: { built: ReturnType<typeof buildListenerIndex> | null } = { built: buildListenerIndex(connectors) };
  collect();
  const withIndex = retainedBytes();
  const heapUsedMb = process.memoryUsage().heapUsed / 2 ** 20;
  holder.built = null;
  collect();
  return { indexMb: (withIndex - retainedBytes()) / 2 ** 20, heapUsedMb };
}

function runOne(params: BenchParams, entries: number, collect: () => void): BenchRow {
  const random = mulberry32(params.seed + entries);
  const { connectors, v6Stride, v6Blocks } = generateConnectors(entries, random);
  const loadRuns = entries >= 1_000_000 ? 3 : params.runs;

  let started = performance.now();
  const { index, conflicts } = buildListenerIndex(connectors);
  const coldLoadMs = performance.now() - started;
  if (conflicts.length > 0) throw new Error(`generated entries conflict: ${conflicts[0]!.message}`);

  const loadTimes: number[] = [];
  for (let run = 0; run < loadRuns; run++) {
    started = performance.now();
    buildListenerIndex(connectors);
    loadTimes.push(performance.now() - started);
  }
  const memory = indexMemory(connectors, collect);

  const v4: string[] = [];
  const mapped: string[] = [];
  const v6: string[] = [];
  for (let i = 0; i < params.lookups; i++) {
    const value = Math.floor(random() * 2 ** 32);
    v4.push(v4Text(value));
    mapped.push(`::ffff:${v4Text(value)}`);
    // Half inside generated blocks (near their base, where CIDRs and nested entries are).
    const block = random() < 0.5 ? Math.floor(random() * v6Blocks) * v6Stride : Math.floor(random() * 2 ** V6_BLOCK_BITS);
    v6.push(v6Text(block, random() < 0.5 ? 0 : Math.floor(random() * 2 ** 32), Math.floor(random() * 2 ** 16)));
  }
  // Flat strings, as a socket's remoteAddress is.
  const [v4Flat, mappedFlat, v6Flat] = JSON.parse(JSON.stringify([v4, mapped, v6])) as [string[], string[], string[]];

  return {
    entries: index.entryCount,
    segments: index.segmentCount,
    coldLoadMs,
    loadMs: median(loadTimes),
    v4Ns: lookupNs(index, v4Flat, params.runs),
    mappedNs: lookupNs(index, mappedFlat, params.runs),
    v6Ns: lookupNs(index, v6Flat, params.runs),
    ...memory,
  };
}

function renderTable(params: BenchParams, rows: BenchRow[], command: string): string {
  const cpu = os.cpus();
  const lines = [
    `command: \`${command}\``,
    `node ${process.version}, ${os.type()} ${os.release()}, ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}`,
    `lookups: ${params.lookups} per family and run, median of ${params.runs} runs; load: median of ${params.runs} builds (3 at 1M), after a cold one; seed ${params.seed}`,
    '',
    '| entries | segments | load ms (cold) | load ms (median) | lookup IPv4 ns/op | lookup ::ffff:IPv4 ns/op | lookup IPv6 ns/op | index MB | heapUsed MB |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.entries.toLocaleString('en-US')} | ${r.segments.toLocaleString('en-US')} | ${r.coldLoadMs.toFixed(0)} | ${r.loadMs.toFixed(0)} | ` +
        `${r.v4Ns.toFixed(0)} | ${r.mappedNs.toFixed(0)} | ${r.v6Ns.toFixed(0)} | ${r.indexMb.toFixed(r.indexMb < 10 ? 2 : 1)} | ${r.heapUsedMb.toFixed(0)} |`,
    ),
  ];
  return lines.join('\n');
}

/** main - run the benchmark and print a markdown table; returns the table. */
export function main(env: NodeJS.ProcessEnv = process.env): string {
  const params = paramsFrom(env);
  const collect = collector();
  const rows = params.entries.map((entries) => runOne(params, entries, collect));
  const envShown = ['ENTRIES', 'LOOKUPS', 'RUNS', 'SEED'].filter((k) => env[k] !== undefined).map((k) => `${k}=${env[k]}`);
  const script = path.relative(process.cwd(), process.argv[1] ?? 'bench/range-matcher.ts');
  const command = `cd ${process.cwd()} && ${[...envShown, process.argv0, script].join(' ')}`;
  const table = renderTable(params, rows, command);
  console.log(table);
  return table;
}

if (import.meta.main) main();

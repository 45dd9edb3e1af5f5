/*
 * bench/header-parse - cost of a message's header block on the hub, in ms per MiB of header,
 * from 64 KiB to 8 MiB (issue 17 item 6: it was quadratic; a 2 MiB block froze the hub 15 s).
 *
 * Each block goes through what the hub does with it, on one thread, as the event loop would:
 * the session path (DataNormalizer fed 64 KiB chunks as smtp-server hands them over, then the
 * hop count and the header firewall of accept-message.ts's acceptMessage) and the delivery readers
 * (headerSection and headerValue for Message-ID and Subject, as the tracking log and DSNs read a
 * queued message). Shapes: many short fields; four fields folded over many lines; short lines
 * without a colon (the adversarial review's freeze); one field whose name is a run of blanks
 * (the old trim by regular expression). Linear means the same ms/MiB at every size.
 * Median of RUNS samples (each repeated to last about 50 ms) after one untimed run. A shape whose run takes longer than
 * BUDGET_MS is not run at larger sizes (a quadratic cost would take hours at 8 MiB): the table
 * says so, with the figure of the size that was run.
 *
 * Parameters (environment): SIZES=64,256,1024,2048,8192 (KiB) RUNS=5 BUDGET_MS=20000.
 * Run: node bench/header-parse.ts
 */
import path from 'node:path';
import { DataNormalizer } from '../relay/session/data-normalizer.ts';
import { countReceivedHeaders, filterHeaders } from '../relay/session/header-firewall.ts';
import { headerSection, headerValue } from '../relay/delivery/message-headers.ts';
import type { Right } from '../relay/config/schema.ts';
import { headerLines as lines } from '../test/support/header-blocks.ts';

interface BenchParams {
  sizesKiB: number[];
  runs: number;
  budgetMs: number;
}

interface Row {
  shape: string;
  kib: number;
  /** null: not run, the previous size went over the budget. */
  sessionMs: number | null;
  deliveryMs: number | null;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 64 * KiB;
const NO_RIGHTS = new Set<Right>();

function paramsFrom(env: NodeJS.ProcessEnv): BenchParams {
  const int = (name: string, def: number): number => {
    const value = Number(env[name] ?? def);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
    return value;
  };
  const sizesKiB = (env.SIZES ?? '64,256,1024,2048,8192').split(',').map(Number);
  if (sizesKiB.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('SIZES must be positive integers (KiB)');
  return { sizesKiB, runs: int('RUNS', 5), budgetMs: int('BUDGET_MS', 20_000) };
}

const SHAPES: ReadonlyArray<readonly [string, (size: number) => Buffer]> = [
  ['short fields', (size) => lines(size, (i) => `X-Hdr-${i}: value ${i}`)],
  ['4 folded fields', (size) => lines(size, (i) => (i % Math.ceil(size / 4 / 72) === 0 ? `Subject-${i}: start` : `\t${'w'.repeat(69)}`))],
  ['colon-less lines', (size) => lines(size, (i) => (i === 0 ? 'Subject: s' : `line ${i}`))],
  ['blank field name', (size) => Buffer.from(`X${' '.repeat(size)}y: v\r\nSubject: s\r\n\r\n`, 'latin1')],
];

/** The session's work on a header block: normalizer (64 KiB chunks), hop count, header firewall. */
function sessionPath(message: Buffer): void {
  const normalizer = new DataNormalizer({ bareLineFeeds: 'Normalize', maxHeaderSize: 0 });
  let headers: Buffer | null = null;
  for (let at = 0; at < message.length; at += CHUNK) headers ??= normalizer.push(message.subarray(at, at + CHUNK)).headers;
  headers ??= normalizer.end().headers ?? Buffer.alloc(0);
  countReceivedHeaders(headers);
  filterHeaders(headers, NO_RIGHTS);
}

/** What delivery reads of a queued message: the header section, Message-ID, Subject. */
function deliveryPath(message: Buffer): void {
  headerSection(message);
  headerValue(message, 'message-id');
  headerValue(message, 'subject');
}

function timeMs(run: () => void): number {
  const started = performance.now();
  run();
  return performance.now() - started;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/**
 * measure - median ms of one `run`, over `runs` samples of enough repetitions to last about
 * 50 ms each (a 64 KiB block takes well under a millisecond: timer noise otherwise); a single
 * run when the untimed one already took over a second.
 */
function measure(run: () => void, runs: number): number {
  const first = timeMs(run);
  if (first > 1000) return first;
  const repeat = Math.max(1, Math.ceil(50 / Math.max(first, 0.01)));
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    samples.push(timeMs(() => {
      for (let r = 0; r < repeat; r++) run();
    }) / repeat);
  }
  return median(samples);
}

function runAll(params: BenchParams): Row[] {
  const rows: Row[] = [];
  const body = Buffer.from('body line\r\n');
  // every shape once, untimed, at a small size: the first shape measured is not the one that pays for compilation
  for (const [, make] of SHAPES) {
    const message = Buffer.concat([make(16 * KiB), body]);
    for (let i = 0; i < 20; i++) {
      sessionPath(message);
      deliveryPath(message);
    }
  }
  for (const [shape, make] of SHAPES) {
    let over = false;
    for (const kib of params.sizesKiB) {
      if (over) {
        rows.push({ shape, kib, sessionMs: null, deliveryMs: null });
        continue;
      }
      const message = Buffer.concat([make(kib * KiB), body]);
      const sessionMs = measure(() => sessionPath(message), params.runs);
      const deliveryMs = measure(() => deliveryPath(message), params.runs);
      rows.push({ shape, kib, sessionMs, deliveryMs });
      over = sessionMs + deliveryMs > params.budgetMs;
    }
  }
  return rows;
}

function renderTable(params: BenchParams, rows: Row[], command: string): string {
  const perMiB = (ms: number | null, kib: number): string => (ms === null ? 'not run' : (ms / (kib * KiB / MiB)).toFixed(1));
  const total = (row: Row): string => (row.sessionMs === null || row.deliveryMs === null ? `not run (over ${params.budgetMs / 1000} s at the size before)` : (row.sessionMs + row.deliveryMs).toFixed(1));
  return [
    `\`${command}\``,
    '',
    `Median of ${params.runs} samples (each repeated to last about 50 ms) after one untimed run; a single run when that one took over 1 s. Session path: DataNormalizer in 64 KiB chunks, countReceivedHeaders, filterHeaders; delivery: headerSection, headerValue (Message-ID, Subject; reads at most 256 KiB). Linear = the same ms/MiB at every size.`,
    '',
    '| header block | size | session ms/MiB | delivery ms/MiB | total ms |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((row) => `| ${row.shape} | ${row.kib >= 1024 ? `${row.kib / 1024} MiB` : `${row.kib} KiB`} | ${perMiB(row.sessionMs, row.kib)} | ${perMiB(row.deliveryMs, row.kib)} | ${total(row)} |`),
  ].join('\n');
}

/** main - run the benchmark and print a markdown table; returns the table. */
export function main(env: NodeJS.ProcessEnv = process.env): string {
  const params = paramsFrom(env);
  const rows = runAll(params);
  const envShown = ['SIZES', 'RUNS', 'BUDGET_MS'].filter((k) => env[k] !== undefined).map((k) => `${k}=${env[k]}`);
  const script = import.meta.main ? path.relative(process.cwd(), process.argv[1] ?? 'bench/header-parse.ts') : 'bench/header-parse.ts';
  const command = `cd ${process.cwd()} && ${[...envShown, process.argv0, script].join(' ')}`;
  const table = renderTable(params, rows, command);
  console.log(table);
  return table;
}

if (import.meta.main) main();

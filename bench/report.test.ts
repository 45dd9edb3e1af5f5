/* bench/report: the noisy-neighbour verdict and section (issue 14 item 8), from made-up samples. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noisyVerdict, renderNoisy } from './report.ts';
import { paramsFrom } from './scenarios.ts';
import { noisyParamsFrom, type NoisyResults, type NoisySample } from './noisy-scenario.ts';

const able = { root: true, cpuController: true };
const sample = (msgsPerSec: number, latencyMs: number[] = [10]): NoisySample => ({
  round: 1, msgsPerSec, seconds: 5000 / msgsPerSec, warmUpMsgsPerSec: null, serverCores: 0.8, neighbourCores: 1, machineCores: 2, latencyMs,
});

function results(quiet: [number[], number[]], noisy: [number[], number[]], relayUnavailable: string | null = null): NoisyResults {
  const samples = new Map<string, NoisySample[]>();
  const put = (key: string, xs: number[]): void => {
    if (xs.length) samples.set(key, xs.map((x) => sample(x)));
  };
  put('quiet/postfix', quiet[0]);
  put('quiet/relay', quiet[1]);
  put('noisy/postfix', noisy[0]);
  put('noisy/relay', noisy[1]);
  return {
    samples, relayUnavailable,
    neighbours: [
      { kind: 'writer', seconds: 10, writes: 2000, bytes: 2000 * 65536, fdatasyncP50Ms: 2, fdatasyncP99Ms: 12, cpuSeconds: 0.5 },
      { kind: 'cpu', seconds: 10, cpuSeconds: 9.5 },
    ],
  };
}

test('noisyVerdict: medians per side and condition, ratios, met at exactly 0.8 x the quiet ratio, not met below', () => {
  const v = noisyVerdict(results([[1000, 1100, 900], [3000, 2000, 2500]], [[500], [1000]]));
  assert.deepEqual(v.quiet, { postfix: 1000, relay: 2500, ratio: 2.5 });
  assert.deepEqual(v.noisy, { postfix: 500, relay: 1000, ratio: 2 });
  assert.equal(v.required, 2);
  assert.equal(v.met, true);
  const below = noisyVerdict(results([[1000], [2500]], [[500], [999]]));
  assert.equal(below.met, false);
  // a side that loses less than the other to the neighbours raises the ratio: met
  assert.equal(noisyVerdict(results([[1000], [2000]], [[400], [1800]])).met, true);
});

test('noisyVerdict: no relay figure, no verdict', () => {
  const v = noisyVerdict(results([[1000], []], [[500], []], 'hub ended (exit status 1) before greeting'));
  assert.equal(v.quiet.ratio, null);
  assert.equal(v.required, null);
  assert.equal(v.met, null);
});

test('renderNoisy: both conditions with msgs/s, ratio and p50 / p99 DATA-to-250 of each side, the neighbours, the verdict', () => {
  const r = results([[1000], [2500]], [[500], [1000]]);
  r.samples.set('noisy/relay', [sample(1000, Array.from({ length: 100 }, (_, i) => i + 1))]);
  const md = renderNoisy(paramsFrom({}), noisyParamsFrom({}, able), r, ['command: `SCENARIOS=noisy npm run bench` (bench/run.ts)']);
  assert.match(md, /^## Noisy neighbours/);
  assert.match(md, /command: `SCENARIOS=noisy npm run bench`/);
  assert.match(md, /\| without neighbours \| 1000 \| 2500 \| 2\.50x \| 10 \/ 10 \(n=1\) \| 10 \/ 10 \(n=1\) \|/);
  assert.match(md, /\| with neighbours \| 500 \| 1000 \| 2\.00x \| 10 \/ 10 \(n=1\) \| 50 \/ 99 \(n=100\) \|/);
  assert.match(md, /2\.00x with neighbours against 0\.8 x 2\.50x = 2\.00x required: \*\*met\*\*/);
  assert.match(md, /achieved 200 fdatasync\/s .*12\.5 MiB\/s; fdatasync p50 2\.0 ms, p99 12\.0 ms/);
  assert.match(md, /one busy CPU process: 0\.95 cores/);
  assert.match(md, /Postfix -50% msgs\/s, p99 DATA-to-250 \+0%; relay -60% msgs\/s, p99 DATA-to-250 \+890%/);
  assert.match(md, /smtp-source -d -M bench\.test -s 20 -l 10240 -m 5000/);
});

test('renderNoisy: says which isolation was used, in the heading and in a line of its own', () => {
  const r = results([[1000], [2500]], [[500], [1000]]);
  const pods = renderNoisy(paramsFrom({}), noisyParamsFrom({}, able), r, []);
  assert.match(pods, /^## Noisy neighbours.*\(issue 14 item 8; isolation cgroup\)$/m);
  assert.match(pods, /^isolation: cgroup \(default: root, cgroup v1 cpu controller at \/sys\/fs\/cgroup\/cpu\): .*cpu\.shares 1024 each.*\/sys\/fs\/cgroup\/cpu\/relay-bench-PID\/subject/m);
  const shared = renderNoisy(paramsFrom({}), noisyParamsFrom({ NOISY_ISOLATION: 'none' }, able), r, []);
  assert.match(shared, /^## Noisy neighbours.*\(issue 14 item 8; isolation none\)$/m);
  assert.match(shared, /^isolation: none \(NOISY_ISOLATION=none\): every process in the machine's one cgroup/m);
});

test('renderNoisy: a relay that never started says why and is not judged', () => {
  const md = renderNoisy(paramsFrom({}), noisyParamsFrom({}, able), results([[1000], []], [[500], []], '127.0.0.41:2525 is in use by another process'), []);
  assert.match(md, /\| without neighbours \| 1000 \| not available: 127\.0\.0\.41:2525 is in use by another process \| n\/a \|/);
  assert.match(md, /not judged: no relay figure/);
  assert.doesNotMatch(md, /\*\*met\*\*|\*\*not met\*\*/);
});

test('renderNoisy: a neighbour left out by NOISY_NEIGHBOURS says so', () => {
  const r = results([[1000], [2500]], [[500], [1000]]);
  r.neighbours = r.neighbours.filter((n) => n.kind === 'cpu');
  const md = renderNoisy(paramsFrom({}), noisyParamsFrom({ NOISY_NEIGHBOURS: 'cpu' }, able), r, []);
  assert.match(md, /hub spools: not run \(NOISY_NEIGHBOURS\); and one busy CPU process: 0\.95 cores/);
});

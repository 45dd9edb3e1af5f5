/* bench/noisy-scenario: its parameters from the environment (the runs themselves: SCENARIOS=noisy npm run bench). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noisyParamsFrom } from './noisy-scenario.ts';

const able = { root: true, cpuController: true };

test('noisyParamsFrom: defaults (2 rounds A/B/A/B, 2 latency sessions, 64 KiB x 200/s, both neighbours, cgroups where the machine allows)', () => {
  assert.deepEqual(noisyParamsFrom({}, able), {
    rounds: 2, latencySessions: 2, writerBlockBytes: 65536, writerSyncsPerSec: 200, neighbours: ['writer', 'cpu'],
    isolation: { mode: 'cgroup', why: 'default: root, cgroup v1 cpu controller at /sys/fs/cgroup/cpu' },
  });
  assert.equal(noisyParamsFrom({}, { root: false, cpuController: true }).isolation.mode, 'none');
  assert.deepEqual(noisyParamsFrom({ NOISY_ISOLATION: 'none' }, able).isolation, { mode: 'none', why: 'NOISY_ISOLATION=none' });
});

test('noisyParamsFrom: one neighbour alone, in a fixed order whatever the order given', () => {
  assert.deepEqual(noisyParamsFrom({ NOISY_NEIGHBOURS: 'cpu' }).neighbours, ['cpu']);
  assert.deepEqual(noisyParamsFrom({ NOISY_NEIGHBOURS: ' cpu , writer ' }).neighbours, ['writer', 'cpu']);
});

test('noisyParamsFrom: bad values are errors naming the variable', () => {
  assert.throws(() => noisyParamsFrom({ NOISY_SAMPLES: '0' }), /NOISY_SAMPLES must be an integer >= 1, got 0/);
  assert.throws(() => noisyParamsFrom({ LATENCY_SESSIONS: '1.5' }), /LATENCY_SESSIONS must be an integer >= 1/);
  assert.throws(() => noisyParamsFrom({ NOISY_NEIGHBOURS: 'writer,disk' }), /NOISY_NEIGHBOURS: unknown disk \(known: writer, cpu\)/);
  assert.throws(() => noisyParamsFrom({ NOISY_NEIGHBOURS: ',' }), /NOISY_NEIGHBOURS: empty/);
  assert.throws(() => noisyParamsFrom({ NOISY_ISOLATION: 'pod' }, able), /NOISY_ISOLATION must be cgroup or none, got pod/);
});

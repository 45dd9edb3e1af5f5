/* bench/cgroup-isolation: choosing the noisy scenario's isolation and naming its cgroups (the cgroups themselves: test/bench/cgroup-isolation.test.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseIsolation, cgroupPaths, podsShares } from './cgroup-isolation.ts';

const able = { root: true, cpuController: true };

test('chooseIsolation: cgroup by default when root with the v1 cpu controller, none otherwise, saying why', () => {
  assert.deepEqual(chooseIsolation(undefined, able), { mode: 'cgroup', why: 'default: root, cgroup v1 cpu controller at /sys/fs/cgroup/cpu' });
  assert.deepEqual(chooseIsolation('', able).mode, 'cgroup');
  assert.deepEqual(chooseIsolation(undefined, { root: false, cpuController: true }), { mode: 'none', why: 'default: not root' });
  assert.deepEqual(chooseIsolation(undefined, { root: true, cpuController: false }), { mode: 'none', why: 'default: no cgroup v1 cpu controller at /sys/fs/cgroup/cpu' });
  assert.deepEqual(chooseIsolation(undefined, { root: false, cpuController: false }).why, 'default: not root, no cgroup v1 cpu controller at /sys/fs/cgroup/cpu');
});

test('chooseIsolation: NOISY_ISOLATION wins; cgroup where it cannot be done and unknown values are errors naming the variable', () => {
  assert.deepEqual(chooseIsolation('none', able), { mode: 'none', why: 'NOISY_ISOLATION=none' });
  assert.deepEqual(chooseIsolation(' cgroup ', able), { mode: 'cgroup', why: 'NOISY_ISOLATION=cgroup' });
  assert.throws(() => chooseIsolation('cgroup', { root: false, cpuController: true }), /NOISY_ISOLATION=cgroup: not root \(NOISY_ISOLATION=none runs without\)/);
  assert.throws(() => chooseIsolation('cgroup', { root: true, cpuController: false }), /NOISY_ISOLATION=cgroup: no cgroup v1 cpu controller at \/sys\/fs\/cgroup\/cpu/);
  assert.throws(() => chooseIsolation('pods', able), /NOISY_ISOLATION must be cgroup or none, got pods/);
});

test('podsShares: kubelet\'s kubepods weight, 1024 per allocatable CPU, never below the kernel minimum of 2', () => {
  assert.equal(podsShares(2), 2048);
  assert.equal(podsShares(0.5), 512);
  assert.equal(podsShares(0), 2);
});

test('cgroupPaths: one directory per harness pid, a subject and a neighbour group inside', () => {
  assert.deepEqual(cgroupPaths(4242), {
    base: '/sys/fs/cgroup/cpu/relay-bench-4242',
    subject: '/sys/fs/cgroup/cpu/relay-bench-4242/subject',
    neighbour: '/sys/fs/cgroup/cpu/relay-bench-4242/neighbour',
  });
  assert.equal(cgroupPaths(7, '/tmp/cg').neighbour, '/tmp/cg/relay-bench-7/neighbour');
  assert.throws(() => cgroupPaths(0), /pid must be a positive integer, got 0/);
});

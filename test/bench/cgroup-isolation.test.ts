/*
 * bench/cgroup-isolation on the real cgroup v1 cpu controller (root): the run's groups are
 * created with equal cpu.shares under a directory weighing 1024 per CPU, a process moved in lands there and the child it forks
 * afterwards too (so Postfix's daemons follow its master), and removal puts whatever is left
 * back in the root cgroup and leaves no directory behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { createPodCgroups, CPU_CGROUP_ROOT, probeIsolation } from '../../bench/cgroup-isolation.ts';

/** cpuCgroup - the cpu hierarchy's path of a process, from /proc/PID/cgroup (`1:cpu:/relay-bench-1/subject`). */
function cpuCgroup(pid: number): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes('cpu'));
  assert.ok(line, `/proc/${pid}/cgroup has no cpu line`);
  return line.split(':').slice(2).join(':');
}

async function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

test('pod cgroups: equal shares, a moved process and what it forks later land in the group, removal empties and deletes', async (t) => {
  const probe = probeIsolation();
  assert.ok(probe.root && probe.cpuController, `needs root and the cgroup v1 cpu controller at ${CPU_CGROUP_ROOT} (the bench's default isolation): ${JSON.stringify(probe)}`);
  const cgroups = createPodCgroups(process.pid);
  t.after(() => cgroups.remove());
  const shell = spawn('/bin/sh', ['-c', 'read line; sleep 30 & echo $!; wait'], { stdio: ['pipe', 'pipe', 'ignore'] });
  t.after(() => stopped(shell));
  assert.ok(shell.pid);
  for (const group of ['subject', 'neighbour'] as const) assert.equal(readFileSync(`${cgroups.paths[group]}/cpu.shares`, 'utf8').trim(), '1024');
  assert.equal(readFileSync(`${cgroups.paths.base}/cpu.shares`, 'utf8').trim(), String(1024 * availableParallelism()), 'the run\'s directory weighs as kubepods: 1024 per CPU');
  const before = cpuCgroup(shell.pid);
  assert.ok(!before.includes('relay-bench-'), `the shell starts outside: ${before}`);

  cgroups.move('subject', [shell.pid]);
  assert.equal(cpuCgroup(shell.pid), `/relay-bench-${process.pid}/subject`);
  assert.deepEqual(cgroups.pids('subject'), [shell.pid]);
  assert.deepEqual(cgroups.pids('neighbour'), []);

  // the shell forks `sleep` only now: it inherits the group
  shell.stdout.setEncoding('utf8');
  shell.stdin.write('go\n');
  const [first] = (await once(shell.stdout, 'data')) as [string];
  const sleeper = Number(first.trim());
  assert.ok(sleeper > 0, `sleep pid: ${first}`);
  t.after(() => {
    try {
      process.kill(sleeper, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  assert.equal(cpuCgroup(sleeper), `/relay-bench-${process.pid}/subject`);
  assert.deepEqual(cgroups.pids('subject').sort((a, b) => a - b), [shell.pid, sleeper].sort((a, b) => a - b));

  cgroups.move('neighbour', [sleeper]);
  assert.equal(cpuCgroup(sleeper), `/relay-bench-${process.pid}/neighbour`);

  // still running: removal moves both back to the root cgroup first
  await cgroups.remove();
  assert.equal(existsSync(cgroups.paths.base), false);
  assert.equal(cpuCgroup(shell.pid), '/');
  assert.equal(cpuCgroup(sleeper), '/');
  await cgroups.remove(); // a second call (the signal cleanup after the finally) is harmless
});

test('pod cgroups: a pid that has exited meanwhile is skipped, a leftover directory of the same pid is an error naming it', async (t) => {
  const gone = spawn('/bin/true');
  await once(gone, 'exit');
  const cgroups = createPodCgroups(process.pid);
  t.after(() => cgroups.remove());
  assert.ok(gone.pid);
  cgroups.move('subject', [gone.pid]);
  assert.deepEqual(cgroups.pids('subject'), []);
  assert.throws(() => createPodCgroups(process.pid), new RegExp(`EEXIST.*relay-bench-${process.pid}`));
});

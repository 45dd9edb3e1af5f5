/*
 * Issue 12 item 6: `relay-operator hub --help` failed (an unknown option), and `--manifests`
 * took one path, so `--manifests imported/ hubs.yaml` (docs/from-exchange.md) lost the second.
 * Every subcommand answers --help on stdout with exit 0; --manifests takes several files and
 * folders at once; a path that does not exist is a one-line error, not a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['bin/relay-operator.js', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

for (const command of ['hub', 'render', 'explain', 'operator', 'relay', 'validate']) {
  test(`relay-operator ${command} --help: usage on stdout, exit 0`, () => {
    const { status, stdout, stderr } = cli([command, '--help']);
    assert.equal(status, 0, stderr);
    assert.match(stdout, new RegExp(`^usage: relay-operator ${command} `));
    assert.match(stdout, /--help, -h/);
    if (command === 'hub') assert.match(stdout, /--manifests PATH\.\.\.[\s\S]*--spool/);
  });
}

test('--manifests takes several files and folders at once: the hub in one file, its connector in a folder', () => {
  const root = mkdtempSync(join(tmpdir(), 'manifests-'));
  try {
    const GROUP = 'relayoperator.io/v1alpha1';
    writeFileSync(join(root, 'hubs.yaml'), stringify({ apiVersion: GROUP, kind: 'RelayHub', metadata: { name: 'hub', namespace: 'mail' }, spec: { fqdn: 'hub.example.test' } }));
    mkdirSync(join(root, 'imported'));
    writeFileSync(join(root, 'imported', 'apps.yaml'), stringify({ apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name: 'apps', namespace: 'mail' }, spec: { hubs: ['hub'], bindings: ['0.0.0.0:2525'], remoteIPRanges: ['10.1.0.0/16'], permissionGroups: ['AnonymousUsers'] } }));
    const { status, stdout, stderr } = cli(['render', '--manifests', join(root, 'imported'), join(root, 'hubs.yaml'), '--hub', 'hub']);
    assert.equal(status, 0, stderr);
    const config = JSON.parse(stdout) as { connectors: Array<{ id: string }> };
    assert.deepEqual(config.connectors.map((c) => c.id), ['mail/apps']);
    const missing = cli(['render', '--manifests', join(root, 'hubs.yaml'), join(root, 'nowhere'), '--hub', 'hub']);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /--manifests .*nowhere: no such file or directory/);
    assert.doesNotMatch(missing.stderr, /^\s+at /m, 'no stack trace');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

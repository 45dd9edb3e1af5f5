/*
 * `relay-operator hub` and Secret names (issue 17 item 12): standalone, each Secret key is
 * written to DIR/secrets/NAME/KEY, so a name or key with "../", "/" or a NUL wrote outside the
 * spool. The manifests are refused (exit 2, file, object, field, rule) before anything is
 * written, and writeSecrets itself refuses such a name or key whoever calls it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { SecretObject } from '../render/inputs.ts';
import { writeSecrets } from './hub-command.ts';

const GROUP = 'relayoperator.io/v1alpha1';

function runHub(manifests: object[], root: string): Promise<{ status: number | null; stderr: string }> {
  const file = join(root, 'manifests.yaml');
  writeFileSync(file, manifests.map((o) => stringify(o)).join('---\n'));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/relay-operator.js', 'hub', '--manifests', file, '--hub', 'hub', '--spool', join(root, 'a', 'state')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // today's code starts the hub and keeps running: stopped after a while, status null
    const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ status: code, stderr });
    });
  });
}

const hub = { apiVersion: GROUP, kind: 'RelayHub', metadata: { name: 'hub', namespace: 'mail' }, spec: { fqdn: 'hub.example.test', users: { secretName: 'relay-users' } } };
const connector = { apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name: 'c', namespace: 'mail' }, spec: { hubs: ['hub'], bindings: [`127.0.0.1:${30000 + (process.pid % 20000)}`], remoteIPRanges: ['127.0.0.1'], permissionGroups: ['AnonymousUsers'] } };
const secret = (name: string, stringData: Record<string, string>): object => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'mail' }, stringData });

const cases: Array<{ what: string; objects: object[]; field: RegExp; rule: string }> = [
  { what: 'a key with ../', objects: [hub, connector, secret('relay-users', { users: '', '../../../../escaped': 'owned' })], field: /Secret mail\/relay-users: stringData\[\.\.\/\.\.\/\.\.\/\.\.\/escaped\]: /, rule: 'secretKey' },
  { what: 'a name with ../', objects: [hub, connector, secret('../../../escaped', { users: 'owned' })], field: /Secret mail\/\.\.\/\.\.\/\.\.\/escaped: metadata\.name: /, rule: 'secretName' },
  { what: 'an absolute key', objects: [hub, connector, secret('relay-users', { users: '', [`${tmpdir()}/escaped`]: 'owned' })], field: /stringData\[\/.*escaped\]: /, rule: 'secretKey' },
  { what: 'a NUL in a key', objects: [hub, connector, secret('relay-users', { users: '', 'us\0ers': 'owned' })], field: /stringData\[us.ers\]: /, rule: 'secretKey' },
  { what: 'a secretName with ../ in the RelayHub', objects: [{ ...hub, spec: { ...hub.spec, users: { secretName: '../../../escaped' } } }, connector, secret('relay-users', { users: '' })], field: /RelayHub mail\/hub: spec\.users\.secretName: /, rule: 'secretName' },
];

for (const c of cases) {
  test(`relay-operator hub refuses ${c.what}: exit 2 naming file, object, field and rule; nothing written outside the spool`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'hub-secrets-'));
    try {
      const { status, stderr } = await runHub(c.objects, root);
      assert.equal(status, 2, stderr);
      assert.match(stderr, c.field);
      assert.ok(stderr.includes('manifests.yaml') && stderr.includes(`(rule ${c.rule})`), stderr);
      assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
      assert.deepEqual(readdirSync(root).sort(), ['a', 'manifests.yaml'], 'nothing next to the spool');
      assert.ok(!existsSync(join(root, 'a', 'escaped')) && !existsSync(join(tmpdir(), 'escaped')));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

test('writeSecrets refuses a name or key that is not a Kubernetes one, writing nothing (a second line behind validate)', () => {
  const root = mkdtempSync(join(tmpdir(), 'write-secrets-'));
  const dir = join(root, 'spool', 'secrets');
  mkdirSync(dir, { recursive: true });
  const objects = (secrets: SecretObject[]) => ({ namespace: 'mail', hubs: [], receiveConnectors: [], acceptedDomains: [], sendConnectors: [], secrets });
  try {
    for (const [name, key] of [['../out', 'k'], ['ok', '../../out'], ['/abs', 'k'], ['ok', '/abs'], ['ok', '..'], ['ok', 'a\0b'], ['Upper', 'k']] as const) {
      assert.throws(() => writeSecrets(objects([{ apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: { good: 'x', [key]: 'owned' } }]), dir), /\(rule secret(Name|Key)\)/, `${name} ${key}`);
    }
    assert.deepEqual(readdirSync(root), ['spool']);
    assert.deepEqual(readdirSync(dir), [], 'not even the good key of a refused Secret');
    writeSecrets(objects([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'relay-users' }, stringData: { users: 'x', 'tls.crt': 'y' } }]), dir);
    assert.deepEqual(readdirSync(join(dir, 'relay-users')).sort(), ['tls.crt', 'users']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a second `hub` on the spool of a running one exits 1 with one line naming the other hub, no stack trace (issue 12 item 6)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'hub-twice-'));
  const file = join(root, 'manifests.yaml');
  const port = 30000 + ((process.pid + 7) % 20000);
  writeFileSync(file, [hub, { ...connector, spec: { ...connector.spec, bindings: [`127.0.0.171:${port}`] } }, secret('relay-users', { users: '' })].map((o) => stringify(o)).join('---\n'));
  const args = ['bin/relay-operator.js', 'hub', '--manifests', file, '--hub', 'hub', '--spool', join(root, 'state')];
  const first = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      first.stdout.on('data', (c: Buffer) => void (c.toString().includes('hub started') && resolve()));
      first.once('exit', (code) => reject(new Error(`first hub exited with ${code}`)));
    });
    const second = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    second.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const status = await new Promise<number | null>((resolve) => second.once('close', resolve));
    assert.equal(status, 1, stderr);
    assert.match(stderr, new RegExp(`^relay-operator hub: spool .*state/queue is in use by another running hub \\(pid ${first.pid}\\)`));
    assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
  } finally {
    first.kill('SIGTERM');
    await new Promise((resolve) => first.once('close', resolve));
    rmSync(root, { recursive: true, force: true });
  }
});

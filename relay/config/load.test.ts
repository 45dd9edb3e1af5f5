import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRenderedConfig } from './load.ts';
import { RENDERED_CONFIG_API_VERSION } from './schema.ts';

const config = (hub: Record<string, unknown>): string =>
  JSON.stringify({ apiVersion: RENDERED_CONFIG_API_VERSION, hub: { fqdn: 'hub.example.test', ...hub }, connectors: [], listeners: [], acceptedDomains: [], sendConnectors: [] });

void test('hub.spool is optional; when present its reserve must be a whole number of bytes, named in the error', () => {
  assert.equal(parseRenderedConfig(config({}), 'a.json').config.hub.spool, undefined, 'older configs have none: the default applies');
  assert.equal(parseRenderedConfig(config({ spool: { minFreeBytes: 0 } }), 'b.json').config.hub.spool?.minFreeBytes, 0);
  for (const bad of [-1, 1.5, 2 ** 60, '64Mi', null]) {
    assert.throws(() => parseRenderedConfig(config({ spool: { minFreeBytes: bad } }), 'c.json'), /c\.json: hub\.spool\.minFreeBytes must be a whole number of bytes .*minFreeSpace/, String(bad));
  }
});

void test('hub.spool.maxDataMemoryBytes is optional (the default applies); when present a whole number of bytes >= 1, named in the error', () => {
  assert.equal(parseRenderedConfig(config({ spool: { minFreeBytes: 0 } }), 'a.json').config.hub.spool?.maxDataMemoryBytes, undefined);
  assert.equal(parseRenderedConfig(config({ spool: { minFreeBytes: 0, maxDataMemoryBytes: 1048576 } }), 'b.json').config.hub.spool?.maxDataMemoryBytes, 1048576);
  for (const bad of [0, -1, 1.5, 2 ** 60, '64Mi', null]) {
    assert.throws(() => parseRenderedConfig(config({ spool: { minFreeBytes: 0, maxDataMemoryBytes: bad } }), 'c.json'), /c\.json: hub\.spool\.maxDataMemoryBytes must be a whole number of bytes .*maxDataMemory/, String(bad));
  }
});

void test('issue 17 item 12: a secret file that is not <Secret name>/<key> without ".." is refused at load, naming file, field and rule', () => {
  const withFiles = (hub: Record<string, unknown>, connectors: unknown[] = [], sendConnectors: unknown[] = []): string =>
    JSON.stringify({ apiVersion: RENDERED_CONFIG_API_VERSION, hub: { fqdn: 'hub.example.test', ...hub }, connectors, listeners: [], acceptedDomains: [], sendConnectors });
  // what render writes, pod and standalone
  assert.doesNotThrow(() => parseRenderedConfig(withFiles({ usersFile: '/etc/relay/secrets/relay-users/users', tls: { certFile: '/etc/relay/secrets/hub-tls/tls.crt', keyFile: '/etc/relay/secrets/hub-tls/tls.key' } }), 'ok.json'));
  assert.doesNotThrow(() => parseRenderedConfig(withFiles({}, [], [{ id: 'ns/s', authFile: '/var/spool/relay/secrets/provider.example/password' }]), 'ok.json'));
  const bad = [
    '/etc/relay/secrets/../../../etc/passwd', // a name "../../../etc" joined as text
    '/etc/relay/secrets/x/../../../../root/.ssh/id', // a key "../../../../root/.ssh/id"
    '/etc/relay/secrets/UPPER/users', // not a DNS subdomain
    '/etc/relay/secrets/a/us\0ers', // NUL
    '/etc/relay/secrets/a//users',
    '/etc/relay/secrets/a/..users', // a key starting with '..'
    'users',
  ];
  for (const file of bad) {
    assert.throws(() => parseRenderedConfig(withFiles({ usersFile: file }), 'u.json'), /^.*u\.json: hub\.usersFile: .*\(rule secretFile\)$/, file);
    assert.throws(() => parseRenderedConfig(withFiles({ tls: { certFile: '/s/t/tls.crt', keyFile: file } }), 't.json'), /t\.json: hub\.tls\.keyFile: .*\(rule secretFile\)/, file);
    assert.throws(() => parseRenderedConfig(withFiles({}, [{ id: 'ns/c', tls: { files: null, requireTLS: false, clientCAFile: file } }]), 'c.json'), /c\.json: connectors\[0\]\.tls\.clientCAFile: .*\(rule secretFile\)/, file);
    assert.throws(() => parseRenderedConfig(withFiles({}, [], [{ id: 'ns/s', authFile: file }]), 's.json'), /s\.json: sendConnectors\[0\]\.authFile: .*\(rule secretFile\)/, file);
  }
});

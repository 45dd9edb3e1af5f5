/*
 * `relay-operator validate` on the open-relay guardrails of issue 17 item 3: each rule refuses
 * its manifest with file, object, field and rule, and the seed examples stay valid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { formatProblem } from '../manifests/load.ts';
import { checkCelRules } from './cel-rules.ts';
import { validateManifests } from './validate.ts';

const FIXTURES = 'test/api/fixtures';

function errors(paths: string[]): string[] {
  return validateManifests(paths).problems.filter((p) => p.severity === 'error').map((p) => formatProblem(p));
}

function manifestFile(objects: object[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'validate-')), 'manifests.yaml');
  writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
  return file;
}

const GROUP = 'relayoperator.io/v1alpha1';
const hub = { apiVersion: GROUP, kind: 'RelayHub', metadata: { name: 'hub', namespace: 'mail' }, spec: { fqdn: 'hub.example.test' } };
const connector = (name: string, spec: Record<string, unknown>) => ({ apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name, namespace: 'mail' }, spec: { hubs: ['hub'], bindings: ['0.0.0.0:25'], ...spec } });

test('the takeover as filed (protocolLogging None): refused, naming file, object, field and rule', () => {
  const file = `${FIXTURES}/invalid/open-relay-takeover-protocol-logging-none.yaml`;
  const lines = errors([file]);
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0] ?? '', /open-relay-takeover-protocol-logging-none\.yaml \(document 3\): ReceiveConnector fixtures\/takeover: spec: protocolLogging None .*\(rule relayNeedsProtocolLogging\)$/);
});

test('the takeover with logging on and allowOpenRelay: refused as narrowing the Internet connector to grant more', () => {
  const lines = errors([`${FIXTURES}/offline-only/open-relay-takeover.yaml`]);
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0] ?? '', /ReceiveConnector fixtures\/takeover: spec\.remoteIPRanges: hub hub-a: narrows ReceiveConnector fixtures\/internet .*allowNarrowerConnectors: true.*\(rule narrowerConnectorGrantsMore\)$/);
});

test('the takeover without allowOpenRelay: refused as an open relay, naming the first wide entry and the count', () => {
  const file = manifestFile([hub, connector('internet', { usage: 'Internet' }), connector('takeover', {
    usage: 'Custom', remoteIPRanges: ['0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1'], permissionGroups: ['TrustedServers'], authMechanisms: ['ExternalAuthoritative'],
  })]);
  const lines = errors([file]);
  assert.ok(lines.some((l) => /takeover: spec\.remoteIPRanges\[0\]: .*0\.0\.0\.0\/1 is wider than an IPv4 \/8 \(4 such entries\).*\(rule openRelayNeedsAllowOpenRelay\)/.test(l)), lines.join('\n'));
  // the open relay rule leaves it out of render already: one line, the entry named
  assert.equal(lines.length, 1, lines.join('\n'));
});

test('open relay, public suffix: refused per object even with no hub to render', () => {
  const file = manifestFile([
    connector('wide', { usage: 'Custom', remoteIPRanges: ['10.0.0.0/8', '0.0.0.0/0'], permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }] }),
    { apiVersion: GROUP, kind: 'AcceptedDomain', metadata: { name: 'uk', namespace: 'mail' }, spec: { domainName: '*.co.uk' } },
  ]);
  const lines = errors([file]).filter((l) => !l.includes('(rule unknownHub)'));
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.ok(lines.some((l) => /ReceiveConnector mail\/wide: spec\.remoteIPRanges\[1\]: .*\(rule openRelayNeedsAllowOpenRelay\)/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /AcceptedDomain mail\/uk: spec\.domainName: .*public suffix co\.uk.*\(rule domainPublicSuffix\)/.test(l)), lines.join('\n'));
});

test('CEL twins: relayNeedsProtocolLogging and domainTopLevel', () => {
  const rules = (kind: 'ReceiveConnector' | 'AcceptedDomain', spec: Record<string, unknown>): string[] => checkCelRules(kind, { spec }).map((p) => p.rule);
  assert.ok(rules('ReceiveConnector', { hubs: ['h'], bindings: ['0.0.0.0:25'], usage: 'Client', protocolLogging: 'None' }).includes('relayNeedsProtocolLogging'));
  assert.ok(rules('ReceiveConnector', { hubs: ['h'], bindings: ['0.0.0.0:25'], permissions: [{ principal: 'user:bob', allow: ['AcceptAnyRecipient'] }], protocolLogging: 'None' }).includes('relayNeedsProtocolLogging'));
  assert.ok(!rules('ReceiveConnector', { hubs: ['h'], bindings: ['0.0.0.0:25'], usage: 'Internet', protocolLogging: 'None' }).includes('relayNeedsProtocolLogging'));
  assert.deepEqual(rules('AcceptedDomain', { domainName: 'com' }), ['domainTopLevel']);
  assert.deepEqual(rules('AcceptedDomain', { domainName: '*.com' }), ['domainTopLevel']);
  assert.deepEqual(rules('AcceptedDomain', { domainName: '*.contoso.com' }), []);
});

test('the examples stay valid', () => {
  assert.deepEqual(errors(['examples']), []);
});

test('issue 17 item 12: Secret names and keys, and every secretName field, must be what Kubernetes accepts (no path)', () => {
  const secret = (name: string, stringData: Record<string, unknown>, data?: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'mail' }, stringData, ...(data ? { data } : {}) });
  const bad: Array<[object, RegExp]> = [
    [secret('../../out', { users: 'x' }), /Secret mail\/\.\.\/\.\.\/out: metadata\.name: .*DNS subdomain.*\(rule secretName\)$/],
    [secret('/etc', { users: 'x' }), /Secret mail\/\/etc: metadata\.name: .*\(rule secretName\)$/],
    [secret('a\0b', { users: 'x' }), /metadata\.name: .*\(rule secretName\)$/],
    [secret('ok', { '../../config.json': '{}' }), /Secret mail\/ok: stringData\[\.\.\/\.\.\/config\.json\]: .*\(rule secretKey\)$/],
    [secret('ok', { '/etc/passwd': 'x' }), /stringData\[\/etc\/passwd\]: .*\(rule secretKey\)$/],
    [secret('ok', { 'a\0b': 'x' }), /stringData\[a.b\]: .*\(rule secretKey\)$/],
    [secret('ok', {}, { '..': 'eA==' }), /Secret mail\/ok: data\[\.\.\]: .*\(rule secretKey\)$/],
    [secret('ok', {}, { '..data': 'eA==' }), /data\[\.\.data\]: .*start with '\.\.'.*\(rule secretKey\)$/],
    [secret('ok', {}, { users: 'not base64!' }), /data\[users\]: .*\(rule base64\)$/],
    [{ ...hub, spec: { fqdn: 'hub.example.test', tls: { secretName: '../tls' } } }, /RelayHub mail\/hub: spec\.tls\.secretName: .*\(rule secretName\)$/],
    [{ ...hub, spec: { fqdn: 'hub.example.test', users: { secretName: 'a/b' } } }, /RelayHub mail\/hub: spec\.users\.secretName: .*\(rule secretName\)$/],
    [connector('c', { tls: { secretName: '/abs' } }), /ReceiveConnector mail\/c: spec\.tls\.secretName: .*\(rule secretName\)$/],
    [connector('c', { tls: { clientCASecretName: '..' } }), /ReceiveConnector mail\/c: spec\.tls\.clientCASecretName: .*\(rule secretName\)$/],
    [{ apiVersion: GROUP, kind: 'SendConnector', metadata: { name: 's', namespace: 'mail' }, spec: { addressSpaces: [{ domain: '*', cost: 1 }], dropDirectory: '/tmp/x', authentication: { secretName: '../x' } } }, /SendConnector mail\/s: spec\.authentication\.secretName: .*\(rule secretName\)$/],
  ];
  for (const [object, expected] of bad) {
    const file = manifestFile([object]);
    const lines = errors([file]);
    assert.ok(lines.some((l) => l.startsWith(`${file}: `) && expected.test(l)), `${JSON.stringify(object)}:\n${lines.join('\n')}`);
  }
  // what Kubernetes accepts stays valid, and an empty secretName means "none"
  const file = manifestFile([
    { ...hub, spec: { fqdn: 'hub.example.test', tls: { secretName: 'hub.tls-1' }, users: { secretName: '' } } },
    secret('hub.tls-1', { 'tls.crt': 'x', 'tls.key': 'y', '.hidden': 'z', 'A_b-1.c': 'w' }),
  ]);
  assert.deepEqual(errors([file]), []);
});

test('IPv4-mapped IPv6 is refused in every remoteIPRanges form and in hub addresses, as CEL isIP/isCIDR refuse it', () => {
  const entries = ['::ffff:10.0.0.1', '0:0:0:0:0:ffff:a00:1', '::ffff:10.0.0.0/104', '::ffff:10.0.0.1-::ffff:10.0.0.9', '10.0.0.1'];
  const file = manifestFile([hub, connector('mapped', { usage: 'Custom', remoteIPRanges: entries, permissionGroups: ['AnonymousUsers'] })]);
  const lines = errors([file]).filter((l) => l.includes('mail/mapped: spec.remoteIPRanges['));
  // The first three fail CEL (isIP/isCIDR), the range its own parse (CEL lets a-b through); 10.0.0.1 is fine.
  assert.deepEqual(lines.map((l) => /remoteIPRanges\[(\d)\]/.exec(l)?.[1]), ['0', '1', '2', '3'], lines.join('\n'));
  assert.ok(lines.every((l) => l.endsWith('(rule remoteIPRangeSyntax)')), lines.join('\n'));
  assert.match(lines[3] ?? '', /IPv4-mapped IPv6 address, which is not allowed: write the IPv4 address 10\.0\.0\.1/);
  const hubRules = checkCelRules('RelayHub', { spec: { addresses: [{ ip: '::ffff:192.0.2.1' }, { ip: '192.0.2.2' }], proxyProtocol: { trustedProxies: ['::ffff:192.0.2.0/120', '192.0.2.0/24'] } } });
  assert.deepEqual(hubRules.map((p) => [p.field, p.rule]), [['spec.addresses[0].ip', 'addressIP'], ['spec.proxyProtocol.trustedProxies[0]', 'trustedProxy']]);
});

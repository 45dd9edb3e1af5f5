/*
 * Issue 12 item 5, the rails that warn: `relay-operator validate` prints each warning as the
 * line a user sees and still exits 0, `explain` shows them, and Exchange names close to ours
 * ("ExchangeServers", "ms-Exch-SMTP-Accept-Any-Recipient", "25MB") get "did you mean".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { runCli } from '../../test/support/cli.ts';
import { formatProblem } from '../manifests/load.ts';
import type { ReceiveConnector, RelayHub } from '../api/types.generated.ts';
import { connectorWarnings, rightsNeverUsed, tlsWithoutCertificate } from '../render/warnings.ts';
import { EXCHANGE_EXTENDED_RIGHTS, EXCHANGE_PERMISSION_GROUPS, exchangeQuantity } from './exchange-names.ts';
import { validateManifests } from './validate.ts';
import { GROUP_MAP, RIGHT_MAP } from '../import/exchange-permissions.ts';
import { readByteSize } from '../import/exchange-values.ts';

const GROUP = 'relayoperator.io/v1alpha1';
const hubObject = (tls?: string): RelayHub => ({ apiVersion: GROUP, kind: 'RelayHub', metadata: { name: 'hub', namespace: 'mail' }, spec: { fqdn: 'hub.example.test', ...(tls ? { tls: { secretName: tls } } : {}) } });
const connectorObject = (spec: Record<string, unknown>): ReceiveConnector => ({
  apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name: 'apps', namespace: 'mail' },
  spec: { hubs: ['hub'], usage: 'Custom', bindings: ['0.0.0.0:25'], remoteIPRanges: ['10.20.0.0/16'], ...spec },
});

function manifestFile(objects: object[]): { file: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'safety-warnings-'));
  const file = join(dir, 'manifests.yaml');
  writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The lines `validate` prints for this set (severity first, as on the terminal). */
function validateLines(objects: object[]): { lines: string[]; file: string } {
  const { file, remove } = manifestFile(objects);
  try {
    return { file, lines: validateManifests([file]).problems.map((p) => `${p.severity}: ${formatProblem(p)}`) };
  } finally {
    remove();
  }
}

const PARTNERS_MESSAGE = 'rights AcceptAnyRecipient allowed to Partners never apply: a session is Partners only with permission group Partners (and not TrustedServers) and authMechanisms MutualTLS, and this connector has permissionGroups AnonymousUsers and authMechanisms TLS; give the connector what makes a client Partners, or remove the entry';
const TLS_MESSAGE = 'authMechanisms TLS, BasicAuth asks for TLS, but neither spec.tls.secretName nor the tls.secretName of RelayHub hub names a certificate: STARTTLS is not offered there, so mail arrives in clear text; set spec.tls.secretName or the hub\'s tls.secretName';

test('rightsNeverUsed: rights for Partners on a connector no client can be a Partners session on', () => {
  const { lines, file } = validateLines([hubObject(), connectorObject({ permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Partners', allow: ['AcceptAnyRecipient'] }] })]);
  assert.deepEqual(lines, [`warning: ${file} (document 2): ReceiveConnector mail/apps: spec.permissions[0].principal: ${PARTNERS_MESSAGE} (rule rightsNeverUsed)`]);
});

test('rightsNeverUsed: every principal that cannot occur, and none that can', () => {
  const messages = (spec: Record<string, unknown>): string[] => rightsNeverUsed(connectorObject(spec)).map((w) => `${w.field}: ${w.message}`);
  assert.deepEqual(messages({ permissionGroups: ['TrustedServers'], authMechanisms: ['ExternalAuthoritative'], permissions: [{ principal: 'Anonymous', allow: ['BypassAntiSpam'] }, { principal: 'TrustedServers', deny: ['BypassAntiSpam'] }] }), [
    'spec.permissions[0].principal: rights BypassAntiSpam allowed to Anonymous never apply: authMechanisms ExternalAuthoritative makes every session a TrustedServers session, never Anonymous; give the connector what makes a client Anonymous, or remove the entry',
  ]);
  assert.deepEqual(messages({ permissionGroups: ['AnonymousUsers'], authMechanisms: ['TLS'], permissions: [{ principal: 'user:printer', allow: ['AcceptAnyRecipient'] }] }), [
    'spec.permissions[0].principal: rights AcceptAnyRecipient allowed to user:printer never apply: nobody can authenticate here (authMechanisms has no BasicAuth: TLS); give the connector what makes a client user:printer, or remove the entry',
  ]);
  assert.deepEqual(messages({ permissionGroups: ['Partners'], authMechanisms: ['TLS'], permissions: [{ principal: 'TrustedServers', allow: ['Submit'] }] }), [
    'spec.permissions[0].principal: rights Submit allowed to TrustedServers never apply: a session is TrustedServers only with permission group TrustedServers and authMechanisms MutualTLS (a verified client certificate) or ExternalAuthoritative, and this connector has permissionGroups Partners and authMechanisms TLS; give the connector what makes a client TrustedServers, or remove the entry',
  ]);
  // what can occur: Anonymous anywhere without ExternalAuthoritative, users with BasicAuth, Partners with its group and MutualTLS
  assert.deepEqual(messages({ permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }] }), []);
  assert.deepEqual(messages({ usage: 'Client', permissions: [{ principal: 'user:printer', allow: ['AcceptAnySender'] }, { principal: 'Authenticated', allow: ['BypassMessageSizeLimit'] }] }), []);
  assert.deepEqual(messages({ permissionGroups: ['Partners'], authMechanisms: ['TLS', 'MutualTLS'], permissions: [{ principal: 'Partners', allow: ['AcceptAnyRecipient'] }] }), []);
});

test('tlsWithoutCertificate: TLS asked for and no certificate on the hub', () => {
  const { lines, file } = validateLines([hubObject(), connectorObject({ permissionGroups: ['AuthenticatedUsers'], authMechanisms: ['TLS', 'BasicAuth'] })]);
  assert.deepEqual(lines, [`warning: ${file} (document 2): ReceiveConnector mail/apps: spec.authMechanisms: ${TLS_MESSAGE} (rule tlsWithoutCertificate)`]);
  const client = tlsWithoutCertificate(connectorObject({ usage: 'Client', remoteIPRanges: ['10.20.0.0/16'] }), [hubObject()]);
  assert.equal(client?.message, 'authMechanisms TLS, BasicAuth, BasicAuthRequireTLS (usage Client default) asks for TLS, but neither spec.tls.secretName nor the tls.secretName of RelayHub hub names a certificate: STARTTLS is not offered there, so mail arrives in clear text and BasicAuthRequireTLS lets nobody AUTH; set spec.tls.secretName or the hub\'s tls.secretName');
  // not warned: a certificate on the hub or the connector, the usage default TLS alone (TLS when there is one), requireTLS (a refusal of its own)
  assert.equal(tlsWithoutCertificate(connectorObject({ authMechanisms: ['TLS'] }), [hubObject('hub-tls')]), null);
  assert.equal(tlsWithoutCertificate(connectorObject({ authMechanisms: ['TLS'], tls: { secretName: 'apps-tls' } }), [hubObject()]), null);
  assert.equal(tlsWithoutCertificate(connectorObject({ permissionGroups: ['AnonymousUsers'] }), [hubObject()]), null);
  assert.equal(tlsWithoutCertificate(connectorObject({ authMechanisms: ['TLS'], tls: { requireTLS: true } }), [hubObject()]), null);
});

test('warnings leave validate at exit 0, one line each; explain shows them', async () => {
  const { file, remove } = manifestFile([hubObject(), connectorObject({ permissionGroups: ['AnonymousUsers'], authMechanisms: ['TLS'], permissions: [{ principal: 'Partners', allow: ['AcceptAnyRecipient'] }] })]);
  try {
    const validated = await runCli(['validate', file]);
    assert.equal(validated.status, 0, validated.stderr);
    assert.deepEqual(validated.stderr.trim().split('\n').map((l) => l.replace(/ \(rule .*\)$/, '').split(': ').slice(0, 4).join(': ')), [
      `warning: ${file} (document 2): ReceiveConnector mail/apps: spec.permissions[0].principal`,
      `warning: ${file} (document 2): ReceiveConnector mail/apps: spec.authMechanisms`,
    ]);
    assert.equal(validated.stdout, '2 object(s) valid\n');
    const explained = await runCli(['explain', '--manifests', file, '--hub', 'hub', '--client', '10.20.0.5', '--to', '0.0.0.0:25']);
    assert.equal(explained.status, 0, explained.stderr);
    assert.ok(explained.stdout.includes(`warning        spec.permissions[0].principal: ${PARTNERS_MESSAGE} (rule rightsNeverUsed)\n`), explained.stdout);
    assert.match(explained.stdout, /^warning {8}spec\.authMechanisms: authMechanisms TLS asks for TLS, .* \(rule tlsWithoutCertificate\)$/m);
  } finally {
    remove();
  }
});

test('no warning for a connector that means what it says', () => {
  assert.deepEqual(connectorWarnings(connectorObject({ permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }] }), [hubObject()]), []);
});

test('did you mean: Exchange names in the error line a user sees', () => {
  const { lines, file } = validateLines([hubObject(), connectorObject({
    permissionGroups: ['ExchangeServers'],
    permissions: [{ principal: 'TrustedServers', allow: ['ms-Exch-SMTP-Accept-Any-Recipient'] }],
    limits: { maxMessageSize: '25MB' },
  })]);
  const where = `${file} (document 2): ReceiveConnector mail/apps`;
  assert.deepEqual(lines.filter((l) => l.startsWith('error')), [
    `error: ${where}: spec.permissionGroups[0]: Unsupported value: "ExchangeServers": did you mean "TrustedServers"? supported values: "AnonymousUsers", "AuthenticatedUsers", "TrustedServers", "Partners" (rule enum)`,
    `error: ${where}: spec.permissions[0].allow[0]: Unsupported value: "ms-Exch-SMTP-Accept-Any-Recipient": did you mean "AcceptAnyRecipient"? supported values: "Submit", "AcceptAnyRecipient", "AcceptAnySender", "AcceptAuthoritativeDomainSender", "BypassAntiSpam", "BypassMessageSizeLimit", "AcceptRoutingHeaders", "AcceptOrganizationHeaders", "AcceptAuthenticationFlag" (rule enum)`,
    `error: ${where}: spec.limits.maxMessageSize: Invalid value: "25MB": did you mean "25Mi"? must be a size: a whole or decimal number of bytes with an optional unit Ki, Mi, Gi, Ti, k, K, M, G or T and no space (36Mi, 10M, 1024); Exchange's "25 MB" is 25Mi here (rule pattern)`,
  ]);
});

test('did you mean: no suggestion for a name that is no Exchange name', () => {
  const { lines } = validateLines([hubObject(), connectorObject({ permissionGroups: ['Everybody'] })]);
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0] ?? '', /did you mean/);
});

test('one table: the importer maps Exchange names and sizes with it', () => {
  assert.equal(GROUP_MAP, EXCHANGE_PERMISSION_GROUPS);
  assert.equal(RIGHT_MAP, EXCHANGE_EXTENDED_RIGHTS);
  assert.equal(exchangeQuantity('25 MB'), '25Mi');
  assert.equal(readByteSize('25MB'), 25 * 2 ** 20);
});

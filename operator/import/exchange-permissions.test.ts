/*
 * ACEs to permissions: group grants are not repeated, extra allows and every deny come across,
 * principals map to the contract's names, and what cannot map is reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapPermissions, principalFor, type AceRecord } from './exchange-permissions.ts';
import { readRemoteIPRanges } from './exchange-addresses.ts';
import { ImportReport } from './import-report.ts';

const ace = (account: string, rights: string[], deny = false): AceRecord => ({ account, rights, deny, inherited: false });

test('principals: well-known accounts, Exchange server groups, users, and what is not an SMTP identity', () => {
  assert.deepEqual(principalFor('NT AUTHORITY\\ANONYMOUS LOGON'), { principal: 'Anonymous' });
  assert.deepEqual(principalFor('nt authority\\authenticated users'), { principal: 'Authenticated' });
  assert.deepEqual(principalFor('MS Exchange\\Externally Secured Servers'), { principal: 'TrustedServers' });
  assert.deepEqual(principalFor('CONTOSO\\Exchange Servers'), { principal: 'TrustedServers' });
  assert.deepEqual(principalFor('MS Exchange\\Partner Servers'), { principal: 'Partners' });
  assert.deepEqual(principalFor('CONTOSO\\svc-scanner'), { principal: 'user:svc-scanner' });
  assert.ok('unmapped' in principalFor('NT AUTHORITY\\SYSTEM'));
  assert.ok('unmapped' in principalFor('CONTOSO\\Relay Apps'));
  assert.ok('unmapped' in principalFor('S-1-5-21-1-2-3-1013'));
});

test('allows already granted by a written group are dropped; extra allows and all denies are kept (deny wins)', () => {
  const report = new ImportReport();
  const permissions = mapPermissions([
    ace('NT AUTHORITY\\ANONYMOUS LOGON', ['ms-Exch-SMTP-Submit', 'ms-Exch-Accept-Headers-Routing']),
    ace('NT AUTHORITY\\ANONYMOUS LOGON', ['ms-Exch-SMTP-Accept-Any-Recipient']),
    ace('NT AUTHORITY\\ANONYMOUS LOGON', ['ms-Exch-SMTP-Accept-Any-Recipient'], true),
    ace('CONTOSO\\svc-scan', ['ms-Exch-Bypass-Anti-Spam', 'ms-Exch-SMTP-Accept-Exch50']),
    ace('NT AUTHORITY\\SYSTEM', []),
  ], ['AnonymousUsers'], report, 'ReceiveConnector EX1\\Relay');
  assert.deepEqual(permissions, [
    { principal: 'Anonymous', allow: ['AcceptAnyRecipient'], deny: ['AcceptAnyRecipient'] },
    { principal: 'user:svc-scan', allow: ['BypassAntiSpam'] },
  ]);
  const lines = report.lines().join('\n');
  assert.match(lines, /ACE allow CONTOSO\\svc-scan = ms-Exch-SMTP-Accept-Exch50: XEXCH50/);
  assert.match(lines, /1 ACE\(s\) without an SMTP extended right/);
});

test('remote IP ranges: strings and IPRange objects, zone ids dropped, duplicates once, bad entries reported', () => {
  const reading = readRemoteIPRanges([
    '192.168.1.10',
    { LowerBound: { IPAddressToString: '10.0.0.0' }, UpperBound: { IPAddressToString: '10.0.0.255' }, CIDRLength: 24, RangeFormat: 2 },
    { LowerBound: { IPAddressToString: '10.1.0.5' }, UpperBound: { IPAddressToString: '10.1.0.9' }, RangeFormat: 1 },
    { Expression: '2001:db8::/48' },
    'fe80::1%11',
    '192.168.1.10',
    '192.168.1.300',
  ]);
  assert.deepEqual(reading.entries, ['192.168.1.10', '10.0.0.0/24', '10.1.0.5-10.1.0.9', '2001:db8::/48', 'fe80::1']);
  assert.deepEqual(reading.rewritten.map((r) => r.from), ['fe80::1%11']);
  assert.deepEqual(reading.rejected.map((r) => r.value), ['192.168.1.300']);
});

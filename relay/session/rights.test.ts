import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RIGHTS } from '../config/schema.ts';
import type { Right } from '../config/schema.ts';
import { orderedRights, resolveSessionRights, sessionIdentityFor } from './rights.ts';
import { connector } from '../../test/support/session-fixtures.ts';

const sorted = (rights: Set<Right>): Right[] => orderedRights(rights);

test('AnonymousUsers grants its four rights to anonymous sessions only', () => {
  const c = connector({ permissionGroups: ['AnonymousUsers'] });
  const anon = resolveSessionRights(c, { kind: 'Anonymous' });
  assert.deepEqual(sorted(anon.rights), ['Submit', 'AcceptAnySender', 'AcceptAuthoritativeDomainSender', 'AcceptRoutingHeaders']);
  assert.deepEqual(anon.sources.get('Submit'), ['group AnonymousUsers']);
  const auth = resolveSessionRights(c, { kind: 'Authenticated', user: 'alice' });
  assert.equal(auth.rights.size, 0);
});

test('AuthenticatedUsers, Partners and TrustedServers grant per the api.md table', () => {
  const c = connector({ permissionGroups: ['AuthenticatedUsers', 'Partners', 'TrustedServers'] });
  assert.deepEqual(sorted(resolveSessionRights(c, { kind: 'Authenticated', user: 'a' }).rights), [
    'Submit',
    'AcceptAnyRecipient',
    'BypassAntiSpam',
    'AcceptRoutingHeaders',
  ]);
  assert.deepEqual(sorted(resolveSessionRights(c, { kind: 'Partners' }).rights), ['Submit', 'AcceptRoutingHeaders']);
  assert.deepEqual(sorted(resolveSessionRights(c, { kind: 'TrustedServers' }).rights), [...RIGHTS]);
  assert.equal(resolveSessionRights(c, { kind: 'Anonymous' }).rights.size, 0);
});

test('a Custom connector with no group grants nothing', () => {
  const r = resolveSessionRights(connector(), { kind: 'Anonymous' });
  assert.equal(r.rights.size, 0);
  assert.equal(r.sources.size, 0);
});

test('permission allow adds a right for the matching principal (anonymous relay, method a)', () => {
  const c = connector({
    permissionGroups: ['AnonymousUsers'],
    permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'], deny: [] }],
  });
  const r = resolveSessionRights(c, { kind: 'Anonymous' });
  assert.ok(r.rights.has('AcceptAnyRecipient'));
  assert.deepEqual(r.sources.get('AcceptAnyRecipient'), ['permission Anonymous allow']);
  assert.ok(!resolveSessionRights(c, { kind: 'Partners' }).rights.has('AcceptAnyRecipient'));
});

test('deny wins over group grants and allows, and is recorded', () => {
  const c = connector({
    permissionGroups: ['AnonymousUsers'],
    permissions: [
      { principal: 'Anonymous', allow: ['AcceptAnyRecipient'], deny: ['AcceptAuthoritativeDomainSender'] },
      { principal: 'Anonymous', allow: [], deny: ['AcceptAnyRecipient'] },
    ],
  });
  const r = resolveSessionRights(c, { kind: 'Anonymous' });
  assert.ok(!r.rights.has('AcceptAuthoritativeDomainSender'));
  assert.ok(!r.rights.has('AcceptAnyRecipient'));
  assert.deepEqual(r.sources.get('AcceptAuthoritativeDomainSender'), ['group AnonymousUsers', 'permission Anonymous deny']);
  assert.deepEqual(r.sources.get('AcceptAnyRecipient'), ['permission Anonymous allow', 'permission Anonymous deny']);
});

test('user:NAME entries match only that authenticated user', () => {
  const c = connector({
    permissionGroups: ['AuthenticatedUsers'],
    permissions: [
      { principal: 'user:bob', allow: [], deny: ['AcceptAnyRecipient'] },
      { principal: 'user:carol', allow: ['AcceptAnySender'], deny: [] },
    ],
  });
  const bob = resolveSessionRights(c, { kind: 'Authenticated', user: 'bob' });
  assert.ok(!bob.rights.has('AcceptAnyRecipient'));
  assert.deepEqual(bob.sources.get('AcceptAnyRecipient'), ['group AuthenticatedUsers', 'permission user:bob deny']);
  const carol = resolveSessionRights(c, { kind: 'Authenticated', user: 'carol' });
  assert.ok(carol.rights.has('AcceptAnyRecipient'));
  assert.ok(carol.rights.has('AcceptAnySender'));
  const bobby = resolveSessionRights(c, { kind: 'Authenticated', user: 'bobby' });
  assert.ok(bobby.rights.has('AcceptAnyRecipient'));
  assert.ok(!resolveSessionRights(c, { kind: 'Anonymous' }).rights.has('AcceptAnySender'));
});

test('principal kind entries apply to TrustedServers and Partners too', () => {
  const c = connector({
    permissionGroups: ['TrustedServers'],
    permissions: [{ principal: 'TrustedServers', allow: [], deny: ['BypassMessageSizeLimit'] }],
  });
  const r = resolveSessionRights(c, { kind: 'TrustedServers' });
  assert.equal(r.rights.size, RIGHTS.length - 1);
  assert.ok(!r.rights.has('BypassMessageSizeLimit'));
});

test('sessionIdentityFor: ExternalAuthoritative makes every session TrustedServers', () => {
  const c = connector({ permissionGroups: ['TrustedServers'], authMechanisms: ['TLS', 'ExternalAuthoritative'] });
  assert.deepEqual(sessionIdentityFor(c, { mutualTlsVerified: false }), { kind: 'TrustedServers' });
});

test('sessionIdentityFor: MutualTLS picks TrustedServers, then Partners, then falls through', () => {
  const both = connector({ permissionGroups: ['Partners', 'TrustedServers'], authMechanisms: ['TLS', 'MutualTLS'] });
  assert.deepEqual(sessionIdentityFor(both, { mutualTlsVerified: true }), { kind: 'TrustedServers' });
  const partners = connector({ permissionGroups: ['Partners'], authMechanisms: ['TLS', 'MutualTLS'] });
  assert.deepEqual(sessionIdentityFor(partners, { mutualTlsVerified: true }), { kind: 'Partners' });
  const anon = connector({ permissionGroups: ['AnonymousUsers'], authMechanisms: ['TLS', 'MutualTLS'] });
  assert.deepEqual(sessionIdentityFor(anon, { mutualTlsVerified: true }), { kind: 'Anonymous' });
  assert.deepEqual(sessionIdentityFor(partners, { mutualTlsVerified: false }), { kind: 'Anonymous' });
  // a certificate means nothing on a connector without MutualTLS
  const noMtls = connector({ permissionGroups: ['TrustedServers'], authMechanisms: ['TLS'] });
  assert.deepEqual(sessionIdentityFor(noMtls, { mutualTlsVerified: true }), { kind: 'Anonymous' });
});

test('sessionIdentityFor: AUTH makes an Authenticated session, else Anonymous', () => {
  const c = connector({ permissionGroups: ['AuthenticatedUsers'], authMechanisms: ['TLS', 'BasicAuth'] });
  assert.deepEqual(sessionIdentityFor(c, { authenticatedUser: 'alice', mutualTlsVerified: false }), {
    kind: 'Authenticated',
    user: 'alice',
  });
  assert.deepEqual(sessionIdentityFor(c, { mutualTlsVerified: false }), { kind: 'Anonymous' });
  const ext = connector({ permissionGroups: ['TrustedServers'], authMechanisms: ['ExternalAuthoritative'] });
  assert.deepEqual(sessionIdentityFor(ext, { authenticatedUser: 'x', mutualTlsVerified: false }), {
    kind: 'TrustedServers',
    user: 'x',
  });
});

test('orderedRights follows the schema order', () => {
  assert.deepEqual(orderedRights(new Set<Right>(['AcceptRoutingHeaders', 'Submit'])), ['Submit', 'AcceptRoutingHeaders']);
});

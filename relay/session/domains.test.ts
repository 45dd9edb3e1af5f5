import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AcceptedDomainConfig } from '../config/schema.ts';
import { matchAcceptedDomain, normalizeDomain, parseEnvelopeAddress, sameAddress } from './domains.ts';

test('normalizeDomain: case, trailing dot, IDN, and what is not a host name', () => {
  assert.equal(normalizeDomain('Contoso.COM'), 'contoso.com');
  assert.equal(normalizeDomain('contoso.com.'), 'contoso.com');
  assert.equal(normalizeDomain('München.de'), 'xn--mnchen-3ya.de');
  for (const bad of ['', '.', 'contoso.com..', '[192.0.2.1]', '127.0.0.1', 'a_b.example', '-a.example', 'a..b', 'ex ample.com', 'a.example\r\n', 'x'.repeat(64) + '.com']) {
    assert.equal(normalizeDomain(bad), null, JSON.stringify(bad));
  }
});

test('parseEnvelopeAddress flags routing tricks', () => {
  assert.deepEqual(parseEnvelopeAddress('User@Contoso.com'), { local: 'User', domain: 'contoso.com', routing: false });
  assert.equal(parseEnvelopeAddress('a%b@contoso.com').routing, true);
  assert.equal(parseEnvelopeAddress('b!a@contoso.com').routing, true);
  assert.equal(parseEnvelopeAddress('"a@b"@contoso.com').routing, true);
  assert.equal(parseEnvelopeAddress('@relay.example:a@contoso.com').routing, true);
  assert.equal(parseEnvelopeAddress('a\r\nb@contoso.com').routing, true);
  assert.deepEqual(parseEnvelopeAddress('postmaster'), { local: 'postmaster', domain: null, routing: false });
});

test('matchAcceptedDomain: exact beats wildcard, longest wildcard wins, no suffix games', () => {
  const domains: AcceptedDomainConfig[] = [
    { domain: '*.contoso.com', type: 'InternalRelay', default: false },
    { domain: '*.eu.contoso.com', type: 'ExternalRelay', default: false },
    { domain: 'sales.eu.contoso.com', type: 'Authoritative', default: false },
    { domain: 'bad domain', type: 'Authoritative', default: false },
  ];
  assert.equal(matchAcceptedDomain('contoso.com', domains)?.domain, '*.contoso.com');
  assert.equal(matchAcceptedDomain('a.contoso.com', domains)?.domain, '*.contoso.com');
  assert.equal(matchAcceptedDomain('x.eu.contoso.com', domains)?.domain, '*.eu.contoso.com');
  assert.equal(matchAcceptedDomain('sales.eu.contoso.com', domains)?.type, 'Authoritative');
  assert.equal(matchAcceptedDomain('evilcontoso.com', domains), undefined);
  assert.equal(matchAcceptedDomain('contoso.com.evil.example', domains), undefined);
  assert.equal(matchAcceptedDomain(null, domains), undefined);
});

test('sameAddress compares case-insensitively on canonical domains', () => {
  assert.ok(sameAddress('Alice@Contoso.com', 'alice@CONTOSO.COM.'));
  assert.ok(!sameAddress('alice@contoso.com', 'alice@contoso.org'));
  assert.ok(!sameAddress('alice', 'alice'));
});

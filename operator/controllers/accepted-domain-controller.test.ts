/*
 * The AcceptedDomain Ready decision, and that what it says about duplicates and defaults is
 * what a hub does: the rendered config, matched by the relay's own functions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AcceptedDomain, RelayHub } from '../api/types.generated.ts';
import { renderHub } from '../render/render.ts';
import { matchAcceptedDomain } from '../../relay/session/domains.ts';
import { postmasterAddress } from '../../relay/delivery/delivery-report.ts';
import { canonicalDomain, decideAcceptedDomainStatus } from './accepted-domain-controller.ts';

const NS = 'mail';

function hub(name: string): RelayHub {
  return { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name, namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z' }, spec: {} };
}

function domain(name: string, domainName: string, created: string, extra: Partial<AcceptedDomain['spec']> = {}): AcceptedDomain {
  return {
    apiVersion: 'relayoperator.io/v1alpha1', kind: 'AcceptedDomain',
    metadata: { name, namespace: NS, creationTimestamp: created, generation: 1 },
    spec: { domainName, ...extra },
  };
}

const decide = (d: AcceptedDomain, domains: AcceptedDomain[], hubs: RelayHub[] = [hub('east'), hub('west')]) =>
  decideAcceptedDomainStatus({ namespace: NS, domain: d, domains, hubs });

void test('a domain in a namespace with hubs is Rendered on every hub, named', () => {
  const d = domain('contoso', 'contoso.com', '2026-01-02T00:00:00Z');
  const verdict = decide(d, [d]);
  assert.equal(verdict.status, 'True');
  assert.equal(verdict.reason, 'Rendered');
  assert.match(verdict.message, /RelayHub east, west/);
});

void test('no RelayHub in the namespace: NoRelayHub', () => {
  const d = domain('contoso', 'contoso.com', '2026-01-02T00:00:00Z');
  const verdict = decide(d, [d], []);
  assert.deepEqual([verdict.status, verdict.reason], ['False', 'NoRelayHub']);
  assert.match(verdict.message, /no RelayHub in namespace mail/);
});

void test('the same domain twice (case and trailing dot aside): the later is DuplicateDomain naming the earlier, which stays True', () => {
  const older = domain('contoso-b', 'Contoso.COM', '2026-01-02T00:00:00Z');
  const newer = domain('contoso-a', 'contoso.com.', '2026-01-03T00:00:00Z');
  const loser = decide(newer, [newer, older]);
  assert.deepEqual([loser.status, loser.reason], ['False', 'DuplicateDomain']);
  assert.match(loser.message, /AcceptedDomain contoso-b \(created earlier\)/);
  const winner = decide(older, [newer, older]);
  assert.deepEqual([winner.status, winner.reason], ['True', 'Rendered']);
  assert.match(winner.message, /also declared by AcceptedDomain contoso-a/);
});

void test('same creation time: the first by name wins, and the message says so', () => {
  const a = domain('a', 'contoso.com', '2026-01-02T00:00:00Z');
  const b = domain('b', 'contoso.com', '2026-01-02T00:00:00Z');
  assert.equal(decide(a, [b, a]).status, 'True');
  const loser = decide(b, [b, a]);
  assert.equal(loser.reason, 'DuplicateDomain');
  assert.match(loser.message, /AcceptedDomain a \(created at the same time and first by name\)/);
});

void test('a wildcard and the plain domain are different entries, not duplicates', () => {
  const plain = domain('plain', 'contoso.com', '2026-01-02T00:00:00Z');
  const wild = domain('wild', '*.contoso.com', '2026-01-03T00:00:00Z');
  assert.equal(decide(wild, [plain, wild]).status, 'True');
  assert.equal(decide(plain, [plain, wild]).status, 'True');
});

void test('two defaults: the later is DuplicateDefault naming the default and its postmaster', () => {
  const first = domain('first', '*.Contoso.com', '2026-01-02T00:00:00Z', { default: true });
  const second = domain('second', 'fabrikam.com', '2026-01-03T00:00:00Z', { default: true });
  const verdict = decide(second, [second, first]);
  assert.deepEqual([verdict.status, verdict.reason], ['False', 'DuplicateDefault']);
  assert.match(verdict.message, /AcceptedDomain first \(created earlier\) is the default of namespace mail, so DSNs come from postmaster@contoso\.com/);
  assert.equal(decide(first, [second, first]).status, 'True');
});

void test('a domainName the relay cannot match: InvalidDomainName, and it takes part in no duplicate', () => {
  const numeric = domain('numeric', '10.0.0.1', '2026-01-02T00:00:00Z');
  const longLabel = domain('long', `${'a'.repeat(64)}.com`, '2026-01-02T00:00:00Z');
  for (const d of [numeric, longLabel]) {
    const verdict = decide(d, [numeric, longLabel]);
    assert.deepEqual([verdict.status, verdict.reason], ['False', 'InvalidDomainName'], d.metadata.name);
  }
  assert.equal(canonicalDomain('*.Contoso.COM.'), '*.contoso.com');
  assert.equal(canonicalDomain('10.0.0.1'), null);
});

void test('several problems: the first reason, every message', () => {
  const first = domain('first', 'contoso.com', '2026-01-02T00:00:00Z', { default: true });
  const second = domain('second', 'contoso.com', '2026-01-03T00:00:00Z', { default: true });
  const verdict = decide(second, [first, second], []);
  assert.equal(verdict.reason, 'DuplicateDomain');
  assert.match(verdict.message, /also declared by AcceptedDomain first.*; spec\.default is true.*; no RelayHub/);
});

void test('what the status says is what the hub does: the winner decides matching and the postmaster domain', () => {
  const older = domain('older', 'contoso.com', '2026-01-02T00:00:00Z', { domainType: 'ExternalRelay', default: true });
  const newer = domain('newer', 'CONTOSO.com', '2026-01-03T00:00:00Z', { domainType: 'Authoritative' });
  const otherDefault = domain('other', 'fabrikam.com', '2026-01-04T00:00:00Z', { default: true });
  const domains = [otherDefault, newer, older];
  const h = hub('east');
  const { config } = renderHub(h, { namespace: NS, hubs: [h], receiveConnectors: [], acceptedDomains: domains, sendConnectors: [], secrets: [] }, { secretFile: (s, k) => `/s/${s}/${k}` });
  assert.equal(matchAcceptedDomain('contoso.com', config.acceptedDomains)?.type, 'ExternalRelay', 'the older entry is the one the relay matches');
  assert.equal(postmasterAddress(config), 'postmaster@contoso.com', 'the older default is the default');
  assert.deepEqual(domains.map((d) => [d.metadata.name, decide(d, domains, [h]).reason]), [['other', 'DuplicateDefault'], ['newer', 'DuplicateDomain'], ['older', 'Rendered']]);
});

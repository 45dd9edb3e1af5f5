import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sendConnector } from '../../test/support/rendered-config.ts';
import { domainOf, matchRank, planRoutes, selectSendConnector } from './routing.ts';

const internet = sendConnector({ id: 'mail/internet', addressSpaces: [{ domain: '*', cost: 10 }] });
const cheap = sendConnector({ id: 'mail/cheap', addressSpaces: [{ domain: '*', cost: 5 }], smartHosts: ['127.0.0.1:2525'] });
const partner = sendConnector({ id: 'mail/partner', addressSpaces: [{ domain: '*.partner.test', cost: 50 }], smartHosts: ['127.0.0.2'] });
const exact = sendConnector({ id: 'mail/exact', addressSpaces: [{ domain: 'sales.partner.test', cost: 99 }], dropDirectory: '/tmp/drop' });

void test('matchRank: exact > longer wildcard > shorter wildcard > any', () => {
  assert.equal(matchRank('*', 'a.b.test'), 0);
  assert.equal(matchRank('*.test', 'a.b.test'), 2);
  assert.equal(matchRank('*.b.test', 'a.b.test'), 4);
  assert.equal(matchRank('*.b.test', 'b.test'), 4, 'the parent itself matches its wildcard');
  assert.equal(matchRank('a.b.test', 'a.b.test'), 7);
  assert.equal(matchRank('*.b.test', 'xb.test'), -1);
  assert.equal(matchRank('a.b.test', 'x.a.b.test'), -1);
});

void test('selection: most specific address space first, then lowest cost', () => {
  const all = [internet, cheap, partner, exact];
  assert.equal(selectSendConnector('example.com', all)?.connector.id, 'mail/cheap');
  assert.equal(selectSendConnector('example.com', all)?.reason, 'any');
  assert.equal(selectSendConnector('eu.partner.test', all)?.connector.id, 'mail/partner');
  assert.equal(selectSendConnector('partner.test', all)?.reason, 'wildcard');
  assert.equal(selectSendConnector('sales.partner.test', all)?.connector.id, 'mail/exact', 'exact wins despite a higher cost');
  assert.equal(selectSendConnector('x.test', [partner]), null);
  const tie = sendConnector({ id: 'mail/a-tie', addressSpaces: [{ domain: '*', cost: 5 }] });
  assert.equal(selectSendConnector('x.test', [cheap, tie])?.connector.id, 'mail/a-tie', 'equal cost: connector id order');
});

void test('domainOf: lowercase, IDNA, last @', () => {
  assert.equal(domainOf('User@Example.COM'), 'example.com');
  assert.equal(domainOf('"a@b"@münchen.de'), 'xn--mnchen-3ya.de');
  assert.equal(domainOf('postmaster'), '');
});

void test('planRoutes: one group per smart-host connector, one per domain for MX, unroutable apart', () => {
  const rcpts = ['a@one.test', 'b@two.test', 'c@one.test', 'd@x.partner.test', 'e@sales.partner.test', 'nodomain']
    .map((address, index) => ({ index, address }));
  const mxOnly = planRoutes(rcpts, [internet, partner, exact]);
  assert.deepEqual(mxOnly.groups.map((g) => [g.key, g.kind, g.recipients]), [
    ['mail/internet|one.test', 'mx', [0, 2]],
    ['mail/internet|two.test', 'mx', [1]],
    ['mail/partner', 'smartHost', [3]],
    ['mail/exact', 'drop', [4]],
  ]);
  assert.deepEqual(mxOnly.unroutable, [5]);
  const smart = planRoutes(rcpts.slice(0, 3), [cheap]);
  assert.deepEqual(smart.groups.map((g) => [g.key, g.recipients]), [['mail/cheap', [0, 1, 2]]]);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sendConnector } from '../../test/support/rendered-config.ts';
import { dnsResolverFor, MAX_ADDRESSES, parseSmartHost, resolveMxHosts, resolveSmartHosts, type DeliveryDnsResolver } from './next-hop.ts';
import { startTestDnsServer } from '../../test/support/dns-server.ts';

void test('parseSmartHost: name, port, brackets, IPv6', () => {
  assert.deepEqual(parseSmartHost('smtp.example:587', 25), { host: 'smtp.example', port: 587 });
  assert.deepEqual(parseSmartHost('smtp.example', 25), { host: 'smtp.example', port: 25 });
  assert.deepEqual(parseSmartHost('[::1]:2525', 25), { host: '::1', port: 2525 });
  assert.deepEqual(parseSmartHost('[127.0.0.9]', 26), { host: '127.0.0.9', port: 26 });
  assert.equal(parseSmartHost('a b', 25), null);
  assert.equal(parseSmartHost('host:99999', 25), null);
});

void test('MX against a real DNS server: preference order, shuffle among equals, A/AAAA per exchange', async (t) => {
  const server = await startTestDnsServer({
    'multi.test': { MX: [{ priority: 20, exchange: 'backup.multi.test' }, { priority: 10, exchange: 'mx1.multi.test' }, { priority: 10, exchange: 'mx2.multi.test' }] },
    'mx1.multi.test': { A: ['127.0.0.11'] },
    'mx2.multi.test': { A: ['127.0.0.12'], AAAA: ['::1'] },
    'backup.multi.test': { A: ['127.0.0.13'] },
    'plain.test': { A: ['127.0.0.14'] },
    'nullmx.test': { MX: [{ priority: 0, exchange: '.' }] },
    'broken.test': { servfail: true },
    'dangling.test': { MX: [{ priority: 10, exchange: 'gone.dangling.test' }] },
  });
  t.after(() => server.close());
  const resolver = dnsResolverFor([server.address], 1000);
  const first = await resolveMxHosts('multi.test', 2525, resolver, () => 0);
  assert.ok(first.ok);
  const order = first.hosts.map((h) => `${h.name}/${h.address}`);
  assert.equal(order.at(-1), 'backup.multi.test/127.0.0.13');
  assert.deepEqual(new Set(order.slice(0, 3)), new Set(['mx1.multi.test/127.0.0.11', 'mx2.multi.test/127.0.0.12', 'mx2.multi.test/::1']));
  let sequence = [0.5, 0.9, 0.1]; // one tie-breaker per record, in answer order (backup, mx1, mx2)
  const flipped = await resolveMxHosts('multi.test', 2525, resolver, () => sequence.shift() ?? 0.5);
  assert.ok(flipped.ok);
  assert.equal(flipped.hosts[0]?.name, 'mx2.multi.test', 'equal preference is randomised');
  sequence = [0.5, 0.1, 0.9];
  const again = await resolveMxHosts('multi.test', 2525, resolver, () => sequence.shift() ?? 0.5);
  assert.ok(again.ok);
  assert.equal(again.hosts[0]?.name, 'mx1.multi.test');
  assert.equal(again.hosts[0]?.port, 2525);
  assert.deepEqual(await resolveMxHosts('plain.test', 25, resolver), { ok: true, hosts: [{ name: 'plain.test', address: '127.0.0.14', port: 25 }] }, 'no MX: implicit MX');
  assert.deepEqual(await resolveMxHosts('nullmx.test', 25, resolver), { ok: false, result: 'failed', dsnStatus: '5.1.10', reason: 'nullMx', reply: 'nullmx.test does not accept mail (null MX)' });
  const nx = await resolveMxHosts('nowhere.test', 25, resolver);
  assert.equal(!nx.ok && `${nx.result} ${nx.dsnStatus} ${nx.reason}`, 'failed 5.1.2 domainNotFound');
  const fail = await resolveMxHosts('broken.test', 25, resolver);
  assert.equal(!fail.ok && `${fail.result} ${fail.dsnStatus}`, 'deferred 4.4.3');
  const dangling = await resolveMxHosts('dangling.test', 25, resolver);
  assert.equal(!dangling.ok && `${dangling.result} ${dangling.dsnStatus} ${dangling.reason}`, 'failed 5.4.4 noAddress');
  assert.ok(server.queries.includes('multi.test MX'));
});

void test('smart hosts: in order, names resolved, unresolvable skipped, none -> defer', async () => {
  const resolver: DeliveryDnsResolver = (name, rrtype) => {
    if (name === 'relay.test' && rrtype === 'A') return Promise.resolve(['127.0.0.5']);
    return Promise.reject(Object.assign(new Error('nodata'), { code: 'ENODATA' }));
  };
  const c = sendConnector({ id: 'mail/smart', smartHosts: ['127.0.0.3:2600', 'unknown.test', 'relay.test', '[::1]:2601'], port: 587 });
  assert.deepEqual(await resolveSmartHosts(c, resolver), {
    ok: true,
    hosts: [
      { name: '127.0.0.3', address: '127.0.0.3', port: 2600 },
      { name: 'relay.test', address: '127.0.0.5', port: 587 },
      { name: '::1', address: '::1', port: 2601 },
    ],
  });
  const none = await resolveSmartHosts(sendConnector({ id: 'mail/none', smartHosts: ['unknown.test'] }), resolver);
  assert.equal(!none.ok && `${none.result} ${none.reason}`, 'deferred smartHostUnresolved');
});

void test('MX loops (RFC 5321 5.1): the hub and every MX it does not beat are dropped; the best MX or the domain itself -> bounce 5.4.6', async () => {
  const records: Record<string, unknown> = {
    'backup.test MX': [{ priority: 10, exchange: 'primary.backup.test' }, { priority: 20, exchange: 'hub.backup.test' }, { priority: 30, exchange: 'tertiary.backup.test' }],
    'primary.backup.test A': ['127.0.0.21'],
    'hub.backup.test A': ['127.0.0.41'],
    'tertiary.backup.test A': ['127.0.0.23'],
    'best.test MX': [{ priority: 10, exchange: 'hub.best.test' }, { priority: 10, exchange: 'peer.best.test' }, { priority: 20, exchange: 'other.best.test' }],
    'hub.best.test A': ['127.0.0.41'],
    'peer.best.test A': ['127.0.0.22'],
    'other.best.test A': ['127.0.0.24'],
    'self.test A': ['127.0.0.41'],
    'orphan.test MX': [{ priority: 10, exchange: 'gone.orphan.test' }, { priority: 20, exchange: 'hub.orphan.test' }],
    'hub.orphan.test A': ['127.0.0.41'],
    'flaky.test MX': [{ priority: 10, exchange: 'broken.flaky.test' }, { priority: 20, exchange: 'hub.flaky.test' }],
    'hub.flaky.test A': ['127.0.0.41'],
  };
  const resolver: DeliveryDnsResolver = (name, rrtype) => {
    if (name === 'broken.flaky.test') return Promise.reject(Object.assign(new Error('servfail'), { code: 'ESERVFAIL' }));
    const answer = records[`${name} ${rrtype}`];
    return answer ? Promise.resolve(answer) : Promise.reject(Object.assign(new Error('nodata'), { code: 'ENODATA' }));
  };
  const isSelf = (address: string, port: number): boolean => address === '127.0.0.41' && port === 25;

  const backup = await resolveMxHosts('backup.test', 25, resolver, () => 0.5, isSelf);
  assert.deepEqual(backup, { ok: true, hosts: [{ name: 'primary.backup.test', address: '127.0.0.21', port: 25 }] }, 'a backup MX hands mail to the better MX only');

  // tie-breakers in answer order (hub, peer, other): the hub first, then the peer first
  for (const ties of [[0.1, 0.9, 0.5], [0.9, 0.1, 0.5]]) {
    const best = await resolveMxHosts('best.test', 25, resolver, () => ties.shift() ?? 0.5, isSelf);
    assert.deepEqual(best, { ok: false, result: 'failed', dsnStatus: '5.4.6', reason: 'mailLoop', reply: 'mail for best.test loops back to myself: this hub is its best MX host (preference 10)' }, 'an MX of the same preference as the hub goes too, before or after it');
  }
  const implicit = await resolveMxHosts('self.test', 25, resolver, () => 0.5, isSelf);
  assert.equal(!implicit.ok && `${implicit.result} ${implicit.dsnStatus} ${implicit.reply}`, 'failed 5.4.6 mail for self.test loops back to myself: this hub is the address of the domain');
  const literal = await resolveMxHosts('[127.0.0.41]', 25, resolver, () => 0.5, isSelf);
  assert.equal(!literal.ok && literal.dsnStatus, '5.4.6');

  const orphan = await resolveMxHosts('orphan.test', 25, resolver, () => 0.5, isSelf);
  assert.equal(!orphan.ok && `${orphan.result} ${orphan.dsnStatus} ${orphan.reason}`, 'deferred 4.4.4 noPrimaryRelay', 'a backup MX whose primary has no address holds the mail');
  const flaky = await resolveMxHosts('flaky.test', 25, resolver, () => 0.5, isSelf);
  assert.equal(!flaky.ok && `${flaky.result} ${flaky.dsnStatus}`, 'deferred 4.4.3', 'the primary\'s lookup failed: a temporary failure');

  const crowd: Record<string, unknown> = { 'crowd.test MX': Array.from({ length: 12 }, (_, i) => ({ priority: 10, exchange: `mx${i}.crowd.test` })) };
  for (let i = 0; i < 12; i += 1) crowd[`mx${i}.crowd.test A`] = [i === 11 ? '127.0.0.41' : `127.0.1.${i}`];
  const crowdResolver: DeliveryDnsResolver = (name, rrtype) => {
    const answer = crowd[`${name} ${rrtype}`];
    return answer ? Promise.resolve(answer) : Promise.reject(Object.assign(new Error('nodata'), { code: 'ENODATA' }));
  };
  const crowded = await resolveMxHosts('crowd.test', 25, crowdResolver, () => 0.5, isSelf);
  assert.equal(!crowded.ok && crowded.dsnStatus, '5.4.6', 'the hub past the address limit, at the best preference, is still a loop');
  const crowdedNoSelf = await resolveMxHosts('crowd.test', 25, crowdResolver, () => 0.5);
  assert.ok(crowdedNoSelf.ok && crowdedNoSelf.hosts.length === MAX_ADDRESSES);

  const otherPort = await resolveMxHosts('best.test', 2525, resolver, () => 0, isSelf);
  assert.ok(otherPort.ok && otherPort.hosts.length === 3, 'the same address on a port the hub does not listen on is another server');
  const noCheck = await resolveMxHosts('backup.test', 25, resolver, () => 0.5);
  assert.ok(noCheck.ok && noCheck.hosts.length === 3, 'without a self check every host stays');
});

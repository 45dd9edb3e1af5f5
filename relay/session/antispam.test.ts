import { test } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { dnsblQueryName, runAntiSpamChecks, startAntiSpamChecks } from './antispam.ts';
import type { AntiSpamInput, DnsResolver } from './antispam.ts';
import { DnsCache, systemDnsSource } from './dns-cache.ts';
import { startTestDnsServer } from '../../test/support/dns-server.ts';

const notFound = (name: string): Error => Object.assign(new Error(`queryA ENOTFOUND ${name}`), { code: 'ENOTFOUND' });

/** Offline DNS: a table of `TYPE name` -> answer; anything else is NXDOMAIN. */
function fakeResolver(table: Record<string, unknown>, log: string[] = []): DnsResolver {
  return (name, rrtype) => {
    const key = `${rrtype} ${name.toLowerCase()}`;
    log.push(key);
    return key in table ? Promise.resolve(table[key]) : Promise.reject(notFound(name));
  };
}

const DNS = fakeResolver({
  'TXT example.org': [['v=spf1 ip4:1.2.3.0/24 ip6:2a00:1450::/32 -all']],
  'TXT soft.example': [['v=spf1 ~all']],
  'TXT mail.example.org': [['v=spf1 a -all']],
  'A mail.example.org': ['1.2.3.4'],
  'A 4.3.2.1.zen.example': ['127.0.0.2', '127.0.0.10'],
  'A 5.3.2.1.zen.example': ['127.255.255.254'],
});

const base: AntiSpamInput = {
  clientAddress: '1.2.3.4',
  helo: 'mail.example.org',
  mailFrom: 'alice@example.org',
  hubFqdn: 'hub-east.mail.example.com',
  spf: true,
  dnsbl: [],
  resolver: DNS,
};

test('SPF pass from the sender domain TXT record', async () => {
  const r = await runAntiSpamChecks(base);
  assert.equal(r.spf, 'pass');
  assert.deepEqual(r.headers, [
    'X-Relay-Antispam: spf=pass smtp.mailfrom=alice@example.org client-ip=1.2.3.4 by=hub-east.mail.example.com\r\n',
  ]);
});

test('SPF fail, softfail, none', async () => {
  assert.equal((await runAntiSpamChecks({ ...base, clientAddress: '9.9.9.9' })).spf, 'fail');
  assert.equal((await runAntiSpamChecks({ ...base, mailFrom: 'x@soft.example' })).spf, 'softfail');
  assert.equal((await runAntiSpamChecks({ ...base, mailFrom: 'x@nospf.example' })).spf, 'none');
});

test('IPv6 and IPv4-mapped clients', async () => {
  assert.equal((await runAntiSpamChecks({ ...base, clientAddress: '2a00:1450::25' })).spf, 'pass');
  const mapped = await runAntiSpamChecks({ ...base, clientAddress: '::ffff:1.2.3.4' });
  assert.equal(mapped.spf, 'pass');
  assert.match(mapped.headers[0] ?? '', / client-ip=1\.2\.3\.4 /);
});

test('null sender checks the HELO identity', async () => {
  const r = await runAntiSpamChecks({ ...base, mailFrom: '' });
  assert.equal(r.spf, 'pass');
  assert.match(r.headers[0] ?? '', /^X-Relay-Antispam: spf=pass smtp\.helo=mail\.example\.org /);
});

test('spf: false runs no SPF and adds no SPF header', async () => {
  const log: string[] = [];
  const r = await runAntiSpamChecks({ ...base, spf: false, resolver: fakeResolver({}, log) });
  assert.equal(r.spf, null);
  assert.deepEqual(r.headers, []);
  assert.deepEqual(log, []);
});

test('DNSBL: listed, not listed, error range, one header per zone', async () => {
  const listed = await runAntiSpamChecks({ ...base, spf: false, dnsbl: ['zen.example', 'other.example'] });
  assert.deepEqual(listed.dnsbl, [
    { zone: 'zen.example', result: 'listed', codes: ['127.0.0.2', '127.0.0.10'] },
    { zone: 'other.example', result: 'notListed', codes: [] },
  ]);
  assert.deepEqual(listed.headers, [
    'X-Relay-Antispam: dnsbl=listed zone=zen.example codes=127.0.0.2,127.0.0.10 client-ip=1.2.3.4 by=hub-east.mail.example.com\r\n',
    'X-Relay-Antispam: dnsbl=notListed zone=other.example client-ip=1.2.3.4 by=hub-east.mail.example.com\r\n',
  ]);
  const refused = await runAntiSpamChecks({ ...base, clientAddress: '1.2.3.5', spf: false, dnsbl: ['zen.example'] });
  assert.equal(refused.dnsbl[0]?.result, 'temperror');
});

test('DNSBL query names; private and documentation addresses are not sent out', async () => {
  assert.equal(dnsblQueryName('1.2.3.4', 'zen.example.'), '4.3.2.1.zen.example');
  assert.equal(dnsblQueryName('::ffff:1.2.3.4', 'zen.example'), '4.3.2.1.zen.example');
  assert.equal(
    dnsblQueryName('2a00:1450::1', 'zen.example'),
    '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.5.4.1.0.0.a.2.zen.example',
  );
  for (const a of ['10.0.0.1', '127.0.0.1', '192.0.2.1', '::1', 'fd00::1', 'not-an-ip']) assert.equal(dnsblQueryName(a, 'z.example'), null);
  const log: string[] = [];
  const r = await runAntiSpamChecks({ ...base, clientAddress: '10.1.2.3', spf: false, dnsbl: ['zen.example'], resolver: fakeResolver({}, log) });
  assert.equal(r.dnsbl[0]?.result, 'skipped');
  assert.deepEqual(log, []);
});

test('a resolver that never answers yields temperror within the cap', async () => {
  const hang: DnsResolver = () => new Promise(() => undefined);
  const started = Date.now();
  const r = await runAntiSpamChecks({ ...base, dnsbl: ['zen.example'], resolver: hang, timeoutMs: 150 });
  const elapsed = Date.now() - started;
  assert.equal(r.spf, 'temperror');
  assert.equal(r.dnsbl[0]?.result, 'temperror');
  assert.ok(elapsed < 1000, `took ${elapsed} ms`);
  assert.match(r.headers[0] ?? '', /^X-Relay-Antispam: spf=temperror /);
});

test('a resolver that throws synchronously or fails with SERVFAIL yields temperror', async () => {
  const sync: DnsResolver = () => {
    throw new Error('boom');
  };
  const r = await runAntiSpamChecks({ ...base, dnsbl: ['zen.example'], resolver: sync });
  assert.equal(r.spf, 'temperror');
  assert.equal(r.dnsbl[0]?.result, 'temperror');
  const servfail: DnsResolver = () => Promise.reject(Object.assign(new Error('SERVFAIL'), { code: 'ESERVFAIL' }));
  assert.equal((await runAntiSpamChecks({ ...base, resolver: servfail })).spf, 'temperror');
});

test('hostile MAIL FROM and HELO cannot inject header lines', async () => {
  const r = await runAntiSpamChecks({ ...base, mailFrom: 'a@b.example\r\nX-Evil: 1', clientAddress: '9.9.9.9' });
  assert.equal(r.headers.length, 1);
  assert.equal((r.headers[0] ?? '').split('\r\n').length, 2);
  const h = await runAntiSpamChecks({ ...base, mailFrom: '', helo: 'x;(y)\nZ: 1' });
  assert.match(h.headers[0] ?? '', /smtp\.helo=x\?\?y\?\?Z:\?1 /);
});

/** A test DNS server as the system resolver of this process, and a fresh hub cache over it. */
async function dnsFixture(
  t: { after: (fn: () => Promise<void>) => void },
  options: { delayMs?: number; silent?: boolean },
): Promise<{ server: Awaited<ReturnType<typeof startTestDnsServer>>; cache: DnsCache }> {
  const server = await startTestDnsServer(
    {
      'example.org': { TXT: [['v=spf1 ip4:1.2.3.0/24 -all']], ttl: 300 },
      '4.3.2.1.zen.example': { A: ['127.0.0.2'], ttl: 300 },
    },
    0,
    options,
  );
  const saved = dns.getServers();
  dns.setServers([server.address]);
  const cache = new DnsCache(systemDnsSource());
  dns.setServers(saved);
  t.after(() => server.close());
  return { server, cache };
}

test('a slow resolver (1 s) against a 200 ms timeout: temperror after 200 ms, then the late answer serves the next message', async (t) => {
  const { server, cache } = await dnsFixture(t, { delayMs: 1000 });
  const started = performance.now();
  const r = await runAntiSpamChecks({ ...base, resolver: undefined, dnsCache: cache, dnsbl: ['zen.example'], timeoutMs: 200 });
  const elapsed = performance.now() - started;
  assert.deepEqual(r.headers, [
    'X-Relay-Antispam: spf=temperror smtp.mailfrom=alice@example.org client-ip=1.2.3.4 by=hub-east.mail.example.com\r\n',
    'X-Relay-Antispam: dnsbl=temperror zone=zen.example client-ip=1.2.3.4 by=hub-east.mail.example.com\r\n',
  ]);
  assert.ok(elapsed >= 195 && elapsed < 600, `held ${elapsed.toFixed(0)} ms`);
  // The queries sent for the first message were not abandoned: their answers fill the cache.
  await new Promise((r) => setTimeout(r, 1000));
  const again = performance.now();
  const second = await runAntiSpamChecks({ ...base, resolver: undefined, dnsCache: cache, dnsbl: ['zen.example'], timeoutMs: 200 });
  assert.ok(performance.now() - again < 50);
  assert.equal(second.spf, 'pass');
  assert.deepEqual(second.dnsbl, [{ zone: 'zen.example', result: 'listed', codes: ['127.0.0.2'] }]);
  assert.deepEqual([...server.queries].sort(), ['4.3.2.1.zen.example A', 'example.org TXT']);
});

test('a dead resolver: the first message waits the timeout once, the next ones not at all, no query repeated', async (t) => {
  const { server, cache } = await dnsFixture(t, { silent: true });
  const started = performance.now();
  const first = await runAntiSpamChecks({ ...base, resolver: undefined, dnsCache: cache, dnsbl: ['zen.example'], timeoutMs: 150 });
  const held = performance.now() - started;
  assert.equal(first.spf, 'temperror');
  assert.equal(first.dnsbl[0]?.result, 'temperror');
  assert.ok(held >= 145 && held < 600, `held ${held.toFixed(0)} ms`);
  await new Promise((r) => setTimeout(r, 20));
  const next = performance.now();
  for (let i = 0; i < 20; i++) {
    const r = await runAntiSpamChecks({ ...base, resolver: undefined, dnsCache: cache, dnsbl: ['zen.example'], timeoutMs: 150 });
    assert.equal(r.spf, 'temperror');
  }
  assert.ok(performance.now() - next < 100, 'cached failures answer at once');
  assert.deepEqual([...server.queries].sort(), ['4.3.2.1.zen.example A', 'example.org TXT']);
});

test('started at MAIL FROM, awaited at end of DATA: the wait is what is left of the timeout', async (t) => {
  const { cache } = await dnsFixture(t, { delayMs: 150 });
  const pending = startAntiSpamChecks({ ...base, resolver: undefined, dnsCache: cache, timeoutMs: 1000 });
  await new Promise((r) => setTimeout(r, 300)); // the DATA transfer
  const waited = performance.now();
  const r = await pending;
  assert.ok(performance.now() - waited < 20, 'the answer came in during the transfer');
  assert.equal(r.spf, 'pass');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { DnsCache, systemDnsSource, type DnsAnswer, type DnsSource } from './dns-cache.ts';
import { startTestDnsServer } from '../../test/support/dns-server.ts';

const notFound = (name: string): Error => Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });

/** A source over a table (`TYPE name` -> answer), counting the questions it was asked. */
function tableSource(table: Record<string, DnsAnswer | Error>): DnsSource & { asked: string[] } {
  const asked: string[] = [];
  const source = (name: string, rrtype: string): Promise<DnsAnswer> => {
    const key = `${rrtype} ${name}`;
    asked.push(key);
    const value = table[key];
    if (value === undefined) return Promise.reject(notFound(name));
    return value instanceof Error ? Promise.reject(value) : Promise.resolve(value);
  };
  return Object.assign(source, { asked });
}

/** A clock the test moves by hand. */
function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

const rejection = async (promise: Promise<unknown>): Promise<{ code: unknown; message: string }> => {
  try {
    await promise;
  } catch (error) {
    return { code: (error as { code?: unknown }).code, message: (error as Error).message };
  }
  throw new Error('expected a rejection');
};

test('a second question is a hit; case and a trailing dot do not make another key', async () => {
  const source = tableSource({ 'TXT example.org': { records: [['v=spf1 -all']], ttlSeconds: 300 } });
  const cache = new DnsCache(source);
  assert.deepEqual(await cache.resolve('example.org', 'TXT'), [['v=spf1 -all']]);
  assert.deepEqual(await cache.resolve('Example.ORG.', 'TXT'), [['v=spf1 -all']]);
  assert.deepEqual(source.asked, ['TXT example.org']);
  assert.deepEqual(cache.stats, { hits: 1, staleHits: 0, misses: 1, queries: 1, entries: 1 });
});

test('concurrent questions share one upstream query', async () => {
  let release: (a: DnsAnswer) => void = () => undefined;
  let asked = 0;
  const cache = new DnsCache(() => {
    asked++;
    return new Promise<DnsAnswer>((resolve) => (release = resolve));
  });
  const all = Promise.all(Array.from({ length: 50 }, () => cache.resolve('example.org', 'TXT')));
  await new Promise((r) => setImmediate(r));
  release({ records: [['v=spf1 ~all']], ttlSeconds: 60 });
  const answers = await all;
  assert.equal(asked, 1);
  assert.equal(answers.length, 50);
  assert.deepEqual(answers[49], [['v=spf1 ~all']]);
});

test('TTL: fresh until it expires, then served stale once while one refresh runs', async () => {
  const c = clock();
  const table: Record<string, DnsAnswer> = { 'A 2.0.0.127.zen.example': { records: ['127.0.0.2'], ttlSeconds: 10 } };
  const source = tableSource(table);
  const cache = new DnsCache(source, { now: c.now, staleSeconds: 30 });
  await cache.resolve('2.0.0.127.zen.example', 'A');
  c.advance(9_999);
  await cache.resolve('2.0.0.127.zen.example', 'A');
  assert.equal(source.asked.length, 1, 'within the TTL');
  table['A 2.0.0.127.zen.example'] = { records: ['127.0.0.4'], ttlSeconds: 10 };
  c.advance(2);
  // Expired: the old answer at once, and the refresh in the background.
  assert.deepEqual(await cache.resolve('2.0.0.127.zen.example', 'A'), ['127.0.0.2']);
  assert.equal(source.asked.length, 2);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(await cache.resolve('2.0.0.127.zen.example', 'A'), ['127.0.0.4']);
  assert.equal(source.asked.length, 2);
  // Past TTL and stale window: the question waits for the upstream again.
  c.advance(10_000 + 30_000);
  assert.deepEqual(await cache.resolve('2.0.0.127.zen.example', 'A'), ['127.0.0.4']);
  assert.equal(source.asked.length, 3);
  assert.deepEqual(cache.stats, { hits: 2, staleHits: 1, misses: 2, queries: 3, entries: 1 });
});

test('an answer without a TTL is kept the default TTL; TTLs are capped', async () => {
  const c = clock();
  const source = tableSource({ 'TXT a.example': { records: [['x']] }, 'TXT b.example': { records: [['y']], ttlSeconds: 86_400 } });
  const cache = new DnsCache(source, { now: c.now, defaultTtlSeconds: 60, maxTtlSeconds: 3600, staleSeconds: 0 });
  await cache.resolve('a.example', 'TXT');
  await cache.resolve('b.example', 'TXT');
  c.advance(59_999);
  await cache.resolve('a.example', 'TXT');
  c.advance(2);
  await cache.resolve('a.example', 'TXT');
  assert.deepEqual(source.asked, ['TXT a.example', 'TXT b.example', 'TXT a.example']);
  c.advance(3_600_000 - 60_001);
  await cache.resolve('b.example', 'TXT');
  assert.equal(source.asked.length, 4, 'a day-long TTL is cut to the one-hour cap');
});

test('negative answers are cached with their code; every caller gets its own Error', async () => {
  const c = clock();
  const source = tableSource({ 'TXT empty.example': Object.assign(new Error('queryTxt ENODATA empty.example'), { code: 'ENODATA' }) });
  const cache = new DnsCache(source, { now: c.now, negativeTtlSeconds: 60, staleSeconds: 0 });
  const first = await rejection(cache.resolve('nxdomain.example', 'TXT'));
  assert.deepEqual(first, { code: 'ENOTFOUND', message: 'queryTxt ENOTFOUND nxdomain.example' });
  const errors: unknown[] = [];
  for (let i = 0; i < 2; i++) await cache.resolve('nxdomain.example', 'TXT').catch((e: unknown) => errors.push(e));
  assert.notEqual(errors[0], errors[1]);
  assert.equal((await rejection(cache.resolve('empty.example', 'TXT'))).code, 'ENODATA');
  assert.equal((await rejection(cache.resolve('empty.example', 'TXT'))).code, 'ENODATA');
  assert.deepEqual(source.asked, ['TXT nxdomain.example', 'TXT empty.example']);
  c.advance(60_001);
  await rejection(cache.resolve('nxdomain.example', 'TXT'));
  assert.equal(source.asked.length, 3, 'asked again after the negative TTL');
});

test('failures and timeouts are cached for the failure TTL; a failed refresh keeps the stale answer', async () => {
  const c = clock();
  let hang = false;
  const table: Record<string, DnsAnswer | Error> = {
    'TXT broken.example': Object.assign(new Error('queryTxt ESERVFAIL broken.example'), { code: 'ESERVFAIL' }),
    'TXT ok.example': { records: [['v=spf1 -all']], ttlSeconds: 10 },
  };
  const table_ = tableSource(table);
  const source: DnsSource = (name, rrtype) => (hang ? new Promise<DnsAnswer>(() => undefined) : table_(name, rrtype));
  const cache = new DnsCache(source, { now: c.now, failureTtlSeconds: 30, staleSeconds: 600, upstreamTimeoutMs: 40 });
  assert.equal((await rejection(cache.resolve('broken.example', 'TXT'))).code, 'ESERVFAIL');
  assert.equal((await rejection(cache.resolve('broken.example', 'TXT'))).code, 'ESERVFAIL');
  assert.equal(cache.stats.queries, 1);

  hang = true;
  const started = Date.now();
  const timedOut = await rejection(cache.resolve('dead.example', 'TXT', 50));
  assert.equal(timedOut.code, 'ETIMEOUT');
  assert.ok(Date.now() - started < 1000);
  assert.equal((await rejection(cache.resolve('dead.example', 'TXT', 50))).code, 'ETIMEOUT', 'the timeout is cached');
  assert.equal(cache.stats.queries, 2);

  hang = false;
  await cache.resolve('ok.example', 'TXT');
  hang = true;
  c.advance(10_001);
  // Stale answer served, refresh times out (upstream 40 ms): the answer stays, and no new query for 30 s.
  assert.deepEqual(await cache.resolve('ok.example', 'TXT', 20), [['v=spf1 -all']]);
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(await cache.resolve('ok.example', 'TXT', 20), [['v=spf1 -all']]);
  assert.equal(cache.stats.queries, 4);
  c.advance(30_001);
  hang = false;
  table['TXT ok.example'] = { records: [['v=spf1 +all']], ttlSeconds: 10 };
  assert.deepEqual(await cache.resolve('ok.example', 'TXT'), [['v=spf1 -all']], 'stale once more while refreshing');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(await cache.resolve('ok.example', 'TXT'), [['v=spf1 +all']]);
  assert.equal(cache.stats.queries, 5);
});

test('a caller that gives up leaves the query in flight: its late answer replaces the failure', async () => {
  let release: (a: DnsAnswer) => void = () => undefined;
  let asked = 0;
  const cache = new DnsCache(() => {
    asked++;
    return new Promise<DnsAnswer>((resolve) => (release = resolve));
  });
  assert.equal((await rejection(cache.resolve('slow.example', 'TXT', 30))).code, 'ETIMEOUT');
  assert.equal((await rejection(cache.resolve('slow.example', 'TXT', 30))).code, 'ETIMEOUT', 'answered from the cache, no wait');
  release({ records: [['v=spf1 -all']], ttlSeconds: 300 });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(await cache.resolve('slow.example', 'TXT', 30), [['v=spf1 -all']]);
  assert.equal(asked, 1);
});

test('size bound: the least recently used entry goes first', async () => {
  const source = tableSource(Object.fromEntries(['a', 'b', 'c', 'd'].map((n) => [`TXT ${n}.example`, { records: [[n]], ttlSeconds: 300 }])));
  const cache = new DnsCache(source, { maxEntries: 3 });
  for (const n of ['a', 'b', 'c']) await cache.resolve(`${n}.example`, 'TXT');
  await cache.resolve('a.example', 'TXT'); // a is now the most recently used
  await cache.resolve('d.example', 'TXT'); // evicts b
  assert.equal(cache.stats.entries, 3);
  await cache.resolve('a.example', 'TXT');
  await cache.resolve('c.example', 'TXT');
  assert.equal(source.asked.length, 4);
  await cache.resolve('b.example', 'TXT');
  assert.deepEqual(source.asked, ['TXT a.example', 'TXT b.example', 'TXT c.example', 'TXT d.example', 'TXT b.example']);
  assert.equal(cache.stats.entries, 3);
});

test('a caller that edits its answer does not change the cached one', async () => {
  const cache = new DnsCache(tableSource({ 'MX example.org': { records: [{ priority: 20, exchange: 'b' }, { priority: 10, exchange: 'a' }] } }));
  const first = (await cache.resolve('example.org', 'MX')) as Array<{ priority: number }>;
  first.sort((x, y) => x.priority - y.priority);
  first.push({ priority: 0 });
  assert.deepEqual(await cache.resolve('example.org', 'MX'), [{ priority: 20, exchange: 'b' }, { priority: 10, exchange: 'a' }]);
});

test('system source against a test DNS server: A TTLs are honoured, TXT answers cached', async (t) => {
  const server = await startTestDnsServer({ 'short.example': { A: ['127.0.0.2'], ttl: 1 }, 'spf.example': { TXT: [['v=spf1 ', 'ip4:192.0.2.0/24 -all']], ttl: 3600 } });
  const saved = dns.getServers();
  dns.setServers([server.address]);
  t.after(async () => {
    dns.setServers(saved);
    await server.close();
  });
  const cache = new DnsCache(systemDnsSource(), { staleSeconds: 0 });
  assert.deepEqual(await cache.resolve('short.example', 'A'), ['127.0.0.2']);
  assert.deepEqual(await cache.resolve('spf.example', 'TXT'), [['v=spf1 ', 'ip4:192.0.2.0/24 -all']]);
  assert.deepEqual(await cache.resolve('short.example', 'A'), ['127.0.0.2']);
  assert.equal((await rejection(cache.resolve('missing.example', 'TXT'))).code, 'ENOTFOUND');
  await rejection(cache.resolve('missing.example', 'TXT'));
  assert.deepEqual(server.queries, ['short.example A', 'spf.example TXT', 'missing.example TXT']);
  await new Promise((r) => setTimeout(r, 1100));
  await cache.resolve('short.example', 'A');
  await cache.resolve('spf.example', 'TXT');
  assert.deepEqual(server.queries.slice(3), ['short.example A'], 'the 1 s A record expired; the TXT did not');
});

/*
 * DeliveryService routing: address spaces and cost into drop directories, and DNS MX
 * delivery through a local DNS server to smtp-server peers on 127.0.0.1 and 127.0.0.2:
 * one transaction per next hop, MX failover, null MX and NXDOMAIN bounces, and one refused
 * recipient bounced while the others of its transaction are delivered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../../test/controlplane/controlplane.ts';
import { renderedConfig, sendConnector } from '../../test/support/rendered-config.ts';
import { dnsResolverFor } from './next-hop.ts';
import { harness, testBodyText } from '../../test/support/delivery-harness.ts';
import { startTestDnsServer } from '../../test/support/dns-server.ts';
import { startCapturePeer, until } from '../../test/support/smtp-peers.ts';

void test('address space: exact > wildcard > "*", then lowest cost; one drop file per connector', async (t) => {
  const h = await harness(t);
  const dir = (name: string): string => path.join(h.dir, name);
  const config = renderedConfig([
    sendConnector({ id: 'mail/any-expensive', addressSpaces: [{ domain: '*', cost: 10 }], dropDirectory: dir('expensive') }),
    sendConnector({ id: 'mail/any-cheap', addressSpaces: [{ domain: '*', cost: 5 }], dropDirectory: dir('cheap') }),
    sendConnector({ id: 'mail/partner', addressSpaces: [{ domain: '*.partner.test', cost: 50 }], dropDirectory: dir('partner') }),
    sendConnector({ id: 'mail/vip', addressSpaces: [{ domain: 'vip.partner.test', cost: 99 }], dropDirectory: dir('vip') }),
  ]);
  const id = await h.commit({ to: ['a@x.test', 'b@eu.partner.test', 'c@vip.partner.test', 'd@y.test', 'e@partner.test'], body: testBodyText('route') });
  await h.start(config);
  await until(h.queueEmpty, 'delivery');
  const receivers = async (name: string): Promise<string[]> => {
    const files = await h.emlFiles(dir(name));
    if (files.length === 0) return [];
    assert.deepEqual(files, [`${id}.mail_${name === 'cheap' ? 'any-cheap' : name}.eml`]);
    const text = await fs.readFile(path.join(dir(name), files[0] as string), 'latin1');
    assert.match(text, /^X-Sender: <app@corp\.test>\r\n/);
    assert.match(text, /\r\n\r\nbody route\r\n$/);
    return [...text.matchAll(/^X-Receiver: <([^>]+)>\r$/gm)].map((m) => m[1] as string);
  };
  assert.deepEqual(await receivers('cheap'), ['a@x.test', 'd@y.test']);
  assert.deepEqual(await receivers('partner'), ['b@eu.partner.test', 'e@partner.test']);
  assert.deepEqual(await receivers('vip'), ['c@vip.partner.test']);
  assert.deepEqual(await receivers('expensive'), []);
  assert.deepEqual(h.tracking('SEND').map((e) => e['server-hostname']), ['drop', 'drop', 'drop']);
});

void test('MX delivery: per-hop transactions, failover to the next MX, null MX and NXDOMAIN bounce', async (t) => {
  const h = await harness(t);
  const port = await freePort();
  const one = await startCapturePeer({ host: '127.0.0.1', port, refuse: { 'no@a.test': '550 5.1.1 no such user' } });
  const two = await startCapturePeer({ host: '127.0.0.2', port });
  const dns = await startTestDnsServer({
    'a.test': { MX: [{ priority: 10, exchange: 'mx.a.test' }] },
    'mx.a.test': { A: ['127.0.0.1'] },
    'b.test': { MX: [{ priority: 10, exchange: 'mx.b.test' }] },
    'mx.b.test': { A: ['127.0.0.2'] },
    'c.test': { A: ['127.0.0.2'] },
    'd.test': { MX: [{ priority: 0, exchange: '.' }] },
    'f.test': { MX: [{ priority: 10, exchange: 'down.f.test' }, { priority: 20, exchange: 'mx.a.test' }] },
    'down.f.test': { A: ['127.0.0.3'] },
  });
  t.after(async () => {
    await Promise.all([one.stop(), two.stop(), dns.close()]);
  });
  const drop = path.join(h.dir, 'drop');
  const config = renderedConfig([
    sendConnector({ id: 'mail/internet', port, tls: { mode: 'Opportunistic', verify: false } }),
    sendConnector({ id: 'mail/dsn', addressSpaces: [{ domain: 'corp.test', cost: 1 }], dropDirectory: drop }),
  ]);
  const to = ['u1@a.test', 'u2@b.test', 'u3@A.test', 'u4@c.test', 'u5@d.test', 'u6@e.test', 'u7@f.test', 'no@a.test'];
  await h.commit({ to, body: testBodyText('mx') });
  await h.start(config, { resolver: dnsResolverFor([dns.address], 1000) });
  await until(async () => (await h.queueEmpty()) && (await h.emlFiles(drop)).length === 1, 'delivery and the DSN');
  const transactions = (peer: typeof one): string[] => peer.messages.map((m) => m.rcptTo.join(',')).sort();
  assert.deepEqual(transactions(one), ['u1@a.test,u3@A.test', 'u7@f.test'], 'a.test in one transaction (one refused), f.test after failover');
  assert.deepEqual(transactions(two), ['u2@b.test', 'u4@c.test'], 'b.test (MX) and c.test (implicit MX) are separate next hops');
  assert.ok(one.messages.every((m) => m.helo === 'hub.relay.test'));
  const dsn = await fs.readFile(path.join(drop, (await h.emlFiles(drop))[0] as string), 'latin1');
  const finals = [...dsn.matchAll(/Final-Recipient: rfc822; (\S+)\r\nAction: failed\r\nStatus: (\S+)\r\n/g)].map((m) => `${m[1]} ${m[2]}`).sort();
  assert.deepEqual(finals, ['no@a.test 5.1.1', 'u5@d.test 5.1.10', 'u6@e.test 5.1.2']);
  assert.match(dsn, /Diagnostic-Code: smtp; 550 5\.1\.1 no such user/);
  assert.ok(dns.queries.includes('f.test MX'));
  const metrics = await h.registry.metrics();
  assert.match(metrics, /relay_deliveries_total\{result="delivered",next_hop="mx",connector="mail\/internet"\} 5/);
  assert.match(metrics, /relay_deliveries_total\{result="failed",next_hop="mx",connector="mail\/internet"\} 3/);
});

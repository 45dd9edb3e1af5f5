/*
 * test/relay/policy-selection - which receive connector takes a connection (api.md "Connector
 * selection"), seen by real clients on loopback source addresses.
 *
 * Hub "main", all connectors AnonymousUsers + AcceptAnyRecipient, each with its own banner:
 *   127.0.0.32:syntax  single 127.0.3.7 | range 127.0.3.10-127.0.3.20 | cidr 127.0.4.4/30
 *   127.0.0.32:doc     Exchange's doc example, nested: default 127.0.0.0-127.0.255.255,
 *                      A 127.0.2.0/24, B 127.0.2.75
 *   [::1]:v6 / [::1]:v4only (when the machine has ::1) ::/0 + ::1, and an IPv4-only connector
 * Conflicts run on hubs of their own (a conflicting set at start, and one added by a reload).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import {
  freePort, fromClient, plainMessage, protocolLines, relayManifests, sendMessage, startRelay, stopRelay, waitForRefusal, type ConnectorManifest, type HubProcess, type LogLine,
} from './support-policy.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const IP = '127.0.0.32';
const CONFLICT_IP = '127.0.0.33';
const hasIPv6Loopback = Object.values(networkInterfaces()).some((list) => (list ?? []).some((a) => a.address === '::1'));

const relayRights = { permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }] };
const limits = { tarpitInterval: '0s' };

function connector(name: string, binding: string, ranges: string[], banner: string, createdAt?: string): ConnectorManifest {
  return { name, ...(createdAt ? { createdAt } : {}), spec: { usage: 'Custom', bindings: [binding], remoteIPRanges: ranges, banner, ...relayRights, limits } };
}

let hub: HubProcess | undefined;
const ports = { syntax: 0, doc: 0, v6: 0, v4only: 0 };

function relay(): HubProcess {
  assert.ok(hub, 'hub not started');
  return hub;
}

/** The banner a client at this address gets, after proving the session relays a message. */
async function bannerAndRelay(localAddress: string, port: number, host = IP): Promise<string> {
  const client = await SmtpClient.connect({ host, port, localAddress });
  const greeting = client.greeting;
  assert.equal(greeting.code, 220, `${localAddress}: ${greeting.line}`);
  assert.equal((await client.send('EHLO selection.client.example.test')).code, 250);
  const from = `probe-${localAddress.replace(/[.:]/g, '-')}@fabrikam.test`;
  const replies = await sendMessage(client, from, ['someone@tailspin.test'], plainMessage(from, 'someone@tailspin.test', `from ${localAddress}`));
  assert.match(replies.at(-1)?.line ?? '', /^250 2\.6\.0 .*Queued/, `${localAddress} could not relay: ${JSON.stringify(replies.map((r) => r.line))}`);
  await client.quit();
  return greeting.line;
}

/** A client this listener has no connector for: 554 5.7.1 instead of a greeting, then closed. */
async function refusedAtConnect(process: HubProcess, localAddress: string, port: number, host = IP): Promise<void> {
  const client = await SmtpClient.open({ host, port, localAddress });
  const reply = await client.reply();
  assert.equal(reply.code, 554, `${localAddress}: ${reply.line}`);
  assert.match(reply.line, /^554 5\.7\.1 /);
  await client.waitClosed();
  assert.equal(client.replies.length, 1, 'no greeting or anything else may follow');
  const logged = await waitForRefusal(process, 'noMatchingRange', localAddress);
  assert.equal(logged.data, reply.line);
}

before(async () => {
  ports.syntax = await freePort(IP);
  ports.doc = await freePort(IP);
  const syntax = `${IP}:${ports.syntax}`;
  const doc = `${IP}:${ports.doc}`;
  const connectors = [
    connector('single', syntax, ['127.0.3.7'], '220 single.selection.example.test single address'),
    connector('range', syntax, ['127.0.3.10-127.0.3.20'], '220 range.selection.example.test address range'),
    connector('cidr', syntax, ['127.0.4.4/30'], '220 cidr.selection.example.test CIDR block'),
    // listed in an order that is neither most- nor least-specific first
    connector('doc-b', doc, ['127.0.2.75'], '220 b.selection.example.test connector B'),
    connector('doc-default', doc, ['127.0.0.0-127.0.255.255'], '220 default.selection.example.test default connector'),
    connector('doc-a', doc, ['127.0.2.0/24'], '220 a.selection.example.test connector A'),
  ];
  if (hasIPv6Loopback) {
    ports.v6 = await freePort('::1');
    ports.v4only = await freePort('::1');
    // anonymous relay for every address is an open relay: said so with allowOpenRelay (issue 17)
    const openRelay = (c: ConnectorManifest): ConnectorManifest => ({ ...c, spec: { ...c.spec, allowOpenRelay: true } });
    connectors.push(
      openRelay(connector('v6-any', `[::1]:${ports.v6}`, ['::/0'], '220 v6any.selection.example.test any IPv6')),
      connector('v6-host', `[::1]:${ports.v6}`, ['::1'], '220 v6host.selection.example.test IPv6 loopback'),
      openRelay(connector('v4-only', `[::1]:${ports.v4only}`, ['0.0.0.0/0'], '220 v4only.selection.example.test')),
    );
  }
  hub = await startRelay({ connectors });
});

after(() => stopRelay(hub));

describe('range syntaxes', () => {
  test('a single address relays; its neighbours are refused with 554 5.7.1 at connect', async () => {
    assert.equal(await bannerAndRelay('127.0.3.7', ports.syntax), '220 single.selection.example.test single address');
    await refusedAtConnect(relay(), '127.0.3.6', ports.syntax);
    await refusedAtConnect(relay(), '127.0.3.8', ports.syntax);
  });

  test('a-b: both ends relay, one past each end is refused with 554 5.7.1', async () => {
    assert.equal(await bannerAndRelay('127.0.3.10', ports.syntax), '220 range.selection.example.test address range');
    assert.equal(await bannerAndRelay('127.0.3.20', ports.syntax), '220 range.selection.example.test address range');
    await refusedAtConnect(relay(), '127.0.3.9', ports.syntax);
    await refusedAtConnect(relay(), '127.0.3.21', ports.syntax);
  });

  test('CIDR: first and last address of a /30 relay, one past each end is refused', async () => {
    assert.equal(await bannerAndRelay('127.0.4.4', ports.syntax), '220 cidr.selection.example.test CIDR block');
    assert.equal(await bannerAndRelay('127.0.4.7', ports.syntax), '220 cidr.selection.example.test CIDR block');
    await refusedAtConnect(relay(), '127.0.4.3', ports.syntax);
    await refusedAtConnect(relay(), '127.0.4.8', ports.syntax);
  });

  test('the protocol log says which entry matched', async () => {
    const line = await relay().waitForLog((l) => l.log === 'protocol' && l.event === '+' && l['connector-id'] === 'relay-policy/range' && String(l['remote-endpoint']).startsWith('127.0.3.20:'));
    assert.equal(line.context, 'matched 127.0.3.10-127.0.3.20');
  });

  test('IPv6: ::1 gets the ::1 connector over ::/0, and IPv4 entries never match an IPv6 client', { skip: hasIPv6Loopback ? false : 'no ::1 on this machine' }, async () => {
    assert.equal(await bannerAndRelay('::1', ports.v6, '::1'), '220 v6host.selection.example.test IPv6 loopback');
    await refusedAtConnect(relay(), '::1', ports.v4only, '::1');
  });
});

describe('most specific match wins (Exchange doc example)', () => {
  test('the single address gets connector B', async () => {
    assert.equal(await bannerAndRelay('127.0.2.75', ports.doc), '220 b.selection.example.test connector B');
  });

  test('other addresses of the /24 (its neighbours and both ends) get connector A', async () => {
    for (const client of ['127.0.2.74', '127.0.2.76', '127.0.2.1', '127.0.2.254']) {
      assert.equal(await bannerAndRelay(client, ports.doc), '220 a.selection.example.test connector A', client);
    }
  });

  test('everything else in the wide range gets the default connector', async () => {
    for (const client of ['127.0.9.9', '127.0.255.254', '127.0.1.75']) {
      assert.equal(await bannerAndRelay(client, ports.doc), '220 default.selection.example.test default connector', client);
    }
  });

  test('outside every range: 554 5.7.1 and a protocol log line with reason noMatchingRange', async () => {
    await refusedAtConnect(relay(), '127.1.2.75', ports.doc);
    const refusal = protocolLines(relay()).find((l) => l.context === 'noMatchingRange' && fromClient(l, '127.1.2.75'));
    assert.ok(refusal);
    assert.equal(refusal.event, '*');
    assert.equal(refusal['local-endpoint'], `${IP}:${ports.doc}`);
  });
});

describe('conflicting connectors', () => {
  const keeper = (binding: string): ConnectorManifest => connector('zz-keeper', binding, ['127.0.5.0/24'], '220 keeper.selection.example.test', '2024-01-01T00:00:00Z');
  // Named to sort first, created later: the creation time must decide, not the name.
  const equal = (binding: string): ConnectorManifest => connector('aa-equal', binding, ['127.0.5.0-127.0.5.255'], '220 equal.selection.example.test', '2025-01-01T00:00:00Z');
  const overlap = (binding: string): ConnectorManifest => connector('ab-overlap', binding, ['127.0.5.128-127.0.6.127'], '220 overlap.selection.example.test', '2025-02-01T00:00:00Z');
  const conflictLine = (name: string) => (l: LogLine): boolean => l.log === 'app' && typeof l.message === 'string' && l.message.includes(`relay-policy/${name}`) && l.message.includes('conflicts with relay-policy/zz-keeper');

  test('at start: the later connector (equal range, or partial overlap) is not loaded, the earlier works, the hub warns',
    {},
    async (t) => {
      const port = await freePort(CONFLICT_IP);
      const binding = `${CONFLICT_IP}:${port}`;
      const conflicted = await startRelay({ connectors: [keeper(binding), equal(binding), overlap(binding)] });
      t.after(() => stopRelay(conflicted));
      const warning = await conflicted.waitForLog(conflictLine('aa-equal'));
      assert.equal(warning.level, 'warn');
      await conflicted.waitForLog(conflictLine('ab-overlap'));
      const client = await SmtpClient.connect({ host: CONFLICT_IP, port, localAddress: '127.0.5.200' });
      const greeting = client.greeting;
      assert.equal(greeting.line, '220 keeper.selection.example.test');
      await client.quit();
      // only the overlapping connector covered 127.0.6.9: not loaded, so nobody takes it
      await refusedAtConnect(conflicted, '127.0.6.9', port, CONFLICT_IP);
    });

  describe('added by a reload', () => {
    let reloaded: HubProcess | undefined;
    let port = 0;
    before(async () => {
      port = await freePort(CONFLICT_IP);
      reloaded = await startRelay({ connectors: [keeper(`${CONFLICT_IP}:${port}`)] });
    });
    after(() => stopRelay(reloaded));

    test('the earlier connector keeps working and the hub log names both connectors', async () => {
      assert.ok(reloaded);
      const binding = `${CONFLICT_IP}:${port}`;
      const changed = relayManifests({ connectors: [keeper(binding), equal(binding), connector('fresh', binding, ['127.0.7.0/24'], '220 fresh.selection.example.test')] });
      // The hub logs "hub started" before it watches the manifests, so a change written at
      // once can go unnoticed: write it again until the hub reacts.
      for (let attempt = 1; ; attempt++) {
        reloaded.writeManifests(changed);
        const seen = await reloaded.waitForLog(conflictLine('aa-equal'), 3000).then(() => true, () => false);
        if (seen) break;
        assert.ok(attempt < 4, 'the hub never reacted to the changed manifests');
      }
      const client = await SmtpClient.connect({ host: CONFLICT_IP, port, localAddress: '127.0.5.9' });
      const greeting = client.greeting;
      assert.equal(greeting.line, '220 keeper.selection.example.test');
      await client.quit();
    });

    test('the rest of the same change is applied (a new non-conflicting connector works)',
      {},
      async () => {
        assert.ok(reloaded);
        const client = await SmtpClient.connect({ host: CONFLICT_IP, port, localAddress: '127.0.7.9' });
        const greeting = client.greeting;
        assert.equal(greeting.line, '220 fresh.selection.example.test');
        await client.quit();
      });
  });
});

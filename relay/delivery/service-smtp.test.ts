/*
 * DeliveryService against Postfix's smtp-sink: smart-host failover, defer then deliver,
 * bounce with an RFC 3464 DSN, expiry. DSNs go back to the sender's domain, which routes to
 * a drop directory, so each report is read as the .eml file it was delivered as.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../test/controlplane/controlplane.ts';
import { renderedConfig, sendConnector, smartHostWithDsnDrop } from '../../test/support/rendered-config.ts';
import { harness, testBodyText } from '../../test/support/delivery-harness.ts';
import { hasSmtpSink, startCapturePeer, startSmtpSink, until } from '../../test/support/smtp-peers.ts';

const skip = hasSmtpSink() ? false : 'smtp-sink (postfix) is not installed';
const RETRY = { minBackoffMs: 60, maxBackoffMs: 200, maxAgeMs: 60_000 };
const config = (smartHosts: string[], dropDir: string, retry = RETRY) => smartHostWithDsnDrop(smartHosts, dropDir, retry);

async function dumpDir(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-sink-'));
  await fs.chmod(dir, 0o777); // smtp-sink writes as nobody
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function dumps(dir: string): Promise<string[]> {
  const names = (await fs.readdir(dir)).sort();
  return Promise.all(names.map((n) => fs.readFile(path.join(dir, n), 'latin1')));
}

void test('failover: a dead first smart host, the second one gets the message', { skip }, async (t) => {
  const h = await harness(t);
  const dump = await dumpDir(t);
  const [dead, port] = [await freePort(), await freePort()];
  const sink = await startSmtpSink(port, ['-d', `${dump}/m.`]);
  t.after(() => sink.stop());
  const id = await h.commit({ to: ['x@remote.test', 'y@remote.test'], body: testBodyText('failover') });
  await h.start(config([`127.0.0.1:${dead}`, `127.0.0.1:${port}`], path.join(h.dir, 'drop')));
  await until(h.queueEmpty, 'delivery');
  const [dumped] = await dumps(dump);
  assert.match(dumped ?? '', /X-Rcpt-Args: <x@remote\.test>\nX-Rcpt-Args: <y@remote\.test>/);
  assert.match(dumped ?? '', /X-Helo-Args: hub\.relay\.test/);
  assert.match(dumped ?? '', /body failover/);
  const [send] = h.tracking('SEND');
  assert.equal(send?.['internal-message-id'], id);
  assert.equal(send?.['network-message-id'], 'failover@corp.test');
  assert.equal(send?.['server-hostname'], `127.0.0.1:${port}`);
  assert.deepEqual(send?.['recipient-address'], ['x@remote.test', 'y@remote.test']);
  assert.equal(h.tracking('RECEIVE')[0]?.['connector-id'], 'mail/inbound');
  assert.equal(h.tracking('DEFER').length, 0);
  const metrics = await h.registry.metrics();
  assert.match(metrics, new RegExp(`relay_deliveries_total\\{result="delivered",next_hop="127.0.0.1:${port}",connector="mail/smart"\\} 2`));
  assert.match(metrics, /relay_delivery_latency_seconds_count 2/);
});

void test('defer, then deliver once the peer is back; the state survives in deferred/', { skip }, async (t) => {
  const h = await harness(t);
  const port = await freePort();
  const id = await h.commit({ to: ['later@remote.test'], body: testBodyText('later') });
  await h.start(config([`127.0.0.1:${port}`], path.join(h.dir, 'drop')));
  await until(async () => (await h.queue()).deferred.includes(id) && h.tracking('DEFER').length > 0, 'a deferral');
  const state = JSON.parse(await fs.readFile(path.join(h.dir, 'spool', 'delivery-state', `${id}.json`), 'utf8')) as { recipients: Array<{ status: string; dsnStatus: string }> };
  assert.deepEqual(state.recipients.map((r) => [r.status, r.dsnStatus]), [['pending', '4.4.1']]);
  const sink = await startSmtpSink(port);
  t.after(() => sink.stop());
  await until(h.queueEmpty, 'delivery after the peer came back');
  assert.equal(h.tracking('SEND')[0]?.['internal-message-id'], id);
  const stateFile = path.join(h.dir, 'spool', 'delivery-state', `${id}.json`);
  await until(() => fs.access(stateFile).then(() => false, () => true), 'the state removed after the message');
});

void test('5xx bounces with an RFC 3464 DSN from postmaster; NOTIFY=NEVER and null senders get none', { skip }, async (t) => {
  const h = await harness(t);
  const port = await freePort();
  const sink = await startSmtpSink(port, ['-f', 'RCPT', '-B', '550 5.1.1 No such user here']);
  t.after(() => sink.stop());
  const drop = path.join(h.dir, 'drop');
  const id = await h.commit({ to: ['gone@remote.test'], body: testBodyText('bounce'), envid: 'ENV-1' });
  await h.commit({ to: [{ address: 'quiet@remote.test', notify: ['NEVER'] }], body: testBodyText('quiet') });
  await h.commit({ from: '', to: ['bounce@remote.test'], body: testBodyText('null-sender') });
  await h.start(config([`127.0.0.1:${port}`], drop));
  await until(async () => (await h.queueEmpty()) && h.tracking('FAIL').length === 3 && (await h.emlFiles(drop)).length === 1, 'three failures, one DSN delivered');
  const files = await h.emlFiles(drop);
  const text = await fs.readFile(path.join(drop, files[0] as string), 'latin1');
  assert.match(text, /^X-Sender: <>\r\nX-Receiver: <app@corp\.test>\r\n/, 'null sender, to the original sender');
  assert.match(text, /^From: Mail Delivery System <postmaster@relay\.test>\r$/m, 'default accepted domain');
  assert.match(text, /^Subject: Undeliverable: test bounce\r$/m);
  assert.match(text, /^Content-Type: multipart\/report; report-type=delivery-status; boundary="([^"]+)"\r$/m);
  const boundary = /boundary="([^"]+)"/.exec(text)?.[1] ?? '';
  const parts = text.split(`--${boundary}`);
  assert.equal(parts.length, 5, 'preamble, three parts, closing');
  assert.match(parts[2] ?? '', /Content-Type: message\/delivery-status\r\n\r\nReporting-MTA: dns; hub\.relay\.test\r\n/);
  assert.match(parts[2] ?? '', new RegExp(`X-Relay-Queue-ID: ${id}\\r\\nOriginal-Envelope-Id: ENV-1\\r\\n`));
  assert.match(parts[2] ?? '', /\r\n\r\nFinal-Recipient: rfc822; gone@remote\.test\r\nAction: failed\r\nStatus: 5\.1\.1\r\nRemote-MTA: dns; 127\.0\.0\.1\r\nDiagnostic-Code: smtp; 550 5\.1\.1 No such user here\r\nLast-Attempt-Date: /);
  assert.match(parts[3] ?? '', /^\r\nContent-Type: message\/rfc822\r\n\r\nFrom: <app@corp\.test>[\s\S]*body bounce\r\n$/);
  assert.equal(parts[4], '--\r\n');
  const dsn = h.tracking('DSN');
  assert.equal(dsn.length, 1);
  assert.equal(dsn[0]?.reference, id);
  assert.match(await h.registry.metrics(), /relay_dsn_total\{action="failed"\} 1/);
});

void test('expiry: 4xx until maxAge, then a final attempt and a 4.4.7 DSN', { skip }, async (t) => {
  const h = await harness(t);
  const port = await freePort();
  const sink = await startSmtpSink(port, ['-r', 'RCPT', '-b', '450 4.2.1 Mailbox busy']);
  t.after(() => sink.stop());
  const drop = path.join(h.dir, 'drop');
  const id = await h.commit({ to: ['busy@remote.test'], body: testBodyText('expiry'), ret: 'HDRS' });
  await h.start(config([`127.0.0.1:${port}`], drop, { minBackoffMs: 80, maxBackoffMs: 160, maxAgeMs: 2000 }));
  await until(async () => (await h.queueEmpty()) && (await h.emlFiles(drop)).length === 1, 'expiry DSN delivered');
  assert.ok(h.tracking('DEFER').length >= 2, 'deferred more than once first');
  const fail = h.tracking('FAIL');
  assert.equal(fail.length, 1);
  assert.equal(fail[0]?.['source-context'], 'expired');
  const text = await fs.readFile(path.join(drop, (await h.emlFiles(drop))[0] as string), 'latin1');
  assert.match(text, new RegExp(`X-Relay-Queue-ID: ${id}`));
  assert.match(text, /Action: failed\r\nStatus: 4\.4\.7\r\n/);
  assert.match(text, /Diagnostic-Code: X-Relay; message expired in the queue; last error: 450 4\.2\.1 Mailbox busy/);
  assert.match(text, /Content-Type: text\/rfc822-headers\r\n\r\nFrom: <app@corp\.test>/, 'RET=HDRS');
  assert.doesNotMatch(text, /body expiry/);
});

void test('NOTIFY=SUCCESS: passed on to a DSN-capable peer; a "relayed" DSN when the peer lacks DSN', { skip }, async (t) => {
  const h = await harness(t);
  const dump = await dumpDir(t);
  const port = await freePort();
  const sink = await startSmtpSink(port, ['-d', `${dump}/m.`]);
  const plain = await startCapturePeer(); // smtp-server: DSN not announced
  t.after(async () => {
    await sink.stop();
    await plain.stop();
  });
  const drop = path.join(h.dir, 'drop');
  await h.commit({ to: [{ address: 'a@dsn.test', notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;A+2Bx@dsn.test' }, 'b@dsn.test'], body: testBodyText('passon'), envid: 'E1', ret: 'HDRS' });
  const id = await h.commit({ to: [{ address: 'c@nodsn.test', notify: ['SUCCESS'] }], body: testBodyText('relayed') });
  await h.start(renderedConfig([
    sendConnector({ id: 'mail/dsn-peer', addressSpaces: [{ domain: 'dsn.test', cost: 1 }], smartHosts: [`127.0.0.1:${port}`], tls: { mode: 'None', verify: false } }),
    sendConnector({ id: 'mail/plain-peer', addressSpaces: [{ domain: 'nodsn.test', cost: 1 }], smartHosts: [`127.0.0.1:${plain.port}`], tls: { mode: 'None', verify: false } }),
    sendConnector({ id: 'mail/dsn-drop', addressSpaces: [{ domain: 'corp.test', cost: 1 }], dropDirectory: drop }),
  ], RETRY));
  await until(async () => (await h.queueEmpty()) && (await h.emlFiles(drop)).length === 1, 'delivery and one relayed DSN');
  const dumped = (await dumps(dump)).join('\n');
  assert.match(dumped, /X-Mail-Args: <app@corp\.test> .*RET=HDRS/);
  assert.match(dumped, /X-Mail-Args: <app@corp\.test> .*ENVID=E1/);
  assert.match(dumped, /X-Rcpt-Args: <a@dsn\.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;A\+2Bx@dsn\.test/);
  assert.match(dumped, /X-Rcpt-Args: <b@dsn\.test>\n/, 'separate transaction without DSN parameters');
  const dsn = await fs.readFile(path.join(drop, (await h.emlFiles(drop))[0] as string), 'latin1');
  assert.match(dsn, new RegExp(`X-Relay-Queue-ID: ${id}`));
  assert.match(dsn, /^Subject: Relayed: test relayed\r$/m);
  assert.match(dsn, /Final-Recipient: rfc822; c@nodsn\.test\r\nAction: relayed\r\nStatus: 2\.0\.0\r\n/);
});

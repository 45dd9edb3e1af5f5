/*
 * DeliveryService life: stop(graceMs) abandons a delivery stuck at a slow peer and leaves
 * the message in active/; the next start puts it back and delivers it. updateConfig routes
 * mail that had no route. A message over the connector's maxMessageSize bounces (5.3.4).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../../test/controlplane/controlplane.ts';
import { renderedConfig, sendConnector } from '../../test/support/rendered-config.ts';
import { harness, testBodyText } from '../../test/support/delivery-harness.ts';
import { hasSmtpSink, startCapturePeer, startSmtpSink, until } from '../../test/support/smtp-peers.ts';

const skip = hasSmtpSink() ? false : 'smtp-sink (postfix) is not installed';

void test('stop abandons an in-flight delivery safely; the next start resumes it', { skip }, async (t) => {
  const h = await harness(t);
  const port = await freePort();
  const slow = await startSmtpSink(port, ['-w', '30']); // 30 s before answering DATA
  t.after(() => slow.stop());
  const id = await h.commit({ to: ['a@remote.test'], body: testBodyText('abandon') });
  const first = await h.start(renderedConfig([sendConnector({ id: 'mail/smart', smartHosts: [`127.0.0.1:${port}`], tls: { mode: 'None', verify: false } })]));
  await until(async () => first.activeIds.includes(id) && (await h.queue()).active.includes(id), 'delivery in flight');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = Date.now();
  await first.stop(150);
  assert.ok(Date.now() - started < 3000, `stop took ${Date.now() - started} ms`);
  assert.deepEqual((await h.queue()).active, [id], 'left in active/ on disk');
  assert.equal(h.tracking('SEND').length + h.tracking('DEFER').length, 0, 'no outcome recorded');
  assert.ok(h.lines.some((l) => l.message === 'queue abandoned'));
  const peer = await startCapturePeer();
  t.after(() => peer.stop());
  const second = await h.start(renderedConfig([sendConnector({ id: 'mail/smart', smartHosts: [`127.0.0.1:${peer.port}`], tls: { mode: 'None', verify: false } })]));
  await until(h.queueEmpty, 'delivery after restart');
  assert.equal(peer.messages.length, 1);
  assert.ok(h.lines.some((l) => l.message === 'queue queueRecovered' && (l.report as { activeToIncoming: number }).activeToIncoming === 1));
  await second.stop(1000);
});

void test('hot reload: an unroutable recipient waits (4.4.0) until a config routes it', async (t) => {
  const h = await harness(t);
  const drop = path.join(h.dir, 'drop');
  const id = await h.commit({ to: ['a@later.test'], body: testBodyText('reload') });
  const service = await h.start(renderedConfig([sendConnector({ id: 'mail/only-partner', addressSpaces: [{ domain: 'partner.test', cost: 1 }], dropDirectory: drop })]));
  await until(() => h.tracking('DEFER').length > 0, 'deferral');
  assert.match(h.tracking('DEFER')[0]?.['recipient-status'][0] ?? '', /no send connector serves .*later\.test/);
  service.updateConfig(renderedConfig([sendConnector({ id: 'mail/later', addressSpaces: [{ domain: 'later.test', cost: 1 }], dropDirectory: drop })]));
  await until(h.queueEmpty, 'delivery after reload');
  assert.deepEqual(await h.emlFiles(drop), [`${id}.mail_later.eml`]);
});

void test('over the send connector maxMessageSize: bounce 5.3.4 with a DSN to the sender', async (t) => {
  const h = await harness(t);
  const drop = path.join(h.dir, 'drop');
  await h.commit({ to: ['big@remote.test'], body: testBodyText('big', 'x'.repeat(500)) });
  await h.start(renderedConfig([
    sendConnector({ id: 'mail/small', maxMessageSize: 300, dropDirectory: path.join(h.dir, 'never') }),
    sendConnector({ id: 'mail/dsn', addressSpaces: [{ domain: 'corp.test', cost: 1 }], dropDirectory: drop }),
  ]));
  await until(async () => (await h.queueEmpty()) && (await h.emlFiles(drop)).length === 1, 'bounce');
  const dsn = await fs.readFile(path.join(drop, (await h.emlFiles(drop))[0] as string), 'latin1');
  assert.match(dsn, /Final-Recipient: rfc822; big@remote\.test\r\nAction: failed\r\nStatus: 5\.3\.4\r\n/);
  assert.deepEqual(await h.emlFiles(path.join(h.dir, 'never')), []);
  assert.deepEqual(h.tracking('RECEIVE').map((e) => e.source).sort(), ['DSN', 'SMTP']);
});

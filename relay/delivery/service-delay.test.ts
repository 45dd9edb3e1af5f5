/*
 * Delay notices end to end: a next hop (Postfix's smtp-sink) that answers every RCPT with
 * 450, a hub with a 200 ms delayNotification, short backoff and a 2 s maxAge. The sender's
 * domain routes to a drop directory, so each DSN is read as the .eml file it was delivered as:
 * exactly one "delayed" report over many deferrals (only for the recipient whose NOTIFY
 * allows it), then, at expiry, the failure report for both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TrackingEvent } from '../log/tracking-log.ts';
import { smartHostWithDsnDrop } from '../../test/support/rendered-config.ts';
import { harness, testBodyText } from '../../test/support/delivery-harness.ts';
import { hasSmtpSink, smtpSinkFor, until } from '../../test/support/smtp-peers.ts';

const skip = hasSmtpSink() ? false : 'smtp-sink (postfix) is not installed';
const RETRY = { minBackoffMs: 50, maxBackoffMs: 100, maxAgeMs: 2000, delayNotificationMs: 200 };

/** When a tracking line was written (the sink adds `date-time` to every TrackingEvent). */
const dateTime = (event: TrackingEvent | undefined): number => Date.parse(String((event as { 'date-time'?: unknown } | undefined)?.['date-time']));

void test('4xx for longer than delayNotification: one delay DSN, then the failure DSN at expiry', { skip }, async (t) => {
  const h = await harness(t);
  const busy = await smtpSinkFor(t, ['-r', 'RCPT', '-b', '450 4.2.1 Mailbox busy']);
  const drop = path.join(h.dir, 'drop');
  const receivedAt = Date.now();
  const id = await h.commit({ to: ['busy@remote.test', { address: 'quiet@remote.test', notify: ['FAILURE'] }], body: testBodyText('delay'), ret: 'FULL', receivedAt: new Date(receivedAt).toISOString() });
  await h.start(smartHostWithDsnDrop([`127.0.0.1:${busy.port}`], drop, RETRY));
  await until(async () => (await h.queueEmpty()) && (await h.emlFiles(drop)).length === 2, 'the delay DSN and the expiry DSN delivered');

  const texts = await Promise.all((await h.emlFiles(drop)).map((f) => fs.readFile(path.join(drop, f), 'latin1')));
  const delayed = texts.filter((x) => /^Action: delayed\r$/m.test(x));
  const failed = texts.filter((x) => /^Action: failed\r$/m.test(x));
  assert.equal(delayed.length, 1, 'exactly one delay notice');
  assert.equal(failed.length, 1, 'and the failure report');

  const notice = delayed[0] ?? '';
  assert.match(notice, /^X-Sender: <>\r\nX-Receiver: <app@corp\.test>\r\n/, 'null sender, to the original sender');
  assert.match(notice, /^Subject: Delivery delayed: test delay\r$/m);
  assert.match(notice, new RegExp(`X-Relay-Queue-ID: ${id}\\r\\n`));
  assert.deepEqual([...notice.matchAll(/Final-Recipient: rfc822; (\S+)/g)].map((m) => m[1]), ['busy@remote.test'], 'NOTIFY=FAILURE: no delay notice');
  assert.match(notice, /Action: delayed\r\nStatus: 4\.2\.1\r\nRemote-MTA: dns; 127\.0\.0\.1\r\nDiagnostic-Code: smtp; 450 4\.2\.1 Mailbox busy\r\nLast-Attempt-Date: .+\r\nWill-Retry-Until: (.+)\r\n/);
  const willRetryUntil = Date.parse(/Will-Retry-Until: (.+)\r\n/.exec(notice)?.[1] ?? '');
  assert.equal(willRetryUntil, Math.floor((receivedAt + RETRY.maxAgeMs) / 1000) * 1000, 'Will-Retry-Until is receivedAt + maxAge (to the second)');
  assert.match(notice, /Content-Type: text\/rfc822-headers\r\n\r\nFrom: <app@corp\.test>/, 'headers only, even with RET=FULL');
  assert.doesNotMatch(notice, /body delay/);

  const report = failed[0] ?? '';
  assert.deepEqual([...report.matchAll(/Final-Recipient: rfc822; (\S+)\r\nAction: failed\r\nStatus: (\S+)/g)].map((m) => `${m[1]} ${m[2]}`), ['busy@remote.test 4.4.7', 'quiet@remote.test 4.4.7']);
  assert.match(report, /^Subject: Undeliverable: test delay\r$/m);
  assert.match(report, /Content-Type: message\/rfc822\r\n\r\nFrom: <app@corp\.test>[\s\S]*body delay/, 'RET=FULL for the failure');

  const dsnLines = h.tracking('DSN').filter((e) => e.reference === id);
  assert.deepEqual(dsnLines.map((e) => e['recipient-status'].map((s) => s.split(' ')[0])), [['delayed'], ['failed', 'failed']], 'delay first, then the failure');
  const noticeAt = dateTime(dsnLines[0]);
  assert.ok(noticeAt - receivedAt >= RETRY.delayNotificationMs, `not before delayNotification: ${noticeAt - receivedAt} ms`);
  const defersAfter = h.tracking('DEFER').filter((e) => e['internal-message-id'] === id && dateTime(e) > noticeAt);
  assert.ok(defersAfter.length >= 2, `deferred again after the notice (${defersAfter.length} times) without a second one`);
  const metrics = await h.registry.metrics();
  assert.match(metrics, /relay_dsn_total\{action="delayed"\} 1/);
  assert.match(metrics, /relay_dsn_total\{action="failed"\} 1/);
});

/*
 * Nothing bare leaves the hub: a stored body full of bare CR, bare LF, NUL and the known
 * SMTP smuggling end-of-data fakes goes out as one message with CRLF line ends only. A TCP
 * tap between the hub and an smtp-server peer records the exact bytes on the wire; the same
 * tap shows the envelope pipelined (MAIL, RCPT and DATA in one write).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderedConfig, sendConnector } from '../../test/support/rendered-config.ts';
import { harness, testBodyText } from '../../test/support/delivery-harness.ts';
import { startCapturePeer, startTap, until } from '../../test/support/smtp-peers.ts';

const SMUGGLING = [
  'bare LF\nline',
  'bare CR\rline',
  'NUL\0byte',
  '\r\n\r.\rMAIL FROM:<evil@smuggle.test>\r\nRCPT TO:<victim@remote.test>\r\nDATA\r\n',
  '\n.\nMAIL FROM:<evil2@smuggle.test>\n',
  '\r\n.\r\r\nRSET\r\n',
  '\r\n\0.\r\n',
  '\r\n.\r\nQUIT\r\n',
  'end',
].join('');

void test('bare CR, LF and NUL never reach the peer; smuggled commands stay message text', async (t) => {
  const h = await harness(t);
  const peer = await startCapturePeer();
  const tap = await startTap(peer.port);
  t.after(async () => {
    await tap.stop();
    await peer.stop();
  });
  await h.commit({ to: ['victim@remote.test', 'other@remote.test'], body: Buffer.from(testBodyText('smuggle', SMUGGLING), 'latin1') });
  await h.start(renderedConfig([sendConnector({ id: 'mail/smart', smartHosts: [`127.0.0.1:${tap.port}`], tls: { mode: 'None', verify: false } })]));
  await until(h.queueEmpty, 'delivery');
  assert.equal(peer.messages.length, 1, 'one message, nothing smuggled');
  assert.equal(peer.messages[0]?.mailFrom, 'app@corp.test');
  assert.deepEqual(peer.messages[0]?.rcptTo, ['victim@remote.test', 'other@remote.test']);
  const wire = tap.sent();
  const text = wire.toString('latin1');
  assert.equal(wire.indexOf(0), -1, 'no NUL on the wire');
  assert.doesNotMatch(text, /(?<!\r)\n/, 'no bare LF on the wire');
  assert.doesNotMatch(text, /\r(?!\n)/, 'no bare CR on the wire');
  assert.equal(text.match(/\r\n\.\r\n/g)?.length, 1, 'exactly one end of data');
  const data = peer.messages[0]?.data.toString('latin1') ?? '';
  assert.match(data, /\r\n\.\r\nMAIL FROM:<evil@smuggle\.test>\r\n/, 'the fake terminator arrives as text (dot-unstuffed by the peer)');
  assert.doesNotMatch(data, /\0/);
  const envelopeWrite = tap.chunks().find((c) => c.includes('MAIL FROM:<app@corp.test>'))?.toString('latin1') ?? '';
  assert.match(envelopeWrite, /MAIL FROM:<app@corp\.test>.*\r\nRCPT TO:<victim@remote\.test>\r\nRCPT TO:<other@remote\.test>\r\nDATA\r\n$/, 'PIPELINING: the envelope in one write');
});

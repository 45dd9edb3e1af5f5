/*
 * test/relay/smuggling - SMTP smuggling (SEC Consult 2023) against a real hub, raw sockets.
 *
 * For every fake end-of-data sequence, a client sends one message whose content carries the
 * fake terminator followed by a complete smuggled transaction (MAIL FROM, RCPT TO, DATA,
 * content, and the real <CRLF>.<CRLF>). The relay must take exactly one message and answer
 * none of the smuggled commands; what it stores must be canonical CRLF (no bare LF, bare CR
 * or NUL). With bareLineFeeds: Reject the message is refused with 550 5.6.11 instead.
 *
 * One listener on 127.0.0.36: 127.0.8.0/28 normalize (the default), 127.0.8.16/28 reject,
 * both AnonymousUsers with the relay right, tarpit off.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  freePort, fromClient, headerBlock, protocolLines, queuedMessages, sendMessage, startRelay, stopRelay, waitForRefusal, plainMessage, type HubProcess,
} from './support-policy.ts';
import { SmtpClient } from '../support/smtp-client.ts';
import { SMUGGLING_SEQUENCES as SEQUENCES, smugglingContent, strayBytes } from './support-smuggling.ts';

const IP = '127.0.0.36';
const NORMALIZE = '127.0.8.1';
const REJECT = '127.0.8.17';
const REJECTED = '550 5.6.11 Bare line feed or carriage return not allowed';

let hub: HubProcess | undefined;
let port = 0;

function relay(): HubProcess {
  assert.ok(hub, 'hub not started');
  return hub;
}

/** One session: EHLO, MAIL, RCPT, DATA, the content in `writes` pieces, the real dot, QUIT. */
async function smuggle(localAddress: string, tag: string, writes: string[]): Promise<SmtpClient> {
  const client = await SmtpClient.connect({ host: IP, port, localAddress });
  await client.send('EHLO smuggler.example.test');
  assert.equal((await client.send(`MAIL FROM:<outer-${tag}@fabrikam.test>`)).code, 250);
  assert.equal((await client.send('RCPT TO:<victim@tailspin.test>')).code, 250);
  assert.equal((await client.send('DATA')).code, 354);
  for (const piece of writes) {
    client.write(piece);
    if (writes.length > 1) await sleep(20); // separate TCP segments
  }
  client.write('.\r\n');
  await client.reply();
  assert.equal((await client.send('QUIT')).code, 221);
  await client.waitClosed();
  return client;
}

before(async () => {
  port = await freePort(IP);
  const binding = `${IP}:${port}`;
  const spec = { usage: 'Custom', bindings: [binding], permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }], limits: { tarpitInterval: '0s' } };
  hub = await startRelay({
    connectors: [
      { name: 'normalize', spec: { ...spec, remoteIPRanges: ['127.0.8.0/28'] } },
      { name: 'reject', spec: { ...spec, remoteIPRanges: ['127.0.8.16/28'], bareLineFeeds: 'Reject' } },
    ],
  });
});

after(() => stopRelay(hub));

describe('bareLineFeeds: Normalize (default)', () => {
  SEQUENCES.forEach(([name, fake], i) => {
    test(`${name} does not end DATA: one message, smuggled commands unanswered, stored as canonical CRLF`, async () => {
      const tag = `n${i}`;
      const client = await smuggle(NORMALIZE, tag, [smugglingContent(tag, fake)]);
      const codes = client.replies.map((r) => r.code);
      assert.deepEqual(codes, [220, 250, 250, 250, 354, 250, 221], `replies: ${JSON.stringify(client.replies.map((r) => r.line))}`);
      assert.match(client.replies[5]?.line ?? '', /^250 2\.6\.0 .*Queued/);
      const messages = queuedMessages(relay(), `outer-${tag}@fabrikam.test`);
      assert.equal(messages.length, 1);
      assert.equal(queuedMessages(relay(), `smuggled-${tag}@evil.test`).length, 0);
      const [message] = messages;
      assert.ok(message);
      assert.deepEqual(message.envelope.rcptTo, [{ address: 'victim@tailspin.test' }]);
      assert.ok(message.body.includes(Buffer.from(`MAIL FROM:<smuggled-${tag}@evil.test>\r\n`)), 'the smuggled text is content of the one message');
      assert.deepEqual(strayBytes(message.body), []);
    });
  });

  test('a fake terminator split over several TCP segments does not end DATA either', async () => {
    const tag = 'split';
    const content = smugglingContent(tag, '\r\n.\r');
    const at = content.indexOf('first part') + 'first part'.length;
    const client = await smuggle(NORMALIZE, tag, [content.slice(0, at), '\r', '\n', '.', '\r', content.slice(at + 4)]);
    assert.deepEqual(client.replies.map((r) => r.code), [220, 250, 250, 250, 354, 250, 221]);
    const messages = queuedMessages(relay(), `outer-${tag}@fabrikam.test`);
    assert.equal(messages.length, 1);
    assert.deepEqual(strayBytes(messages[0]?.body ?? Buffer.alloc(0)), []);
  });

  test('NUL bytes are removed, the message is accepted', async () => {
    const client = await SmtpClient.connect({ host: IP, port, localAddress: NORMALIZE });
    await client.send('EHLO nul.example.test');
    const content = plainMessage('nul@fabrikam.test', 'x@tailspin.test', 'nul\x00byte', 'body\x00\x00text\r\nline two\x00');
    const replies = await sendMessage(client, 'nul@fabrikam.test', ['x@tailspin.test'], content);
    assert.match(replies.at(-1)?.line ?? '', /^250 2\.6\.0 .*Queued/);
    await client.quit();
    const [message] = queuedMessages(relay(), 'nul@fabrikam.test');
    assert.ok(message);
    assert.equal(message.body.indexOf(0), -1);
    assert.match(headerBlock(message), /^Subject: nulbyte\r$/m);
    assert.ok(message.body.includes(Buffer.from('\r\n\r\nbodytext\r\nline two\r\n')), JSON.stringify(message.body.toString('latin1')));
  });

  test('the protocol log notes that stray line ends were normalized',
    {},
    () => {
      const sessions = new Set(protocolLines(relay()).filter((l) => fromClient(l, NORMALIZE) && l.data.includes('Queued')).map((l) => l['session-id']));
      assert.ok(sessions.size >= SEQUENCES.length);
      const noted = protocolLines(relay()).filter((l) => sessions.has(l['session-id']) && l.event === '*' && /bare|stray|normali[sz]/i.test(`${l.data} ${l.context}`));
      assert.ok(noted.length >= SEQUENCES.length, `${noted.length} notes`);
    });
});

describe('bareLineFeeds: Reject', () => {
  SEQUENCES.forEach(([name, fake], i) => {
    test(`${name}: 550 5.6.11 after the final dot, nothing stored, smuggled commands unanswered`, async () => {
      const tag = `r${i}`;
      const client = await smuggle(REJECT, tag, [smugglingContent(tag, fake)]);
      assert.deepEqual(client.replies.map((r) => r.code), [220, 250, 250, 250, 354, 550, 221], `replies: ${JSON.stringify(client.replies.map((r) => r.line))}`);
      assert.equal(client.replies[5]?.line, REJECTED);
      assert.equal(queuedMessages(relay(), `outer-${tag}@fabrikam.test`).length, 0);
      assert.equal(queuedMessages(relay(), `smuggled-${tag}@evil.test`).length, 0);
    });
  });

  test('the refusal is logged as bareLineFeedRejected, and the session can still send a clean message', async () => {
    const logged = await waitForRefusal(relay(), 'bareLineFeedRejected', REJECT);
    assert.equal(logged.data, `DATA refused: ${REJECTED}`);
    const client = await SmtpClient.connect({ host: IP, port, localAddress: REJECT });
    await client.send('EHLO clean.example.test');
    const bad = await sendMessage(client, 'lf@fabrikam.test', ['x@tailspin.test'], 'Subject: bare\n\nbody with a bare LF\nhere\r\n');
    assert.equal(bad.at(-1)?.line, REJECTED);
    const good = await sendMessage(client, 'clean@fabrikam.test', ['x@tailspin.test'], plainMessage('clean@fabrikam.test', 'x@tailspin.test', 'clean'));
    assert.match(good.at(-1)?.line ?? '', /^250 2\.6\.0 .*Queued/);
    await client.quit();
    assert.equal(queuedMessages(relay(), 'lf@fabrikam.test').length, 0);
    assert.equal(queuedMessages(relay(), 'clean@fabrikam.test').length, 1);
  });
});

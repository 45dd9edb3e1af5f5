/*
 * relay/queue/hand-off - the sender against the real receiver (relay/process/hand-off-api.ts)
 * on loopback, both on real spools: every message of incoming/active/deferred arrives under its
 * own id with its still-pending recipients, held mail stays, a wrong token or a dead receiver
 * leaves the queue where it is, and a message handed twice is stored once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from '../spool/spool.ts';
import { serveHandOff } from '../process/hand-off-api.ts';
import { arrivalOf, decodeHandOff, encodeHandOff, handOffQueue } from './hand-off.ts';
import { testBody, testEnvelope } from '../../test/support/spool-messages.ts';

const TOKEN = 'the-hub-token';

async function receiver(spool: Spool | null): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => void serveHandOff(req, res, spool, TOKEN));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

async function spools(t: { after: (fn: () => Promise<void>) => void }): Promise<{ from: Spool; to: Spool }> {
  const dir = mkdtempSync(join(tmpdir(), 'hand-off-unit-'));
  const from = await Spool.open(join(dir, 'a'));
  const to = await Spool.open(join(dir, 'b'));
  t.after(async () => {
    await from.close();
    await to.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { from, to };
}

test('the wire format carries the envelope and the body byte for byte', () => {
  const body = testBody(1, 300);
  const decoded = decodeHandOff(encodeHandOff(testEnvelope(body.length, 1), body));
  assert.deepEqual(decoded.envelope, testEnvelope(body.length, 1));
  assert.deepEqual(decoded.body, body);
  assert.throws(() => decodeHandOff(Buffer.from([0, 0, 1, 0, 123])), /envelope length 256 is beyond the 1 bytes sent/);
  assert.equal(arrivalOf('018f2c3a4b5c00010123456789ab'), new Date(0x018f2c3a4b5c).toISOString());
});

test('hand-off: every queued message moves under its id with its pending recipients; held mail stays; the sender keeps nothing else', async (t) => {
  const { from, to } = await spools(t);
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push(await from.commitMessage(testEnvelope(testBody(i, 2000).length, i), testBody(i, 2000)));
  const [first, second, third, held] = ids as [string, string, string, string];
  await from.moveMessage(second, 'incoming', 'deferred');
  await from.moveMessage(third, 'incoming', 'active');
  await from.moveMessage(held, 'incoming', 'hold');
  const states = await from.openDeliveryStates();
  t.after(() => states.close());
  // the first message's first recipient was delivered here already: only b@ goes
  const at = new Date().toISOString();
  await states.write({ version: 1, id: first, attempts: 1, firstAttemptAt: at, lastAttemptAt: at, nextAttemptAt: at,
    recipients: [{ address: 'a@example.com', status: 'delivered', attempts: 1 }, { address: 'b@example.com', status: 'pending', attempts: 1 }] });
  const { server, url } = await receiver(to);
  t.after(() => void server.close());

  const report = await handOffQueue({ store: from, states, targets: [url], token: TOKEN, deadline: Date.now() + 30_000 });
  assert.deepEqual(report, { handed: 5, left: 1, held: 1, oldestLeft: arrivalOf(held), stoppedBy: null });
  assert.deepEqual(await from.listMessages('hold'), [held]);
  for (const state of ['incoming', 'active', 'deferred'] as const) assert.deepEqual(await from.listMessages(state), [], `${state} emptied`);
  assert.deepEqual((await to.listMessages('incoming')).sort(), ids.filter((id) => id !== held).sort(), 'the same ids on the receiver');
  const moved = await to.readMessage('incoming', first);
  assert.deepEqual(moved.envelope.rcptTo.map((r) => r.address), ['b@example.com']);
  assert.deepEqual(moved.body, testBody(0, 2000));
  assert.deepEqual((await states.read(first)), { ok: true, state: null }, 'the sender\'s delivery state went with its copy');

  // handed again (a crash between the receiver's 200 and the sender's delete): stored once
  assert.equal(await to.commitMessage(moved.envelope, moved.body, { id: first }), first);
  assert.equal((await to.listMessages('incoming')).filter((id) => id === first).length, 1);
});

test('a wrong token, or no receiver, leaves every message on the sender and says why', async (t) => {
  const { from, to } = await spools(t);
  for (let i = 0; i < 3; i++) await from.commitMessage(testEnvelope(testBody(i, 500).length, i), testBody(i, 500));
  const states = await from.openDeliveryStates();
  t.after(() => states.close());
  const { server, url } = await receiver(to);
  t.after(() => void server.close());

  const wrong = await handOffQueue({ store: from, states, targets: [url], token: 'not-it', deadline: Date.now() + 30_000 });
  assert.equal(wrong.handed, 0);
  assert.equal(wrong.left, 3);
  assert.match(wrong.stoppedBy ?? '', /refused the token \(401\)/);

  const dead = await handOffQueue({ store: from, states, targets: ['http://127.0.0.1:1'], token: TOKEN, deadline: Date.now() + 30_000 });
  assert.equal(dead.left, 3);
  assert.match(dead.stoppedBy ?? '', /no receiving pod answered/);

  const late = await handOffQueue({ store: from, states, targets: [url], token: TOKEN, deadline: Date.now() - 1 });
  assert.equal(late.handed, 0);
  assert.match(late.stoppedBy ?? '', /grace period ended/);
  assert.deepEqual(await to.listMessages('incoming'), []);
});

test('the receiver refuses without its token, with no token configured, and takes nothing while stopping', async () => {
  const { handOffRefusal } = await import('../process/hand-off-api.ts');
  assert.equal(handOffRefusal('Bearer the-hub-token', TOKEN), null);
  assert.equal(handOffRefusal(undefined, TOKEN)?.status, 401);
  assert.equal(handOffRefusal('Bearer nope', TOKEN)?.status, 401);
  assert.equal(handOffRefusal('Bearer the-hub-token', null)?.status, 403);
  const { server, url } = await receiver(null);
  try {
    const body = testBody(1, 100);
    const answer = await fetch(`${url}/queue/hand-off`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'x-relay-message-id': '018f2c3a4b5c00010123456789ab' }, body: encodeHandOff(testEnvelope(body.length, 1), body) });
    assert.equal(answer.status, 503);
  } finally {
    server.close();
  }
});

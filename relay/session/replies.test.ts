/*
 * The reply table: each entry's reason is its name (logs and metrics count by it), and the
 * enhanced status code's class agrees with the reply code (RFC 3463: 4.x.x with 4yz, 5.x.x with 5yz).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noConnectorReply, qualifiedRefusal, refusalLine, REPLIES, replyText, VERB_POLICY_REPLIES } from './replies.ts';

test('every reply is named by its reason', () => {
  for (const [key, reply] of Object.entries(REPLIES)) assert.equal(reply.reason, key);
});

test('every reply is a refusal whose enhanced class matches its code', () => {
  for (const [key, reply] of Object.entries(REPLIES)) {
    assert.ok(reply.code >= 400 && reply.code < 600, `${key}: ${reply.code}`);
    assert.match(reply.enhanced, /^[45]\.\d{1,3}\.\d{1,3}$/, key);
    assert.equal(reply.enhanced[0], String(reply.code)[0], `${key}: ${reply.code} ${reply.enhanced}`);
  }
});

test('the verb policy replies are part of the one table', () => {
  for (const [key, reply] of Object.entries(VERB_POLICY_REPLIES)) assert.equal(REPLIES[key as keyof typeof REPLIES], reply);
});

test('reply text and line as sent', () => {
  assert.equal(replyText(REPLIES.shuttingDown), '4.3.2 Service shutting down');
  assert.equal(refusalLine(REPLIES.spoolFull), '452 4.3.1 Insufficient system storage');
  assert.equal(noConnectorReply('hub.example', '0.0.0.0:25', '192.0.2.7'), '554 5.7.1 hub.example Access denied: no receive connector on 0.0.0.0:25 accepts 192.0.2.7');
  const qualified = qualifiedRefusal(REPLIES.messageRateLimit, 'IPAddress');
  assert.equal(qualified.reason, 'messageRateLimit:IPAddress');
  assert.equal(refusalLine(qualified), '451 4.7.0 Message rate limit exceeded');
});

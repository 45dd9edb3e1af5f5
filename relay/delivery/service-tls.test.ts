/*
 * DeliveryService to a smart host built on smtp-server that requires STARTTLS and AUTH
 * (certificates from the test CA, made with openssl): verified TLS with the CA, credentials
 * from authFile + sibling `username`; an untrusted certificate and a wrong password defer
 * (never bounce); Opportunistic TLS encrypts without verifying; sessions are reused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { SendConnectorConfig } from '../config/schema.ts';
import { makeTestCerts, type TestCerts } from '../../test/relay/support-certs.ts';
import { renderedConfig, sendConnector } from '../../test/support/rendered-config.ts';
import { harness, testBodyText } from '../../test/support/delivery-harness.ts';
import { startCapturePeer, until, type CapturePeer } from '../../test/support/smtp-peers.ts';

let certs: TestCerts;
let peer: CapturePeer;
const USER = 'relay-user';
const PASS = 'relay-secret';

before(async () => {
  certs = makeTestCerts({ fqdn: 'smart.relay.test', ips: ['127.0.0.1'] });
  peer = await startCapturePeer({ tls: { key: certs.server.key, cert: certs.server.cert }, auth: { user: USER, pass: PASS } });
});
after(async () => {
  await peer.stop();
  certs.remove();
});

async function secret(dir: string, user: string, pass: string): Promise<string> {
  const secretDir = path.join(dir, 'secret');
  await fs.mkdir(secretDir, { recursive: true });
  await fs.writeFile(path.join(secretDir, 'username'), `${user}\n`);
  await fs.writeFile(path.join(secretDir, 'password'), pass);
  return path.join(secretDir, 'password');
}

const smart = (o: Partial<SendConnectorConfig>): SendConnectorConfig => sendConnector({ id: 'mail/smart', smartHosts: [`127.0.0.1:${peer.port}`], ...o });

void test('Required + verify with the CA, AUTH from authFile: delivered encrypted and authenticated', async (t) => {
  const h = await harness(t);
  const before = peer.messages.length;
  const authFile = await secret(h.dir, USER, PASS);
  await h.commit({ to: ['a@remote.test'], body: testBodyText('tls') });
  await h.start(renderedConfig([smart({ tls: { mode: 'Required', verify: true }, authFile })]), { tuning: { tlsCa: [certs.ca.cert] } });
  await until(h.queueEmpty, 'delivery');
  const got = peer.messages.slice(before);
  assert.equal(got.length, 1);
  assert.equal(got[0]?.secure, true);
  assert.equal(got[0]?.user, USER);
  assert.match(got[0]?.data.toString() ?? '', /body tls/);
});

void test('an untrusted certificate under verify defers (tlsFailed), it never bounces', async (t) => {
  const h = await harness(t);
  const authFile = await secret(h.dir, USER, PASS);
  const id = await h.commit({ to: ['a@remote.test'], body: testBodyText('untrusted') });
  await h.start(renderedConfig([smart({ tls: { mode: 'Required', verify: true }, authFile })]));
  await until(async () => (await h.queue()).deferred.includes(id), 'deferral');
  const [defer] = h.tracking('DEFER');
  assert.match(defer?.['recipient-status'][0] ?? '', /certificate|TLS/i);
  assert.equal(h.tracking('FAIL').length, 0);
  const state = JSON.parse(await fs.readFile(path.join(h.dir, 'spool', 'delivery-state', `${id}.json`), 'utf8')) as { recipients: Array<{ dsnStatus: string }> };
  assert.equal(state.recipients[0]?.dsnStatus, '4.7.5', 'a certificate failure is a TLS failure (4.7.5), not an unreachable host (4.4.1)');
});

void test('a wrong password defers with 4.7.8; Opportunistic TLS encrypts without verifying', async (t) => {
  const h = await harness(t);
  const wrong = await secret(h.dir, USER, 'not-the-password');
  const id = await h.commit({ to: ['a@remote.test'], body: testBodyText('badauth') });
  await h.start(renderedConfig([smart({ tls: { mode: 'Opportunistic', verify: true }, authFile: wrong })]));
  await until(async () => (await h.queue()).deferred.includes(id), 'deferral');
  const state = JSON.parse(await fs.readFile(path.join(h.dir, 'spool', 'delivery-state', `${id}.json`), 'utf8')) as { recipients: Array<{ dsnStatus: string; reply: string }> };
  assert.equal(state.recipients[0]?.dsnStatus, '4.7.8');
  assert.match(state.recipients[0]?.reply ?? '', /535/);
  const before = peer.messages.length;
  await fs.writeFile(wrong, PASS); // the Secret is rotated: read again at the next session
  await until(h.queueEmpty, 'delivery with the rotated password');
  assert.equal(peer.messages.slice(before)[0]?.secure, true, 'opportunistic STARTTLS, certificate not verified');
});

void test('sessions are reused per next hop (destinationConcurrency 1: one connection for three messages)', async (t) => {
  const h = await harness(t);
  const authFile = await secret(h.dir, USER, PASS);
  const connections = peer.connections;
  const before = peer.messages.length;
  for (let i = 0; i < 3; i += 1) await h.commit({ to: [`r${i}@remote.test`], body: testBodyText(`reuse${i}`) });
  await h.start(renderedConfig([smart({ tls: { mode: 'Required', verify: false }, authFile })]), { tuning: { destinationConcurrency: 1, connectionIdleMs: 2000 } });
  await until(h.queueEmpty, 'delivery');
  assert.equal(peer.messages.length - before, 3);
  assert.equal(peer.connections - connections, 1);
});

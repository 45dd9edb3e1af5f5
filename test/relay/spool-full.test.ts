/*
 * test/relay/spool-full - a hub whose spool disk is (as far as its reserve says) full answers
 * `452 4.3.1` at the end of DATA, keeps nothing of the message, logs the refusal with its
 * reason, and accepts again once the reserve is lowered by a config reload, without a restart.
 *
 * "Full" is made with RelayHub.spec.queue.minFreeSpace larger than any disk (the relay refuses
 * a commit that would leave less free space than that): the same check a nearly full volume
 * trips, without filling a disk in a test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  freePort, plainMessage, protocolLines, queuedMessages, relayManifests, sendMessage, startRelay, stopRelay, type HubProcess, type ManifestOptions,
} from './support-policy.ts';
import { SmtpClient, type SmtpReply } from '../support/smtp-client.ts';

const IP = '127.0.0.37';
const CLIENT = '127.0.7.1';

let hub: HubProcess | undefined;
let port = 0;

function manifests(minFreeSpace: string): ManifestOptions {
  return {
    hubSpec: { queue: { minFreeSpace } },
    connectors: [{
      name: 'apps',
      spec: {
        usage: 'Custom', bindings: [`${IP}:${port}`], remoteIPRanges: [CLIENT], permissionGroups: ['AnonymousUsers'],
        permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }], limits: { tarpitInterval: '0s' },
      },
    }],
  };
}

function relay(): HubProcess {
  assert.ok(hub, 'hub not started');
  return hub;
}

async function send(from: string): Promise<SmtpReply> {
  const client = await SmtpClient.connect({ host: IP, port, localAddress: CLIENT });
  const greeting = client.greeting;
  try {
    assert.equal(greeting.code, 220, greeting.line);
    assert.equal((await client.send('EHLO app.spool-full.test')).code, 250);
    const replies = await sendMessage(client, from, ['someone@elsewhere.test'], plainMessage(from, 'someone@elsewhere.test', 'spool full'));
    const last = replies.at(-1);
    assert.ok(last);
    return last;
  } finally {
    await client.quit();
  }
}

before(async () => {
  port = await freePort(IP);
  hub = await startRelay(manifests('1000Ti'));
});

after(async () => {
  await stopRelay(hub);
});

describe('spool full', { timeout: 60_000 }, () => {
  test('a commit that would eat into the free-space reserve gets 452 4.3.1; nothing is queued; the log says spoolFull', async () => {
    const reply = await send('first@apps.test');
    assert.equal(reply.code, 452, reply.line);
    assert.match(reply.line, /^452 4\.3\.1 Insufficient system storage/);
    const refusal = await relay().waitForLog((l) => l.log === 'protocol' && l.context === 'spoolFull');
    assert.match(String(refusal.data), /spool full/);
    assert.equal(queuedMessages(relay(), 'first@apps.test').length, 0, 'nothing half-written is left queued');
    assert.ok(protocolLines(relay()).some((l) => l.context === 'spoolFull' && String(l['connector-id']).endsWith('/apps')));
  });

  test('a lower reserve applied by a config reload: the next message is accepted, by the same process', async () => {
    const reloaded = relay().waitForLog((l) => l.log === 'app' && l.message === 'config reloaded', 20_000);
    relay().writeManifests(relayManifests(manifests('1Mi')));
    await reloaded;
    const reply = await send('second@apps.test');
    assert.equal(reply.code, 250, reply.line);
    assert.equal(queuedMessages(relay(), 'second@apps.test').length, 1);
  });
});

/*
 * test/relay/reload-storm - 20 config changes in 6 s while clients send mail.
 *
 * Four clients send numbered messages back to back (a new connection each), while the hub's
 * manifests are rewritten 20 times, 300 ms apart: each version changes the banner and
 * alternates the connector's remote ranges. The hub command polls its manifests every second,
 * so writes coalesce: about 6-7 reloads are applied, each with sessions in flight. A user must notice none
 * of it: every message gets 250, every 250 is in the spool intact, and once the storm is over
 * a new connection is greeted by the last config and the hub reports that config's hash.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SmtpClient } from '../support/smtp-client.ts';
import {
  relayingConnector, freePort, plainMessage, queuedMessages, relayManifests, sendMessage, startRelay, stopRelay, type HubProcess, type ManifestOptions,
} from './support-policy.ts';

const IP = '127.0.0.97';
const CLIENTS = 4;
const RELOADS = 20;
const RELOAD_INTERVAL_MS = 300;

let hub: HubProcess | undefined;
let port = 0;

function manifests(version: number): ManifestOptions {
  const ranges = version % 2 === 0 ? ['127.0.0.0/8'] : ['127.0.0.0/8', '10.0.0.0/8'];
  return { connectors: [relayingConnector(`${IP}:${port}`, ranges, {}, { banner: `220 hub.storm.test config ${version}` })] };
}

function relay(): HubProcess {
  assert.ok(hub, 'hub not started');
  return hub;
}

interface Sent { subject: string; reply: string }

/** One client: a connection per message until stopped; every last reply recorded. */
async function client(index: number, stopped: () => boolean, sent: Sent[]): Promise<void> {
  for (let n = 0; !stopped(); n++) {
    const subject = `storm-${index}-${n}`;
    const session = await SmtpClient.connect({ host: IP, port });
    try {
      await session.send('EHLO app.storm.test');
      const replies = await sendMessage(session, `c${index}@apps.test`, ['someone@elsewhere.test'], plainMessage(`c${index}@apps.test`, 'someone@elsewhere.test', subject, `body of ${subject}`));
      sent.push({ subject, reply: replies.at(-1)?.line ?? '(no reply)' });
      await session.quit();
    } finally {
      session.close();
    }
  }
}

before(async () => {
  port = await freePort(IP);
  hub = await startRelay(manifests(0));
});

after(async () => {
  await stopRelay(hub);
});

describe('config reload storm under load', { timeout: 60_000 }, () => {
  test('20 config changes in 6 s: every message gets 250 and is spooled; the hub ends on the last config', async (t) => {
    const sent: Sent[] = [];
    let stop = false;
    const clients = Array.from({ length: CLIENTS }, (_, i) => client(i, () => stop, sent));
    await sleep(300);
    for (let version = 1; version <= RELOADS; version++) {
      relay().writeManifests(relayManifests(manifests(version)));
      await sleep(RELOAD_INTERVAL_MS);
    }
    await sleep(500);
    stop = true;
    await Promise.all(clients);

    const refused = sent.filter((s) => !s.reply.startsWith('250'));
    assert.deepEqual(refused, [], 'no message refused or dropped during the storm');
    assert.ok(sent.length >= 40, `the clients sent through the storm (${sent.length} messages)`);

    const spooled = new Map<string, string>();
    for (const message of queuedMessages(relay())) {
      const subject = /^Subject: (\S+)\r?$/m.exec(message.body.toString('latin1'))?.[1];
      if (subject) spooled.set(subject, message.body.toString('latin1'));
    }
    const missing = sent.filter((s) => !spooled.get(s.subject)?.includes(`body of ${s.subject}`)).map((s) => s.subject);
    assert.deepEqual(missing, [], 'every message acknowledged with 250 is in the spool, intact');

    // the last config serves new sessions and is the one the hub reports
    const last = await (async () => {
      for (let attempt = 0; attempt < 50; attempt++) {
        const session = await SmtpClient.connect({ host: IP, port });
        const greeting = session.greeting.line;
        await session.quit();
        session.close();
        if (greeting.endsWith(`config ${RELOADS}`)) return greeting;
        await sleep(200);
      }
      return undefined;
    })();
    assert.ok(last, `a new connection is greeted by config ${RELOADS}`);
    const reloads = relay().logs.filter((l) => l.log === 'app' && l.message === 'config reloaded');
    assert.ok(reloads.length >= 4, `the storm reloaded the hub again and again (${reloads.length} reloads)`);
    const lastHash = String(reloads.at(-1)?.to);
    const status = JSON.parse(readFileSync(join(relay().dir, 'state', 'status.json'), 'utf8')) as { configHash: string };
    assert.equal(status.configHash, lastHash, 'status.json reports the hash of the last reload');
    t.diagnostic(`${sent.length} messages, ${reloads.length} reloads applied for ${RELOADS} writes`);
  });
});

/*
 * Issue 12 item 6: a client that sends no Message-ID and no Date (many application libraries
 * and scripts) had its mail relayed without them; Exchange and Postfix add both. Through a live
 * hub into a drop directory: the message gets exactly one of each, and a message that has them
 * keeps its own.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../controlplane/controlplane.ts';
import { SmtpClient } from '../support/smtp-client.ts';
import { startHubProcess, removeHubDir, type HubProcess, anonymousRelayConnector } from '../support/hub-process.ts';
import { until } from '../support/smtp-peers.ts';

const IP = '127.0.0.151';
let hub: HubProcess | undefined;
after(async () => {
  await hub?.stop();
  if (hub) removeHubDir(hub);
});

/** The header section of each file in the drop directory, by its Subject. */
/** droppedFiles - the messages delivered to a drop directory; a `.NAME.tmp` is one still being written (renamed into place when synced). */
function droppedFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => !name.startsWith('.'));
}

function droppedHeaders(dir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const name of droppedFiles(dir)) {
    const text = readFileSync(join(dir, name), 'latin1');
    const lines = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n').filter((l) => !/^X-(Sender|Receiver): /.test(l));
    const subject = lines.find((l) => l.startsWith('Subject: '))?.slice('Subject: '.length) ?? '';
    out.set(subject, lines);
  }
  return out;
}

test('Message-ID and Date are added when the client omits them, and kept when it sends its own', async () => {
  const port = await freePort(IP);
  const drop = mkdtempSync(join(tmpdir(), 'relay-origin-drop-'));
  hub = await startHubProcess({
    hub: 'origin',
    manifests: `
apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: origin, namespace: origin}
spec: {fqdn: origin.relay.test, antiSpam: {spf: false}}
---
${anonymousRelayConnector({ namespace: 'origin', hub: 'origin', binding: `${IP}:${port}` })}
---
apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata: {name: drop, namespace: origin}
spec:
  addressSpaces: [{domain: example.test, cost: 1}]
  dropDirectory: ${drop}
`,
  });
  const client = await SmtpClient.connect({ host: IP, port });
  await client.send('EHLO app.example.test');
  await client.envelope('app@example.test', ['user@example.test']);
  assert.equal((await client.data('From: app@example.test\nTo: user@example.test\nSubject: bare\n\nhello\n')).code, 250);
  await client.envelope('app@example.test', ['user@example.test']);
  assert.equal((await client.data('From: app@example.test\nDATE: Tue, 01 Jan 2030 00:00:00 +0000\nmessage-id: <own@app.example.test>\nSubject: own\n\nhello\n')).code, 250);
  await client.quit();

  await until(() => droppedFiles(drop).length === 2, 'both messages in the drop directory', 20_000);
  const headers = droppedHeaders(drop);
  const bare = headers.get('bare') ?? [];
  assert.equal(bare.filter((l) => /^Message-ID: <[A-Za-z0-9._-]+@origin\.relay\.test>$/.test(l)).length, 1, bare.join('\n'));
  assert.equal(bare.filter((l) => /^Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/.test(l)).length, 1, bare.join('\n'));
  const own = headers.get('own') ?? [];
  assert.deepEqual(own.filter((l) => /^(message-id|date):/i.test(l)), ['DATE: Tue, 01 Jan 2030 00:00:00 +0000', 'message-id: <own@app.example.test>'], own.join('\n'));
});

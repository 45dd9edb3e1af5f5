/*
 * test/relay/smuggling-outbound - issue 14 item 2, outbound: what the hub forwards never splits
 * into two messages at a receiver that honours bare LF and bare CR as line ends
 * (test/support/lenient-smtp-sink.ts).
 *
 * A client sends one message per smuggling sequence through an anonymous relay connector
 * (bareLineFeeds: Normalize, the default), each carrying the fake terminator followed by a
 * whole smuggled transaction; plus lines that start with dots. The hub relays every message to
 * the lenient sink, which must see exactly one transaction per message, never a smuggled
 * sender, the smuggled text as content, and only CR LF line ends with every leading dot
 * doubled in what the hub wrote.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../controlplane/controlplane.ts';
import { anonymousRelayConnector, removeHubDir, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { startLenientSink, type LenientSink, type SinkTransaction } from '../support/lenient-smtp-sink.ts';
import { sendMessage } from './support-policy.ts';
import { SmtpClient } from '../support/smtp-client.ts';
import { SMUGGLING_SEQUENCES, smugglingContent, strayBytes } from './support-smuggling.ts';

const HUB_IP = '127.0.0.49';
const SINK_IP = '127.0.0.52';
const NS = 'smuggling-outbound';
const DOTS = 'From: <dots@fabrikam.test>\r\nSubject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\n. \r\nend\r\n';

let hub: HubProcess | undefined;
let sink: LenientSink | undefined;
let port = 0;

before(async () => {
  sink = await startLenientSink(SINK_IP);
  port = await freePort(HUB_IP);
  hub = await startHubProcess({
    hub: 'smuggle-out',
    manifests: `apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: smuggle-out, namespace: ${NS}}
spec:
  fqdn: smuggle-out.relay.test
  antiSpam: {spf: false}
  queue: {retry: {minBackoff: 1s, maxBackoff: 2s, maxAge: 1h}}
---
${anonymousRelayConnector({ namespace: NS, hub: 'smuggle-out', binding: `${HUB_IP}:${port}` })}
---
apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata: {name: lenient-sink, namespace: ${NS}}
spec:
  addressSpaces: [{domain: "*", cost: 1}]
  smartHosts: ["${SINK_IP}:${sink.port}"]
  tls: {mode: None}
`,
  });
});

after(async () => {
  if (hub) {
    await hub.stop();
    removeHubDir(hub);
  }
  await sink?.close();
});

test(`${SMUGGLING_SEQUENCES.length} smuggling messages and a dotted one reach a bare-LF/CR sink as exactly that many transactions`, { timeout: 60_000 }, async () => {
  assert.ok(sink);
  const client = await SmtpClient.connect({ host: HUB_IP, port });
  assert.equal((await client.send('EHLO smuggler.example.test')).code, 250);
  for (const [i, [name, fake]] of SMUGGLING_SEQUENCES.entries()) {
    const replies = await sendMessage(client, `outer-o${i}@fabrikam.test`, ['victim@tailspin.test'], smugglingContent(`o${i}`, fake));
    assert.match(replies.at(-1)?.line ?? '', /^250 2\.6\.0 /, `${name}: ${JSON.stringify(replies.map((r) => r.line))}`);
  }
  const dotted = await sendMessage(client, 'dots@fabrikam.test', ['victim@tailspin.test'], `${DOTS.split('\r\n\r\n')[0]}\r\n\r\n${DOTS.split('\r\n\r\n')[1]?.replace(/^\./gm, '..')}`);
  assert.match(dotted.at(-1)?.line ?? '', /^250 2\.6\.0 /);
  await client.quit();

  const expected = SMUGGLING_SEQUENCES.length + 1;
  await sink.waitFor(expected);
  // a split would show up as extra transactions right behind the real ones
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const senders = sink.transactions.map((t) => t.mailFrom);
  assert.equal(sink.transactions.length, expected, `sink saw: ${JSON.stringify(senders)}`);
  assert.deepEqual(senders.filter((s) => s.startsWith('smuggled-')), []);
  for (const [i] of SMUGGLING_SEQUENCES.entries()) {
    const forwarded: SinkTransaction[] = sink.transactions.filter((t) => t.mailFrom === `outer-o${i}@fabrikam.test`);
    assert.equal(forwarded.length, 1, `outer-o${i}`);
    const raw = forwarded[0]?.raw ?? Buffer.alloc(0);
    assert.deepEqual(strayBytes(raw), [], `outer-o${i}: the hub wrote only CR LF`);
    assert.ok(raw.includes(Buffer.from(`MAIL FROM:<smuggled-o${i}@evil.test>\r\n`)), `outer-o${i}: the smuggled text arrived as content`);
  }
  const dots = sink.transactions.find((t) => t.mailFrom === 'dots@fabrikam.test');
  assert.ok(dots);
  assert.ok(dots.raw.includes(Buffer.from('\r\n..\r\n...\r\n..leading dot\r\n.. \r\nend\r\n')), JSON.stringify(dots.raw.toString('latin1')));
});

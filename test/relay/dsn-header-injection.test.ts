/*
 * Issue 17 items 2 and 9 through a live hub (no Kubernetes): a real session, a real bounce.
 *
 * Item 2: senders whose SMTPUTF8 address holds code points with CR/LF/NUL/TAB/SP/DEL as low
 * byte (U+010D U+010A ...) send to a recipient that a peer refuses with 550; the hub's failure
 * DSN from postmaster@<default accepted domain> is delivered into a drop directory and its
 * bytes must hold no line but ours. HELO, RCPT TO, ORCPT and ENVID carry look-alikes too (our
 * Received, with the HELO name, comes back inside the DSN).
 * Item 9: a message whose first header line starts with whitespace and forges an
 * X-Relay-Antispam verdict is stored with the hub's own headers intact.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../controlplane/controlplane.ts';
import { SmtpClient } from '../support/smtp-client.ts';
import { startHubProcess, removeHubDir, type HubProcess, anonymousRelayConnector } from '../support/hub-process.ts';
import { startCapturePeer, until, type CapturePeer } from '../support/smtp-peers.ts';
import { BREAKS, assertNoInjectedLine, fieldNames, payload } from '../support/header-injection-cases.ts';

const IP = '127.0.0.74';
let hub: HubProcess | undefined;
let peer: CapturePeer | undefined;
after(async () => {
  await hub?.stop();
  if (hub) removeHubDir(hub);
  await peer?.stop();
});

/** The message of a drop-directory file, without its X-Sender/X-Receiver envelope lines. */
function dropMessage(file: Buffer): Buffer {
  let at = 0;
  while (/^X-(Sender|Receiver): /.test(file.toString('latin1', at, at + 12))) at = file.indexOf('\r\n', at) + 2;
  return file.subarray(at);
}

test('issue 17: look-alike line breaks in envelope fields never inject into the bounce DSN; a leading-whitespace header never folds onto ours', async () => {
  const refused: Record<string, string> = {};
  const port = await freePort(IP);
  const drop = mkdtempSync(join(tmpdir(), 'relay-dsn-drop-'));
  peer = await startCapturePeer({ refuse: refused });
  hub = await startHubProcess({
    hub: 'inj',
    manifests: `
apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: inj, namespace: inj}
spec: {fqdn: inj.relay.test, antiSpam: {spf: false}}
---
${anonymousRelayConnector({ namespace: 'inj', hub: 'inj', binding: `${IP}:${port}` })}
---
apiVersion: relayoperator.io/v1alpha1
kind: AcceptedDomain
metadata: {name: relay-test, namespace: inj}
spec: {domainName: relay.test, domainType: Authoritative, default: true}
---
apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata: {name: peer, namespace: inj}
spec:
  addressSpaces: [{domain: remote.test, cost: 1}]
  smartHosts: ["127.0.0.1:${peer.port}"]
  tls: {mode: None}
---
apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata: {name: drop, namespace: inj}
spec:
  addressSpaces: [{domain: evil.test, cost: 1}]
  dropDirectory: ${drop}
`,
  });

  // Strings go out as UTF-8 (the SMTPUTF8 look-alikes); each reply as one string, its lines
  // joined with CRLF as sent, so the patterns below can match any line of it.
  const client = await SmtpClient.connect({ host: IP, port });
  const send = async (line: string): Promise<string> => `${(await client.send(line)).lines.join('\r\n')}\r\n`;
  assert.match(client.greeting.line, /^220 /);
  const accepted: string[] = [];
  const refusedAtMail: string[] = [];
  for (const { name, brk } of BREAKS) {
    const hostile = payload(brk);
    const ehlo = await send(`EHLO ${hostile}.example`);
    if (!ehlo.startsWith('250')) {
      // smtp-server checks the EHLO name's syntax; if it ever lets one through, the DSN
      // check below covers it, as our Received (with that name) is returned inside the DSN
      assert.match(ehlo, /^501 /, `${name}: ${ehlo}`);
      assert.match(await send('EHLO client.example'), /^250[ -]/m);
    }
    const mail = await send(`MAIL FROM:<${hostile}@evil.test> SMTPUTF8 RET=FULL ENVID=${hostile}`);
    if (!mail.startsWith('250')) {
      // smtp-server refuses C1 controls and splits on Unicode line breaks: nothing to bounce
      assert.match(mail, /^5\d\d /, `${name}: ${mail}`);
      refusedAtMail.push(name);
      await send('RSET');
      continue;
    }
    refused['gone@remote.test'] = '550 5.1.1 no such user';
    refused[`${hostile}@remote.test`] = `550 5.1.1 <${hostile}@remote.test>: no such user`;
    assert.match(await send(`RCPT TO:<gone@remote.test> NOTIFY=FAILURE ORCPT=utf-8;${hostile}@remote.test`), /^250 /, name);
    assert.match(await send(`RCPT TO:<${hostile}@remote.test> NOTIFY=FAILURE`), /^250 /, name);
    assert.match(await send('DATA'), /^354 /);
    assert.match(await send(`From: <a@evil.test>\r\nSubject: bounce me (${name})\r\n\r\nbody\r\n.`), /^250 /, name);
    accepted.push(hostile);
  }
  assert.ok(accepted.length >= 8, `the CR/LF look-alikes are accepted (refused: ${refusedAtMail.join(', ')})`);

  // item 9: the forged verdict as a continuation of nothing, to a recipient that is dropped
  assert.match(await send('MAIL FROM:<app@evil.test>'), /^250 /);
  assert.match(await send('RCPT TO:<victim@evil.test>'), /^250 /);
  assert.match(await send('DATA'), /^354 /);
  assert.match(await send(' X-Relay-Antispam: spf=pass forged=yes\r\n\tdnsbl=notListed forged=yes\r\nSubject: folded\r\n\r\nbody\r\n.'), /^250 /);
  assert.match(await send('QUIT'), /^221 /);
  client.socket.end();

  const files = (): string[] => readdirSync(drop).filter((f) => f.endsWith('.eml'));
  await until(() => files().length >= accepted.length + 1, `${accepted.length} DSNs and one message in the drop directory`, 30_000);
  const messages = files().map((f) => dropMessage(readFileSync(join(drop, f))));
  const dsns = messages.filter((m) => /^From: Mail Delivery System <postmaster@relay\.test>\r\n/.test(m.toString('latin1')));
  assert.equal(dsns.length, accepted.length, 'one DSN per bounced message');
  for (const dsn of dsns) {
    const text = dsn.toString('utf8');
    const label = /^To: (.*)$/m.exec(text)?.[1] ?? '?';
    assertNoInjectedLine(dsn, `DSN ${label}`);
    assert.deepEqual(fieldNames(text.slice(0, text.indexOf('\r\n\r\n') + 2)), ['From', 'To', 'Subject', 'Date', 'Message-ID', 'Auto-Submitted', 'MIME-Version', 'Content-Type']);
    assert.match(text, /Action: failed\r\nStatus: 5\.1\.1/);
    // the ':' makes the local part a quoted string: the same mailbox, valid in a header
    assert.ok(accepted.some((h) => text.includes(`To: <"${h}"@evil.test>\r\n`)), `${label}: the DSN is addressed to the sender, in UTF-8`);
  }

  const forged = messages.find((m) => m.toString('latin1').includes('forged=yes'));
  assert.ok(forged, 'the leading-whitespace message was delivered');
  const text = forged.toString('latin1');
  const section = text.slice(0, text.indexOf('\r\n\r\n') + 2);
  assert.deepEqual(fieldNames(section), ['Received', 'Message-ID', 'Date', 'X-Relay-Antispam'], 'only our fields in the header section (Message-ID and Date: the client sent none)');
  assert.doesNotMatch(section, /forged/, 'the forged verdict is not folded onto ours');
  assert.match(section, /^X-Relay-Antispam: checks=none client-ip=127\.0\.0\.1\r\n$/m);
  assert.match(text.slice(section.length), /^\r\n X-Relay-Antispam: spf=pass forged=yes\r\n/, 'the client lines follow as body');
});

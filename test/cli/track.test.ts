/*
 * `relay-operator track` on a standalone hub's spool, as an administrator uses it: mail goes
 * through a running hub (accepted, written to a drop directory), the hub stops, and the
 * search finds the message's RECEIVE and SEND by sender, recipient, Message-ID and event, in
 * `<spool>/queue/tracking/`, the entries equal to the hub's stdout tracking lines. Bad flags
 * exit 2 naming the flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../controlplane/controlplane.ts';
import { runCli } from '../support/cli.ts';
import { anonymousRelayConnector, removeHubDir, startHubProcess } from '../support/hub-process.ts';
import { sendTwoScans } from './support-scans.ts';

const IP = '127.0.0.117';

test('track finds what a hub logged, by sender, recipient, Message-ID and event', async () => {
  const port = await freePort(IP);
  const outbox = join(process.cwd(), 'var', `track-test-${process.pid}`);
  mkdirSync(outbox, { recursive: true });
  const manifests = `apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: hub, namespace: mail}
spec: {fqdn: hub.example.test, antiSpam: {spf: false}, trackingLog: {maxAge: 7d, maxSize: 10Mi}}
---
${anonymousRelayConnector({ namespace: 'mail', hub: 'hub', binding: `${IP}:${port}` })}---
apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata: {name: outbox, namespace: mail}
spec:
  addressSpaces: [{domain: "*", cost: 1}]
  dropDirectory: ${outbox}
`;
  const hub = await startHubProcess({ manifests, hub: 'hub' });
  try {
    await sendTwoScans(IP, port);
    await hub.waitForLog((l) => l.log === 'tracking' && l['event-id'] === 'SEND' && (l['recipient-address'] as string[]).includes('bob@example.org'));
    assert.equal(await hub.stop(), 0);
    const stateDir = join(hub.dir, 'state');

    const bySender = await runCli(['track', '--spool', stateDir, '--sender', 'printer@contoso.test', '--json']);
    assert.equal(bySender.status, 0, bySender.stderr);
    const stdoutTracking = hub.logs.filter((l) => l.log === 'tracking');
    assert.deepEqual(bySender.stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown), stdoutTracking, 'the file holds the same entries as stdout');
    assert.deepEqual(stdoutTracking.map((l) => l['event-id']).sort(), ['RECEIVE', 'RECEIVE', 'SEND', 'SEND']);

    const bob = await runCli(['track', '--spool', stateDir, '--recipient', 'BOB@example.org', '--event', 'SEND']);
    assert.equal(bob.status, 0, bob.stderr);
    const rows = bob.stdout.trim().split('\n');
    assert.match(rows[0] ?? '', /^TIMESTAMP\s+EVENT\s+SOURCE\s+SENDER\s+RECIPIENTS/);
    assert.equal(rows.length, 2, bob.stdout);
    assert.match(rows[1] ?? '', /SEND\s+QUEUE\s+Printer@Contoso\.test\s+bob@example\.org\s+\S+ <?scan-2@printer\.contoso\.test>?\s+mail\/outbox\s+drop\s+written to /);

    const byId = await runCli(['track', '--spool', stateDir, '--message-id', 'scan-1@printer.contoso.test', '--json', '--since', '1h']);
    assert.deepEqual(byId.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { 'event-id': string })['event-id']), ['RECEIVE', 'SEND']);

    const none = await runCli(['track', '--spool', stateDir, '--since', '2099-01-01']);
    assert.equal(none.status, 0);
    assert.equal(none.stdout.trim().split('\n').length, 1, 'the header only');
  } finally {
    await hub.kill();
    removeHubDir(hub);
    rmSync(outbox, { recursive: true, force: true });
  }
});

test('track refuses a bad flag value, naming the flag, with exit 2', async () => {
  const event = await runCli(['track', '--spool', '.', '--event', 'DELIVER']);
  assert.equal(event.status, 2);
  assert.match(event.stderr, /--event must be one of RECEIVE, SEND, DEFER, FAIL, DSN, not "DELIVER"/);
  const since = await runCli(['track', '--spool', '.', '--since', 'yesterday']);
  assert.equal(since.status, 2);
  assert.match(since.stderr, /--since must be a date \(2026-12-06, 2026-12-06T05:00:00Z\) or a duration back from now \(2h, 7d\), not "yesterday"/);
  const spool = await runCli(['track', '--spool', '/nonexistent/spool']);
  assert.equal(spool.status, 2);
  assert.match(spool.stderr, /--spool \/nonexistent\/spool: no tracking\/ folder there nor in \/nonexistent\/spool\/queue/);
});

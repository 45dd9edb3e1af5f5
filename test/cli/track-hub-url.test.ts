/*
 * `relay-operator track --hub-url URL`: the same search as `track --spool`, asked of a running
 * hub's HTTP endpoint (GET /track) instead of its disk. Mail goes through a live standalone hub
 * (accepted, written to a drop directory); while it runs, the search through its endpoint
 * finds the entries it wrote to stdout, by sender, recipient, event and time; a wrong bearer
 * token is refused (the queue API's access rules); flags that mix sources exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../controlplane/controlplane.ts';
import { runCli } from '../support/cli.ts';
import { anonymousRelayConnector, removeHubDir, startHubProcess } from '../support/hub-process.ts';
import { sendTwoScans } from './support-scans.ts';

const IP = '127.0.0.118';

test('track --hub-url searches a running hub\'s tracking log through its endpoint', { timeout: 60_000 }, async (t) => {
  const [port, metricsPort] = [await freePort(IP), await freePort(IP)];
  const outbox = join(process.cwd(), 'var', `track-hub-url-${process.pid}`);
  mkdirSync(outbox, { recursive: true });
  const manifests = `apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: hub, namespace: mail}
spec: {fqdn: hub.example.test, antiSpam: {spf: false}}
---
${anonymousRelayConnector({ namespace: 'mail', hub: 'hub', binding: `${IP}:${port}` })}---
apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata: {name: outbox, namespace: mail}
spec:
  addressSpaces: [{domain: "*", cost: 1}]
  dropDirectory: ${outbox}
`;
  const tokenFile = join(outbox, 'token');
  writeFileSync(tokenFile, 'the-hubs-token\n');
  const hub = await startHubProcess({ manifests, hub: 'hub', extraArgs: ['--metrics-addr', `${IP}:${metricsPort}`, '--queue-api-token-file', tokenFile] });
  t.after(async () => {
    await hub.kill();
    removeHubDir(hub);
    rmSync(outbox, { recursive: true, force: true });
  });
  const hubUrl = `http://${IP}:${metricsPort}`;
  await sendTwoScans(IP, port);
  await hub.waitForLog((l) => l.log === 'tracking' && l['event-id'] === 'SEND' && (l['recipient-address'] as string[]).includes('bob@example.org'));

  const bySender = await runCli(['track', '--hub-url', hubUrl, '--sender', 'printer@contoso.test', '--since', '1h', '--json']);
  assert.equal(bySender.status, 0, bySender.stderr);
  const stdoutTracking = hub.logs.filter((l) => l.log === 'tracking');
  assert.deepEqual(bySender.stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown), stdoutTracking, 'the endpoint answers the entries the hub wrote');

  const bob = await runCli(['track', '--hub-url', hubUrl, '--recipient', 'BOB@example.org', '--event', 'SEND']);
  assert.equal(bob.status, 0, bob.stderr);
  const rows = bob.stdout.trim().split('\n');
  assert.equal(rows.length, 2, bob.stdout);
  assert.match(rows[0] ?? '', /^TIMESTAMP\s+EVENT\s+SOURCE/, 'no POD column for one hub');
  assert.match(rows[1] ?? '', /SEND\s+QUEUE\s+Printer@Contoso\.test\s+bob@example\.org\s.*scan-2@printer\.contoso\.test/);

  const limited = await runCli(['track', '--hub-url', hubUrl, '--limit', '1', '--json']);
  assert.equal(limited.status, 0, limited.stderr);
  assert.equal(limited.stdout.trim().split('\n').length, 1);
  assert.match(limited.stderr, /stopped at 1 entries/);

  const none = await runCli(['track', '--hub-url', hubUrl, '--since', '2099-01-01']);
  assert.equal(none.status, 0);
  assert.equal(none.stdout.trim().split('\n').length, 1, 'the header only');

  const wrongTokenFile = join(outbox, 'wrong-token');
  writeFileSync(wrongTokenFile, 'not-the-token\n');
  const wrong = await runCli(['track', '--hub-url', hubUrl, '--token-file', wrongTokenFile]);
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /hub 401: the bearer token does not match/);
});

test('track: one source at a time, cluster flags only with --hub; exit 2 naming the flags', async () => {
  const both = await runCli(['track', '--spool', '.', '--hub-url', 'http://127.0.0.1:9090']);
  assert.equal(both.status, 2);
  assert.match(both.stderr, /give one of --spool DIR, --hub-url URL or --hub NAME, not --spool and --hub-url/);
  const ns = await runCli(['track', '--hub-url', 'http://127.0.0.1:9090', '-n', 'mail']);
  assert.equal(ns.status, 2);
  assert.match(ns.stderr, /--namespace goes with --hub NAME/);
  const token = await runCli(['track', '--hub', 'mail', '--token-file', '/dev/null']);
  assert.equal(token.status, 2);
  assert.match(token.stderr, /--token-file goes with --hub-url/);
  const kubeconfig = await runCli(['track', '--hub', 'mail', '--kubeconfig', '/nonexistent/kubeconfig']);
  assert.equal(kubeconfig.status, 2);
  assert.match(kubeconfig.stderr, /--kubeconfig \/nonexistent\/kubeconfig: .*ENOENT/);
});

/*
 * Issue 12, items 1 and 2, against a live standalone hub: its smart host is down when mail
 * arrives, so the mail is deferred for the full backoff (10 minutes). An administrator reads
 * the queue (`relay-operator queue list`, filters, pages, show), holds one message and removes
 * another with an NDR; the smart host comes back and the waiting mail goes out within seconds
 * (the probe), the held one only once released; a message deferred by a 451 goes out at once
 * on `queue retry`. Every action is in the tracking log with who did it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { freePort } from '../controlplane/controlplane.ts';
import { startHubProcess, removeHubDir, anonymousRelayConnector, type HubProcess } from '../support/hub-process.ts';
import { startCapturePeer, until, type CapturePeer } from '../support/smtp-peers.ts';
import { runCli } from '../support/cli.ts';

const HUB_IP = '127.0.0.91';
const SINK_IP = '127.0.0.92';

interface QueueRow { nextHop: string; count: number; byState: Record<string, number>; lastError: string | null; nextRetryAt: string | null }
interface MessageRow { id: string; state: string; sender: string; nextHops: string[]; lastError: string | null }
interface MessageDetail extends MessageRow { headers: string; recipientStates: Array<{ address: string; status: string; lastReply?: string; nextHop: string | null }> }

test('queue commands on a live hub; mail waiting on a next hop that comes back goes out within seconds; retry takes effect at once', { timeout: 120_000 }, async (t) => {
  const [hubPort, metricsPort, sinkPort] = [await freePort(HUB_IP), await freePort(HUB_IP), await freePort(SINK_IP)];
  const manifests = `
apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: q, namespace: ops}
spec:
  fqdn: q.relay.test
  antiSpam: {spf: false}
  queue: {retry: {minBackoff: 10m, maxBackoff: 1h, maxAge: 1d}}
---
${anonymousRelayConnector({ namespace: 'ops', hub: 'q', binding: `${HUB_IP}:${hubPort}` })}---
apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata: {name: printers-out, namespace: ops}
spec:
  addressSpaces: [{domain: "*", cost: 1}]
  smartHosts: ["${SINK_IP}:${sinkPort}"]
  tls: {mode: None}
`;
  const hub: HubProcess = await startHubProcess({ manifests, hub: 'q', extraArgs: ['--metrics-addr', `${HUB_IP}:${metricsPort}`] });
  let sink: CapturePeer | null = null;
  t.after(async () => {
    await hub.stop();
    await sink?.stop();
    removeHubDir(hub);
  });
  const hubUrl = `http://${HUB_IP}:${metricsPort}`;
  const queue = async (...args: string[]): Promise<unknown> => {
    const r = await runCli(['queue', ...args, '--hub-url', hubUrl, '--json']);
    assert.equal(r.status, 0, `queue ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as unknown;
  };
  const messages = async (...filters: string[]): Promise<{ messages: MessageRow[]; next: string | null }> => (await queue('list', '--messages', ...filters)) as { messages: MessageRow[]; next: string | null };

  const client = nodemailer.createTransport({ host: HUB_IP, port: hubPort, ignoreTLS: true });
  for (const rcpt of ['a', 'b', 'c']) await client.sendMail({ from: 'scanner@apps.test', to: `${rcpt}@remote.test`, subject: `scan ${rcpt}`, text: `body-secret-${rcpt}\n` });

  // deferred: the smart host refused the connection
  await until(async () => (await messages('--state', 'deferred')).messages.length === 3, 'three messages deferred');
  const queues = ((await queue('list')) as { queues: QueueRow[] }).queues;
  assert.equal(queues.length, 1);
  const row = queues[0] as QueueRow;
  assert.equal(row.nextHop, 'ops/printers-out', 'a smart-host SendConnector is one next hop, named by its id');
  assert.equal(row.count, 3);
  assert.equal(row.byState.deferred, 3);
  assert.match(row.lastError ?? '', /ECONNREFUSED|not tried: down/);
  assert.ok(row.nextRetryAt && Date.parse(row.nextRetryAt) - Date.now() > 5 * 60_000, `the next retry is the full backoff away: ${row.nextRetryAt}`);
  const human = await runCli(['queue', 'list', '--hub-url', hubUrl]);
  assert.match(human.stdout, /^NEXT HOP\s+COUNT.*\nops\/printers-out\s+3\s+3\s+0 /);

  // filters and pages
  const byRecipient = await messages('--recipient', 'B@remote.test');
  assert.equal(byRecipient.messages.length, 1);
  const [idA, idB, idC] = (await messages()).messages.map((m) => m.id) as [string, string, string];
  assert.deepEqual((await messages('--sender', '*@apps.test', '--next-hop', 'ops/printers-out')).messages.map((m) => m.id), [idA, idB, idC]);
  assert.equal((await messages('--sender', 'other@apps.test')).messages.length, 0);
  const page1 = await messages('--limit', '2');
  assert.deepEqual(page1.messages.map((m) => m.id), [idA, idB]);
  assert.equal(page1.next, idB);
  const page2 = await messages('--limit', '2', '--after', page1.next ?? '');
  assert.deepEqual([page2.messages.map((m) => m.id), page2.next], [[idC], null]);
  assert.equal((await messages('--older-than', '3600')).messages.length, 0, 'none is an hour old');

  const shown = (await queue('show', idA)) as MessageDetail;
  assert.match(shown.headers, /^Subject: scan a\r$/m);
  assert.doesNotMatch(JSON.stringify(shown), /body-secret/, 'headers only, never the body');
  assert.equal(shown.recipientStates[0]?.address, 'a@remote.test');
  assert.equal(shown.recipientStates[0]?.status, 'pending');
  assert.match(shown.recipientStates[0]?.lastReply ?? '', /ECONNREFUSED|not tried/);

  // hold c, remove b with an NDR
  assert.equal(((await queue('hold', idC)) as Array<{ state: string }>)[0]?.state, 'hold');
  const removed = await runCli(['queue', 'remove', idB, '--with-ndr', '--hub-url', hubUrl]);
  assert.equal(removed.status, 0, removed.stderr);
  assert.match(removed.stdout, /removed, non-delivery reports sent/);
  const gone = await runCli(['queue', 'show', idB, '--hub-url', hubUrl]);
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /hub 404: message .* is not in the queue/);

  // the next hop comes back: a and the NDR for b go out within seconds, not after 10 minutes; c stays held
  sink = await startCapturePeer({ host: SINK_IP, port: sinkPort, refuse: {} });
  const backAt = Date.now();
  await until(() => sink?.messages.some((m) => m.rcptTo.includes('a@remote.test')) ?? false, 'a delivered after the smart host came back', 20_000);
  assert.ok(Date.now() - backAt < 15_000, `delivered ${Date.now() - backAt} ms after the next hop came back`);
  await until(() => sink?.messages.some((m) => m.rcptTo.includes('scanner@apps.test') && /b@remote\.test/.test(m.data.toString())) ?? false, 'the NDR for b delivered to its sender');
  assert.ok(!sink.messages.some((m) => m.rcptTo.includes('c@remote.test')), 'held mail is not delivered');
  assert.equal((await messages('--state', 'hold')).messages[0]?.id, idC);

  await queue('release', idC);
  await until(() => sink?.messages.some((m) => m.rcptTo.includes('c@remote.test')) ?? false, 'c delivered once released', 5000);

  // a 451 defers d for 10 minutes; queue retry sends it at once
  const refuse = { 'd@remote.test': '451 4.2.0 mailbox busy' } as Record<string, string>;
  await sink.stop();
  sink = await startCapturePeer({ host: SINK_IP, port: sinkPort, refuse });
  await client.sendMail({ from: 'scanner@apps.test', to: 'd@remote.test', subject: 'scan d', text: 'd\n' });
  await until(async () => (await messages('--state', 'deferred')).messages.some((m) => /451/.test(m.lastError ?? '')), 'd deferred by 451');
  const idD = (await messages('--state', 'deferred')).messages[0]?.id as string;
  delete refuse['d@remote.test'];
  const retriedAt = Date.now();
  assert.match((await runCli(['queue', 'retry', idD, '--hub-url', hubUrl])).stdout, /due now/);
  await until(() => sink?.messages.some((m) => m.rcptTo.includes('d@remote.test')) ?? false, 'd delivered on queue retry', 5000);
  assert.ok(Date.now() - retriedAt < 5000);
  client.close();

  // the audit trail
  const text = (value: unknown): string => (typeof value === 'string' ? value : '');
  const said = hub.logs
    .filter((l) => l.log === 'tracking' && text(l['source-context']).startsWith('queue '))
    .map((l) => `${text(l['source-context'])} ${text(l['internal-message-id'])}`);
  for (const [action, id] of [['hold', idC], ['remove', idB], ['release', idC], ['retry', idD]]) {
    assert.ok(said.some((s) => new RegExp(`^queue ${action} by \\S+@127(\\.\\d+){3} ${id}$`).test(s)), `${action} of ${id} in the tracking log: ${said.join('; ')}`);
  }
});

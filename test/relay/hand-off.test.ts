/*
 * Issue 12, item 3 (no stranded mail), the relay half: a hub's queue handed to another hub
 * over POST /queue/hand-off, two real hubs on loopback.
 *
 * Hub A's smart host is down, so 50 messages wait in its deferred queue. A stops (as a pod
 * scaled away does before its hand-off) and `relay-operator hand-off` forwards its spool to
 * hub B, whose smart host (a capturing SMTP peer) is up: B delivers all 50, each once, and A's
 * spool is empty. In the second test the receiver dies after 20 hand-offs (a proxy in front of
 * B that stops answering): those 20 are delivered by B, the other 30 stay on A's disk, the
 * command exits 3 and logs how many are left and the oldest; none is lost, none sent twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { freePort } from '../controlplane/controlplane.ts';
import { startHubProcess, removeHubDir, anonymousRelayConnector, type HubProcess } from '../support/hub-process.ts';
import { startCapturePeer, until, type CapturePeer } from '../support/smtp-peers.ts';
import { runCli } from '../support/cli.ts';

const A_IP = '127.0.0.141';
const B_IP = '127.0.0.142';
const SINK_IP = '127.0.0.143';
const MESSAGES = 50;

function manifests(hub: string, binding: string, smartHost: string): string {
  return `
apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: ${hub}, namespace: ops}
spec:
  fqdn: ${hub}.relay.test
  antiSpam: {spf: false}
  queue: {retry: {minBackoff: 10m, maxBackoff: 1h, maxAge: 1d}}
---
${anonymousRelayConnector({ namespace: 'ops', hub, binding })}---
apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata: {name: out, namespace: ops}
spec:
  addressSpaces: [{domain: "*", cost: 1}]
  smartHosts: ["${smartHost}"]
  tls: {mode: None}
`;
}

const queuedIn = (spoolDir: string, ...states: string[]): number => states.reduce((n, s) => n + readdirSync(join(spoolDir, s)).length, 0);

interface Setup { a: HubProcess; b: HubProcess; sink: CapturePeer; bUrl: string; tokenFile: string; cleanup: () => Promise<void> }

async function setup(): Promise<Setup> {
  const [aPort, aDeadPort, bPort, bMetrics, sinkPort] = [await freePort(A_IP), await freePort(SINK_IP), await freePort(B_IP), await freePort(B_IP), await freePort(SINK_IP)];
  const secrets = mkdtempSync(join(tmpdir(), 'hand-off-token-'));
  const tokenFile = join(secrets, 'token');
  writeFileSync(tokenFile, 'hub-token-for-the-test\n', { mode: 0o600 });
  const sink = await startCapturePeer({ host: SINK_IP, port: sinkPort });
  // A's smart host is a port nobody listens on: every message is deferred for 10 minutes
  const a = await startHubProcess({ manifests: manifests('a', `${A_IP}:${aPort}`, `${SINK_IP}:${aDeadPort}`), hub: 'a' });
  const b = await startHubProcess({
    manifests: manifests('b', `${B_IP}:${bPort}`, `${SINK_IP}:${sinkPort}`), hub: 'b',
    extraArgs: ['--metrics-addr', `${B_IP}:${bMetrics}`, '--hand-off-token-file', tokenFile],
  });
  const client = nodemailer.createTransport({ host: A_IP, port: aPort, ignoreTLS: true, pool: true, maxConnections: 5 });
  await Promise.all(Array.from({ length: MESSAGES }, (_, i) => client.sendMail({ from: 'app@apps.test', to: [`user${i}@remote.test`, `copy${i}@remote.test`], subject: `hand-off ${i}`, text: `message ${i}\n` })));
  client.close();
  await until(() => queuedIn(a.spoolDir, 'deferred') === MESSAGES, `all ${MESSAGES} messages deferred on hub A`, 30_000);
  assert.equal(await a.stop(), 0, 'hub A stops cleanly');
  return {
    a, b, sink, tokenFile, bUrl: `http://${B_IP}:${bMetrics}`,
    cleanup: async () => {
      await b.stop();
      await sink.stop();
      removeHubDir(a);
      removeHubDir(b);
      rmSync(secrets, { recursive: true, force: true });
    },
  };
}

const subjects = (sink: CapturePeer): string[] => sink.messages.map((m) => /^Subject: (.*)$/m.exec(m.data.toString())?.[1] ?? '?');

test('a stopped hub\'s 50 queued messages are handed to another hub, which delivers each once; the first spool is left empty', { timeout: 120_000 }, async (t) => {
  const s = await setup();
  t.after(s.cleanup);

  const wrongToken = join(s.a.dir, 'wrong-token');
  writeFileSync(wrongToken, 'not-the-token\n');
  const refused = await runCli(['hand-off', '--spool', join(s.a.dir, 'state'), '--to', s.bUrl, '--token-file', wrongToken]);
  assert.equal(refused.status, 3, `a wrong token hands nothing off: ${refused.stdout}${refused.stderr}`);
  assert.match(refused.stdout, /refused the token \(401\)/);
  assert.equal(queuedIn(s.a.spoolDir, 'deferred'), MESSAGES, 'after a refused token every message is still on A');

  const run = await runCli(['hand-off', '--spool', join(s.a.dir, 'state'), '--to', s.bUrl, '--token-file', s.tokenFile]);
  assert.equal(run.status, 0, `hand-off: ${run.stdout}${run.stderr}`);
  assert.match(run.stdout, new RegExp(`hand-off done: ${MESSAGES} messages handed off, the spool is empty`));
  assert.equal(queuedIn(s.a.spoolDir, 'incoming', 'active', 'deferred', 'hold'), 0, 'A\'s spool is empty');

  await until(() => s.sink.messages.length >= MESSAGES, `hub B delivers all ${MESSAGES}`, 30_000);
  await new Promise((r) => setTimeout(r, 1500)); // a duplicate would arrive now
  const got = subjects(s.sink).sort();
  assert.deepEqual(got, Array.from({ length: MESSAGES }, (_, i) => `hand-off ${i}`).sort(), 'each message delivered exactly once');
  for (const m of s.sink.messages) {
    const i = /hand-off (\d+)/.exec(m.data.toString())?.[1];
    assert.deepEqual(m.rcptTo.sort(), [`copy${i}@remote.test`, `user${i}@remote.test`], 'both recipients go with the message');
  }
});

test('a receiver that dies mid-way: what it took is delivered, the rest stays on the sender\'s disk and is reported', { timeout: 120_000 }, async (t) => {
  const s = await setup();
  // a proxy in front of hub B that passes 20 hand-offs and then dies (closes every socket, stops listening)
  let passed = 0;
  const proxyPort = await freePort(B_IP);
  const proxy: Server = createServer((req, res) => {
    if (passed >= 20) {
      req.socket.destroy();
      return;
    }
    passed += 1;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void fetch(`${s.bUrl}${req.url ?? ''}`, { method: 'POST', headers: req.headers as Record<string, string>, body: Buffer.concat(chunks) }).then(async (answer) => {
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text());
        if (passed >= 20) {
          proxy.close();
          proxy.closeAllConnections();
        }
      });
    });
  });
  await new Promise<void>((resolve) => proxy.listen(proxyPort, B_IP, resolve));
  t.after(async () => {
    proxy.close();
    await s.cleanup();
  });

  const run = await runCli(['hand-off', '--spool', join(s.a.dir, 'state'), '--to', `http://${B_IP}:${proxyPort}`, '--token-file', s.tokenFile]);
  assert.equal(run.status, 3, `messages are left: exit 3: ${run.stdout}${run.stderr}`);
  const summary = run.stdout.split('\n').filter((l) => l.includes('hand-off ended')).map((l) => JSON.parse(l) as { handed: number; left: number; oldestLeft: string | null; stoppedBy: string | null });
  assert.equal(summary.length, 1, run.stdout);
  const [report] = summary as [{ handed: number; left: number; oldestLeft: string | null; stoppedBy: string | null }];
  assert.equal(report.handed, 20);
  assert.equal(report.left, MESSAGES - 20);
  assert.ok(report.oldestLeft && Date.now() - Date.parse(report.oldestLeft) < 120_000, `the oldest left is reported: ${report.oldestLeft}`);
  assert.match(report.stoppedBy ?? '', /no receiving pod answered/);
  assert.equal(queuedIn(s.a.spoolDir, 'deferred'), MESSAGES - 20, 'the rest is still on A\'s disk');

  await until(() => s.sink.messages.length >= 20, 'hub B delivers the 20 it took', 30_000);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(s.sink.messages.length, 20, 'B delivers exactly what it took');

  // the rest handed off later (the drain of that volume): all 50 delivered, each once
  const again = await runCli(['hand-off', '--spool', join(s.a.dir, 'state'), '--to', s.bUrl, '--token-file', s.tokenFile]);
  assert.equal(again.status, 0, `second hand-off: ${again.stdout}${again.stderr}`);
  await until(() => s.sink.messages.length >= MESSAGES, `hub B delivers all ${MESSAGES}`, 30_000);
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(subjects(s.sink).sort(), Array.from({ length: MESSAGES }, (_, i) => `hand-off ${i}`).sort(), 'none lost, none twice');
});

test('the relay process on SIGTERM, told it is scaled away: stops accepting, hands its queue off within the grace period, exits', { timeout: 120_000 }, async (t) => {
  const { runRelayProcess } = await import('../../relay/process/relay-main.ts');
  const [aPort, aDeadPort, aMetrics, bPort, bMetrics, sinkPort] = [await freePort(A_IP), await freePort(SINK_IP), await freePort(A_IP), await freePort(B_IP), await freePort(B_IP), await freePort(SINK_IP)];
  const dir = mkdtempSync(join(tmpdir(), 'hand-off-relay-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 'pod-token\n');
  const sink = await startCapturePeer({ host: SINK_IP, port: sinkPort });
  const b = await startHubProcess({ manifests: manifests('b', `${B_IP}:${bPort}`, `${SINK_IP}:${sinkPort}`), hub: 'b', extraArgs: ['--metrics-addr', `${B_IP}:${bMetrics}`, '--hand-off-token-file', tokenFile] });
  t.after(async () => {
    await b.stop();
    await sink.stop();
    removeHubDir(b);
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, 'a.yaml'), manifests('a', `${A_IP}:${aPort}`, `${SINK_IP}:${aDeadPort}`));
  const rendered = await runCli(['render', '--manifests', join(dir, 'a.yaml'), '--hub', 'a']);
  assert.equal(rendered.status, 0, rendered.stderr);
  writeFileSync(join(dir, 'config.json'), rendered.stdout);

  let stop: (signal: NodeJS.Signals) => void = () => {};
  const stopping = new Promise<NodeJS.Signals>((resolve) => (stop = resolve));
  let asked = 0;
  const exited = runRelayProcess({
    configFile: join(dir, 'config.json'), spoolRoot: join(dir, 'a-spool'), metricsAddress: { host: A_IP, port: aMetrics }, graceSeconds: 20, stopping,
    decideHandOff: () => {
      asked += 1;
      return Promise.resolve({ targets: [`http://${B_IP}:${bMetrics}`], token: 'pod-token' });
    },
  });
  await until(async () => (await fetch(`http://${A_IP}:${aMetrics}/readyz`).catch(() => null))?.status === 200, 'relay A ready', 15_000);
  const client = nodemailer.createTransport({ host: A_IP, port: aPort, ignoreTLS: true });
  for (let i = 0; i < 10; i++) await client.sendMail({ from: 'app@apps.test', to: `user${i}@remote.test`, subject: `scaled away ${i}`, text: `message ${i}\n` });
  await until(() => queuedIn(join(dir, 'a-spool', 'queue'), 'deferred') === 10, 'all 10 deferred on A', 30_000);

  const started = Date.now();
  stop('SIGTERM');
  assert.equal(await exited, 0);
  assert.ok(Date.now() - started < 20_000, 'within the grace period');
  assert.equal(asked, 1, 'the decision is asked once, on the signal');
  assert.equal(queuedIn(join(dir, 'a-spool', 'queue'), 'incoming', 'active', 'deferred', 'hold'), 0, 'A\'s spool is empty');
  await assert.rejects(client.sendMail({ from: 'app@apps.test', to: 'late@remote.test', text: 'late\n' }), 'A no longer accepts');
  await until(() => sink.messages.length >= 10, 'B delivers the 10', 30_000);
  assert.deepEqual(subjects(sink).sort(), Array.from({ length: 10 }, (_, i) => `scaled away ${i}`).sort());
});

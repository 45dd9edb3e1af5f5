/*
 * test/relay/crash - kill -9 during a load run loses no acknowledged message.
 *
 * Three rounds on one spool: nodemailer (pooled, 20 connections) sends distinct numbered
 * messages as fast as the hub takes them; about a second in, the hub gets SIGKILL. Every
 * message the client got 250 for must then be in the spool, under the queue id the 250 named,
 * intact (envelope, subject and every body line). Messages spooled without a 250 reaching the
 * client are allowed (the kill fell between fsync and reply). The hub is then restarted on the
 * same directory: it logs the recovery with its counts and accepts mail again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { freePort } from '../controlplane/controlplane.ts';
import { removeHubDir, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { manifestsYaml, readSpool, type SpooledMessage } from './support-certs.ts';

const NS = 'crash-tests';
const HUB = 'hub-crash';
const IP = '127.0.0.61';
const CONNECTIONS = 20;
const BODY_LINES = 40;

function manifests(port: number): string {
  return manifestsYaml([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB, namespace: NS }, spec: { replicas: 1, fqdn: 'hub-crash.relay.test', antiSpam: { spf: false, dnsbl: [] } } },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'load', namespace: NS },
      spec: {
        hubs: [HUB], usage: 'Custom', bindings: [`${IP}:${port}`], remoteIPRanges: ['127.0.0.0/8'], permissionGroups: ['AnonymousUsers'],
        permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }],
        limits: { tarpitInterval: '0s', maxInboundConnectionsPerSource: 200, maxInboundConnectionPercentagePerSource: 100 },
      },
    },
  ]);
}

const bodyLines = (token: string): string[] => Array.from({ length: BODY_LINES }, (_, i) => `${token} line ${String(i).padStart(3, '0')} ${'abcdefghij'.repeat(4)}`);

interface Acked {
  token: string;
  queueId: string;
}

interface LoadResult {
  sent: number;
  acked: Acked[];
  failed: number;
}

/** runLoad - keep CONNECTIONS messages in flight until stop() is called; record every 250. */
function runLoad(port: number, round: number): { firstAck: Promise<void>; stop: () => Promise<LoadResult> } {
  const transport = nodemailer.createTransport({
    host: IP, port, secure: false, ignoreTLS: true, pool: true, maxConnections: CONNECTIONS, maxMessages: Infinity,
    name: 'loadgen.relay.test', connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 10_000,
  });
  transport.on('error', () => undefined);
  const result: LoadResult = { sent: 0, acked: [], failed: 0 };
  let running = true;
  let counter = 0;
  let ackedOnce: () => void = () => undefined;
  const firstAck = new Promise<void>((resolve) => (ackedOnce = resolve));
  const worker = async (): Promise<void> => {
    while (running) {
      const token = `crash-r${round}-m${String(counter++).padStart(5, '0')}`;
      result.sent++;
      try {
        const info = await transport.sendMail({
          from: 'load@contoso.test',
          to: `rcpt-${token}@fabrikam.test`,
          subject: `crash ${token}`,
          messageId: `<${token}@loadgen.relay.test>`,
          text: `token ${token}\n${bodyLines(token).join('\n')}\n`,
        });
        const queueId = / as (\S+)$/.exec(info.response)?.[1];
        if (info.response.startsWith('250') && queueId) {
          result.acked.push({ token, queueId });
          ackedOnce();
        } else result.failed++;
      } catch {
        result.failed++;
        if (running) await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const workers = Array.from({ length: CONNECTIONS }, () => worker());
  return {
    firstAck,
    stop: async () => {
      running = false;
      await Promise.all(workers);
      transport.close();
      return result;
    },
  };
}

function checkIntact(message: SpooledMessage, token: string): void {
  assert.equal(message.mailFrom, 'load@contoso.test');
  assert.deepEqual(message.rcptTo, [`rcpt-${token}@fabrikam.test`]);
  assert.match(message.text, new RegExp(`^Subject: crash ${token}\\r$`, 'm'));
  assert.match(message.text, new RegExp(`^Message-ID: <${token}@loadgen\\.relay\\.test>\\r$`, 'im'));
  const body = message.text.slice(message.text.indexOf('\r\n\r\n') + 4);
  assert.equal(body, `token ${token}\r\n${bodyLines(token).join('\r\n')}\r\n`, `${token}: body intact`);
}

test('SIGKILL during a load run loses no acknowledged message; the restarted hub recovers and accepts mail (3 rounds)', { timeout: 90_000 }, async (t) => {
  const port = await freePort();
  let hub: HubProcess = await startHubProcess({ manifests: manifests(port), hub: HUB });
  t.after(async () => {
    await hub.kill();
    removeHubDir(hub);
  });
  const ackedBefore = new Map<string, string>(); // token -> queue id, every round
  let totalAcked = 0;

  for (const [round, killAfterMs] of [[1, 1000], [2, 800], [3, 1300]] as const) {
    const load = runLoad(port, round);
    await load.firstAck;
    await new Promise((r) => setTimeout(r, killAfterMs));
    await hub.kill();
    const result = await load.stop();
    assert.ok(result.acked.length > 0, `round ${round}: some messages were acknowledged before the kill`);

    const { messages, recovery, corrupt } = await readSpool(hub.spoolDir);
    const byId = new Map(messages.map((m) => [m.id, m]));
    for (const { token, queueId } of result.acked) {
      const message = byId.get(queueId);
      assert.ok(message, `round ${round}: ${token} got "250 ... as ${queueId}" and must be in the spool`);
      checkIntact(message, token);
      ackedBefore.set(token, queueId);
    }
    totalAcked += result.acked.length;
    for (const [token, queueId] of ackedBefore) assert.ok(byId.has(queueId), `${token} from an earlier round is still there`);
    assert.equal(corrupt, 0, 'no file in the spool is damaged');
    const thisRound = messages.filter((m) => m.text.includes(`token crash-r${round}-`));
    for (const m of thisRound) {
      const token = /^token (\S+)\r$/m.exec(m.text)?.[1] ?? '';
      checkIntact(m, token);
    }
    const extra = thisRound.length - result.acked.length;
    assert.ok(extra >= 0);
    t.diagnostic(`round ${round}: killed after ${killAfterMs} ms; sent ${result.sent}, acknowledged ${result.acked.length}, spooled ${thisRound.length} (${extra} accepted but not acknowledged), torn writes discarded ${recovery.discarded}`);

    hub = await hub.restart();
    const recovered = hub.logs.find((l) => l.log === 'app' && l.event === 'recovered');
    assert.ok(recovered, 'the restarted hub logs its spool recovery');
    assert.equal(recovered.kept, messages.length, 'it keeps every spooled message');
    assert.equal(recovered.corrupt, 0);
    assert.equal(typeof recovered.discarded, 'number');

    const check = nodemailer.createTransport({ host: IP, port, secure: false, ignoreTLS: true, name: 'after.relay.test' });
    try {
      const info = await check.sendMail({ from: 'after@contoso.test', to: 'someone@fabrikam.test', subject: `after restart ${round}`, text: `round ${round}` });
      assert.match(info.response, /^250 /, 'the restarted hub accepts mail');
    } finally {
      check.close();
    }
  }
  t.diagnostic(`total acknowledged over 3 kills: ${totalAcked}`);
});

/*
 * Issue 4's crash test: the hub is killed with SIGKILL again and again during a large load,
 * delivering to a sink that intermittently refuses (451) or drops the connection, and is
 * restarted each time. Every message acknowledged with 250 must reach the sink at least
 * once; duplicates (delivered, but the hub died before it recorded so) are counted and
 * reported. RELAY_CRASH_MESSAGES sets the load (default 10,000).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { freePort } from '../controlplane/controlplane.ts';
import { startHubProcess, removeHubDir, type HubProcess } from '../support/hub-process.ts';

const MESSAGES = Number(process.env.RELAY_CRASH_MESSAGES ?? 10_000);
const HUB_IP = '127.0.0.81';
const SINK_IP = '127.0.0.82';
const CLIENT_IP = '127.0.5.1';

interface Sink {
  received: Map<string, number>;
  transactions: number;
  stop(): Promise<void>;
}

/** A sink that refuses every 9th transaction with 451 and drops every 23rd connection mid-DATA. */
async function startFlakySink(port: number): Promise<Sink> {
  const received = new Map<string, number>();
  let transactions = 0;
  let connections = 0;
  const server = new SMTPServer({
    disableReverseLookup: true,
    logger: false,
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    onConnect(_session, callback) {
      connections++;
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      const connection = connections;
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        transactions++;
        if (connection % 23 === 0 && transactions % 5 === 0) {
          (session as unknown as { socket?: { destroy(): void } }).socket?.destroy?.();
          callback(Object.assign(new Error('4.3.0 dropping'), { responseCode: 421 }));
          return;
        }
        if (transactions % 9 === 0) {
          callback(Object.assign(new Error('4.3.0 try again later'), { responseCode: 451 }));
          return;
        }
        const token = /crash-token-(\d+)/.exec(Buffer.concat(chunks).toString('latin1'))?.[1];
        if (token) received.set(token, (received.get(token) ?? 0) + 1);
        callback();
      });
    },
  });
  // a hub killed mid-transaction resets its connection; smtp-server reports that on the server
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(port, SINK_IP, resolve));
  return {
    received,
    get transactions() {
      return transactions;
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

test(`SIGKILL again and again during ${MESSAGES} messages: every acknowledged message reaches the sink`, { timeout: 15 * 60_000 }, async () => {
  const [hubPort, sinkPort] = [await freePort(HUB_IP), await freePort(SINK_IP)];
  const sink = await startFlakySink(sinkPort);
  const manifests = `
apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: crash, namespace: crash}
spec:
  fqdn: crash.relay.test
  antiSpam: {spf: false}
  queue: {retry: {minBackoff: 1s, maxBackoff: 2s, maxAge: 1h}}
---
apiVersion: relayoperator.io/v1alpha1
kind: ReceiveConnector
metadata: {name: load, namespace: crash}
spec:
  hubs: [crash]
  bindings: ["${HUB_IP}:${hubPort}"]
  remoteIPRanges: [127.0.5.0/24]
  permissionGroups: [AnonymousUsers]
  permissions: [{principal: Anonymous, allow: [AcceptAnyRecipient]}]
  limits: {tarpitInterval: 0s, maxInboundConnectionsPerSource: 0, maxInboundConnectionPercentagePerSource: 100}
---
apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata: {name: sink, namespace: crash}
spec:
  addressSpaces: [{domain: "*", cost: 1}]
  smartHosts: ["${SINK_IP}:${sinkPort}"]
  tls: {mode: None}
`;
  let hub: HubProcess = await startHubProcess({ manifests, hub: 'crash' });
  const acknowledged = new Set<string>();
  let next = 0;
  let kills = 0;
  let loadDone = false;

  const connect = (): ReturnType<typeof nodemailer.createTransport> => {
    const transport = nodemailer.createTransport({ host: HUB_IP, port: hubPort, localAddress: CLIENT_IP, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: 200 });
    // a pooled connection the killed hub reset is reported here as well as to sendMail
    transport.on('error', () => undefined);
    return transport;
  };
  const sender = async (): Promise<void> => {
    let transport = connect();
    while (acknowledged.size < MESSAGES) {
      // A retry after a failed send gets a fresh token: a hub killed after its fsync but before
      // its 250 reached the client holds the first copy too (RFC 5321 6.1: the client cannot
      // know), and that copy must not be counted as a duplicate the relay made.
      for (let attempt = 0; ; attempt++) {
        const token = String(next++);
        try {
          const info = (await transport.sendMail({ from: 'load@crash.test', to: 'rcpt@remote.test', subject: `crash ${token}`, text: `crash-token-${token}\n` })) as { response: string };
          if (/^250 /.test(info.response)) acknowledged.add(token);
          break;
        } catch {
          // the hub is down (killed): a message without a 250 may be retried, as any client would
          transport.close();
          await new Promise((r) => setTimeout(r, 200));
          transport = connect();
          if (attempt > 200) throw new Error(`message ${token}: hub did not come back`);
        }
      }
    }
    transport.close();
  };

  const killer = async (): Promise<void> => {
    while (!loadDone) {
      await new Promise((r) => setTimeout(r, 4000 + Math.random() * 4000));
      if (loadDone) break;
      await hub.kill();
      kills++;
      hub = await hub.restart();
    }
  };

  const load = Promise.all(Array.from({ length: 8 }, () => sender())).finally(() => {
    loadDone = true;
  });
  await Promise.all([load, killer()]);

  const deadline = Date.now() + 5 * 60_000;
  const missing = (): string[] => [...acknowledged].filter((t) => !sink.received.has(t));
  while (missing().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  await hub.stop();
  removeHubDir(hub);
  await sink.stop();

  const lost = missing();
  const duplicates = [...sink.received.values()].reduce((n, count) => n + count - 1, 0);
  console.log(`crash test: ${next} sent, ${acknowledged.size} acknowledged, ${kills} SIGKILLs, ${sink.transactions} sink transactions, ${lost.length} lost, ${duplicates} duplicates (${((100 * duplicates) / Math.max(1, acknowledged.size)).toFixed(3)}%)`);
  assert.ok(kills >= 2, `only ${kills} kills happened`);
  assert.ok(acknowledged.size >= MESSAGES, `${acknowledged.size} acknowledged`);
  assert.deepEqual(lost.slice(0, 20), [], `${lost.length} acknowledged messages never reached the sink`);
  // The target is under 0.1% (reported above and in docs/benchmarks.md); a duplicate needs a
  // kill between the sink's 250 and the hub's durable record of it, so the rate depends on
  // how often the test kills. The assertion guards against re-delivering whole queues.
  assert.ok(duplicates / acknowledged.size < 0.01, `${duplicates} duplicates: above 1%`);
});

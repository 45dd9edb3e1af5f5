/*
 * test/relay/data-memory - DATA is streamed to the spool, not held in memory (issue 17, High 1).
 *
 * 1. The attack of the adversarial review: 60 sessions from 3 addresses each push 8 MiB of
 *    DATA (480 MiB in all) and never send the final dot; half of them on a connector with the
 *    default size limit, half on one without (maxMessageSize: 0). The hub's peak RSS (VmHWM in
 *    /proc/<pid>/status, which covers the whole attack) must stay under RSS_BOUND_MIB while a
 *    normal client is still served with 250; the body went to spill files in tmp/, and once
 *    the attackers hang up no spill file is left. Before the fix the hub held every byte
 *    (2.18 GiB for the review's 60 x 36 MiB; here well over 480 MiB).
 * 2. A 20 MiB message (within the 36 MiB default) arrives byte-identical behind the hub's own
 *    headers, and again after a restart of the hub.
 * 3. kill -9 in the middle of a large DATA: the acknowledged large message is intact after the
 *    restart, the unfinished one is not queued, and no spill file is left in tmp/.
 * 4. RelayHub spec.queue.maxDataMemory: sessions holding header blocks past the hub's limit
 *    get 451 4.3.1 with the protocol-log reason dataMemoryFull; mail goes through again once
 *    they are gone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  freePort, plainMessage, protocolLines, queuedMessages, sendMessage, startRelay, stopRelay, waitForRefusal, type HubProcess, type ManifestOptions,
} from './support-policy.ts';
import { SmtpClient, type SmtpReply } from '../support/smtp-client.ts';

const IP = '127.0.0.73';
const ATTACKERS = ['127.0.9.1', '127.0.9.2', '127.0.9.3'];
const NORMAL = '127.0.9.10';
const SESSIONS_PER_ATTACKER = 20;
const ATTACK_BYTES = 8 * 1024 * 1024;
/** The stated bound: the hub's peak RSS through the whole attack. */
const RSS_BOUND_MIB = 300;
const MIB = 1024 * 1024;

let port = 0;
/** A second listener whose connector has no size limit (maxMessageSize: 0): half the attack goes there. */
let unlimitedPort = 0;

function manifests(hubSpec: Record<string, unknown> = {}): ManifestOptions {
  return {
    hubSpec,
    connectors: [{
      name: 'apps',
      spec: {
        usage: 'Custom', bindings: [`${IP}:${port}`], remoteIPRanges: ['127.0.9.0/24'], permissionGroups: ['AnonymousUsers'],
        permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }],
        limits: { tarpitInterval: '0s', maxInboundConnectionsPerSource: 40, maxInboundConnectionPercentagePerSource: 100 },
      },
    }, {
      name: 'unlimited',
      spec: {
        usage: 'Custom', bindings: [`${IP}:${unlimitedPort}`], remoteIPRanges: ['127.0.9.0/24'], permissionGroups: ['AnonymousUsers'],
        permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }],
        limits: { tarpitInterval: '0s', maxMessageSize: 0, maxInboundConnectionsPerSource: 40, maxInboundConnectionPercentagePerSource: 100 },
      },
    }],
  };
}

/** procStatus - a field of /proc/<pid>/status in MiB (VmRSS, VmHWM). */
function procStatusMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, `${field} in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

function spillFiles(hub: HubProcess): string[] {
  return readdirSync(join(hub.spoolDir, 'tmp')).filter((name) => name.startsWith('spill-'));
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** openData - a session at the point where DATA content goes (after 354). */
async function openData(localAddress: string, from: string, toPort = port): Promise<SmtpClient> {
  const client = await SmtpClient.connect({ host: IP, port: toPort, localAddress });
  const greeting = client.greeting;
  assert.equal(greeting.code, 220, greeting.line);
  assert.equal((await client.send('EHLO attacker.data-memory.test')).code, 250);
  assert.equal((await client.send(`MAIL FROM:<${from}>`)).code, 250);
  assert.equal((await client.send('RCPT TO:<someone@elsewhere.test>')).code, 250);
  const data = await client.send('DATA');
  assert.equal(data.code, 354, data.line);
  return client;
}

/** push - write `total` bytes of body lines (no line starts with a dot), waiting for drain. */
async function push(client: SmtpClient, total: number): Promise<void> {
  const line = Buffer.from(`${'x'.repeat(76)}\r\n`);
  const chunk = Buffer.concat(Array.from({ length: Math.floor(65_536 / line.length) }, () => line));
  for (let sent = 0; sent < total && !client.isClosed; sent += chunk.length) {
    if (!client.socket.write(chunk)) await new Promise((resolve) => client.socket.once('drain', resolve));
  }
}

/** largeMessage - a message of about `bytes` with varied, dot-free CRLF lines (so the raw form is the stored form). */
function largeMessage(from: string, subject: string, bytes: number): Buffer {
  const head = Buffer.from(plainMessage(from, 'someone@elsewhere.test', subject, '').replace(/\r\n$/, ''));
  const lines: Buffer[] = [head];
  let size = head.length;
  for (let i = 0; size < bytes; i++) {
    const line = Buffer.from(`${String(i).padStart(8, '0')} ${Buffer.from(String(i * 7919)).toString('base64')} ${'abcdefghijklmnopqrstuvwxyz0123456789'.slice(i % 36)}\r\n`);
    lines.push(line);
    size += line.length;
  }
  return Buffer.concat(lines);
}

async function sendOne(localAddress: string, from: string, content: string | Buffer): Promise<SmtpReply> {
  const client = await SmtpClient.connect({ host: IP, port, localAddress });
  const greeting = client.greeting;
  try {
    assert.equal(greeting.code, 220, greeting.line);
    assert.equal((await client.send('EHLO app.data-memory.test')).code, 250);
    const replies = await sendMessage(client, from, ['someone@elsewhere.test'], content);
    const last = replies.at(-1);
    assert.ok(last);
    return last;
  } finally {
    await client.quit().catch(() => client.close());
  }
}

/** storedBody - the one queued message from this sender; its body must end with `original` exactly. */
function assertStoredIdentical(hub: HubProcess, from: string, original: Buffer): void {
  const messages = queuedMessages(hub, from);
  assert.equal(messages.length, 1, `one message from ${from}`);
  const body = (messages[0] as { body: Buffer }).body;
  const prefix = body.subarray(0, body.length - original.length).toString('latin1');
  assert.match(prefix, /^Received: from app\.data-memory\.test/, 'the hub\'s own headers come first');
  assert.match(prefix, /X-Relay-Antispam: /);
  assert.ok(body.subarray(body.length - original.length).equals(original), 'the client\'s message is stored byte for byte');
  assert.equal(messages[0]?.envelope.size, body.length);
}

describe('DATA memory', { timeout: 300_000 }, () => {
  let hub: HubProcess | undefined;
  before(async () => {
    port = await freePort(IP);
    unlimitedPort = await freePort(IP);
    hub = await startRelay(manifests());
  });
  after(async () => {
    await stopRelay(hub);
  });

  test(`60 unfinished DATA sessions of 8 MiB from 3 addresses (half without a size limit): peak RSS < ${RSS_BOUND_MIB} MiB, a normal client still gets 250`, async () => {
    assert.ok(hub?.child.pid);
    const pid = hub.child.pid;
    const before = procStatusMiB(pid, 'VmRSS');
    const attackers = await Promise.all(ATTACKERS.flatMap((address, a) => Array.from({ length: SESSIONS_PER_ATTACKER }, (_, i) => openData(address, `attacker-${a}-${i}@evil.test`, i % 2 === 0 ? port : unlimitedPort))));
    await Promise.all(attackers.map(async (client) => {
      client.write('Subject: never ends\r\n\r\n');
      await push(client, ATTACK_BYTES);
    }));
    // every byte is with the hub (or in the kernel's socket buffers): let it read them
    await sleep(3000);
    const peak = procStatusMiB(pid, 'VmHWM');
    const now = procStatusMiB(pid, 'VmRSS');
    console.log(`hub RSS before ${before.toFixed(0)} MiB, after the attack ${now.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB (bound ${RSS_BOUND_MIB} MiB; ${attackers.length} sessions x ${ATTACK_BYTES / MIB} MiB)`);
    assert.ok(peak < RSS_BOUND_MIB, `peak RSS ${peak.toFixed(0)} MiB must stay under ${RSS_BOUND_MIB} MiB`);
    assert.ok(spillFiles(hub).length > 0, 'the bodies went to spill files in tmp/');

    const reply = await sendOne(NORMAL, 'normal@apps.test', plainMessage('normal@apps.test', 'someone@elsewhere.test', 'served during the attack'));
    assert.equal(reply.code, 250, reply.line);
    assert.equal(queuedMessages(hub, 'normal@apps.test').length, 1);

    for (const client of attackers) client.close();
    await waitFor('the spill files of the closed sessions to be deleted', () => spillFiles(relay()).length === 0);
    assert.equal(queuedMessages(hub).filter((m) => m.envelope.mailFrom.startsWith('attacker-')).length, 0, 'nothing of an unfinished message is queued');
  });

  test('a 20 MiB message arrives byte-identical, and again after a restart', async () => {
    const original = largeMessage('large@apps.test', 'twenty MiB', 20 * MIB);
    const reply = await sendOne(NORMAL, 'large@apps.test', original);
    assert.equal(reply.code, 250, reply.line);
    assertStoredIdentical(relay(), 'large@apps.test', original);
    assert.deepEqual(spillFiles(relay()), [], 'the spill is deleted once the message is committed');
    assert.equal(await relay().stop(), 0);
    hub = await relay().restart();
    assertStoredIdentical(relay(), 'large@apps.test', original);
  });

  test('kill -9 in the middle of a large DATA: the acknowledged message is intact, the unfinished one is gone with its spill', async () => {
    const acked = largeMessage('acked@apps.test', 'acknowledged before the crash', 12 * MIB);
    const reply = await sendOne(NORMAL, 'acked@apps.test', acked);
    assert.equal(reply.code, 250, reply.line);
    const client = await openData(NORMAL, 'torn@apps.test');
    client.write('Subject: torn\r\n\r\n');
    await push(client, 6 * MIB);
    await waitFor('a spill file for the unfinished DATA', () => spillFiles(relay()).length > 0);
    await relay().kill();
    client.close();
    hub = await relay().restart();
    assert.ok(relay().logs.some((l) => l.log === 'app' && String(l.message).includes('tornWriteDiscarded') && String((l as { file?: unknown }).file).startsWith('spill-')), 'the spill was discarded at start');
    assert.deepEqual(spillFiles(relay()), []);
    assertStoredIdentical(relay(), 'acked@apps.test', acked);
    assert.equal(queuedMessages(relay(), 'torn@apps.test').length, 0);
  });

  function relay(): HubProcess {
    assert.ok(hub, 'hub not started');
    return hub;
  }
});

describe('DATA memory limit (RelayHub spec.queue.maxDataMemory)', { timeout: 120_000 }, () => {
  let hub: HubProcess | undefined;
  before(async () => {
    port = await freePort(IP);
    unlimitedPort = await freePort(IP);
    hub = await startRelay(manifests({ queue: { maxDataMemory: '1Mi' } }));
  });
  after(async () => {
    await stopRelay(hub);
  });

  test('header blocks past the hub\'s limit: 451 4.3.1 with reason dataMemoryFull; accepted again once they are gone', async () => {
    assert.ok(hub);
    const relay = hub;
    // 12 sessions each hold an unfinished 100 KiB header block (under maxHeaderSize 256Ki): 1.2 MiB
    const holders = await Promise.all(Array.from({ length: 12 }, (_, i) => openData(ATTACKERS[i % 3] as string, `holder-${i}@apps.test`)));
    const header = `X-Filler: ${'h'.repeat(1000)}\r\n`.repeat(100);
    for (const client of holders) client.write(header);
    await sleep(1000);
    for (const client of holders) client.write('\r\nbody\r\n.\r\n');
    const replies = await Promise.all(holders.map((client) => client.reply()));
    const refused = replies.filter((r) => r.code === 451);
    assert.ok(refused.length > 0, `some sessions are over the limit: ${JSON.stringify(replies.map((r) => r.line))}`);
    for (const r of refused) assert.match(r.line, /^451 4\.3\.1 /);
    const line = await waitForRefusal(relay, 'dataMemoryFull');
    assert.match(line.data, /451 4\.3\.1/);
    assert.ok(protocolLines(relay).some((l) => l.context === 'dataMemoryFull'));
    for (const client of holders) client.close();
    const reply = await sendOne(NORMAL, 'after@apps.test', plainMessage('after@apps.test', 'someone@elsewhere.test', 'after the limit'));
    assert.equal(reply.code, 250, reply.line);
  });
});

/*
 * Issue 14 item 5, kill -9 DURING fsync: the hub runs under strace, which holds every fsync and
 * fdatasync for 100 ms before the call and 100 ms after it (`-e inject=...:delay_enter:delay_exit`),
 * so a sync is in flight most of the time. While clients send, the test watches the hub's threads
 * (/proc/PID/task/TID/syscall) and sends SIGKILL at a moment when one of them is inside
 * fdatasync on a commit-log segment (log/NNNN.log: the group commit of new messages), then
 * restarts the hub; three times. The crash tests (crash.test.ts, crash-delivery.test.ts) kill at
 * random points of a load; this one kills exactly inside the sync that decides the 250.
 *
 * What a user would notice, asserted: every message that got 250 is in the spool after the
 * last restart exactly once, byte for byte; a message that did not get 250 is either whole or
 * absent, never half there; recovery finds nothing damaged. Clients whose session died retry
 * as a real client does, with a fresh token (a message killed between its sync and its 250 is
 * whole in the spool though its client never heard so: RFC 5321 6.1 allows that duplicate).
 *
 * Scope: a process kill, not a power cut. The kernel keeps what the hub wrote before it died, so
 * this proves the protocol around the sync (no 250 before it returns, recovery of a batch whose
 * sync never returned, no double recovery), not the disk's durability; that rests on fdatasync.
 *
 * Needs strace (installed by .ci/run).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { SmtpClient } from '../support/smtp-client.ts';
import { freePort, relayingConnector, relayManifests, HUB, sendMessage, spooledMessages, stopRelay } from './support-policy.ts';
import { tokenOf } from './support-next-hop.ts';

const IP = '127.0.0.135';
const CLIENTS = 4;
const KILLS = 3;
const SYNC_DELAY_US = 100_000;
/** x86-64 syscall numbers (strace and /proc speak them): fsync 74, fdatasync 75. */
const SYNC_SYSCALLS = new Set(['74', '75']);
const STRACE = ['strace', '-f', '--seccomp-bpf', '-qq', '-o', '/dev/null', '-e', 'trace=fsync,fdatasync', '-e', `inject=fsync,fdatasync:delay_enter=${SYNC_DELAY_US}:delay_exit=${SYNC_DELAY_US}`];

let hub: HubProcess | undefined;
let traced = false;
after(async () => {
  if (hub && traced) await killTraced(hub);
  await stopRelay(hub);
});

/** The message a client sends for `token`: lines of filler, so "half there" would show. */
function content(token: string): string {
  const lines = Array.from({ length: 40 }, (_, i) => `line ${i} of ${token} ${'abcdefghij'.repeat(6)}`);
  return `From: <app@apps.test>\r\nTo: <rcpt@remote.test>\r\nSubject: fsync ${token}\r\n\r\nnext-hop-token-${token}\r\n${lines.join('\r\n')}\r\nend of ${token}\r\n`;
}

/** The Node process strace started. */
function tracedPid(stracePid: number): number {
  const children = readFileSync(`/proc/${stracePid}/task/${stracePid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  assert.equal(children.length, 1, `strace ${stracePid} has children ${children.join(',')}`);
  return Number(children[0]);
}

/** A thread of `pid` inside fsync/fdatasync on a commit-log segment, as `tid file`, if any. */
function syncOnLogSegment(pid: number): string | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  for (const tid of tids) {
    try {
      const [nr, fdHex] = readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').split(' ');
      if (nr === undefined || !SYNC_SYSCALLS.has(nr) || fdHex === undefined) continue;
      const file = readlinkSync(`/proc/${pid}/fd/${Number.parseInt(fdHex, 16)}`);
      if (/\/log\/\d+\.log$/.test(file)) return `${tid} ${file}`;
    } catch {
      // the thread ended or the fd closed while we looked
    }
  }
  return undefined;
}

/** killTraced - SIGKILL the hub strace runs, then wait for strace to reap it and exit (SIGTERM to strace would detach and leave the hub running). */
async function killTraced(relay: HubProcess): Promise<void> {
  if (relay.child.exitCode === null && relay.child.signalCode === null) {
    try {
      process.kill(tracedPid(relay.child.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await waitForExit(relay, 10_000);
}

/** waitForExit - the process ends by itself within timeoutMs, or is SIGKILLed then. */
async function waitForExit(relay: HubProcess, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (relay.child.exitCode === null && relay.child.signalCode === null && Date.now() < end) await sleep(20);
  await relay.kill();
}

test(`SIGKILL inside fdatasync of the commit log, ${KILLS} times under load: every 250 is in the spool once and whole`, { timeout: 240_000 }, async () => {
  const port = await freePort(IP);
  const manifests = relayManifests({ connectors: [relayingConnector(`${IP}:${port}`, ['127.0.0.0/8'], { maxInboundConnectionsPerSource: 0, maxInboundConnectionPercentagePerSource: 100 })] });
  hub = await startHubProcess({ manifests, hub: HUB, wrapper: STRACE });
  traced = true;
  const plain = { manifests, hub: HUB, dir: hub.dir };

  const acknowledged = new Set<string>();
  const attempted = new Set<string>();
  const failures: string[] = [];
  let next = 0;
  let sending = true;
  const client = async (lane: number): Promise<void> => {
    let session: SmtpClient | null = null;
    while (sending) {
      try {
        if (!session) {
          session = await SmtpClient.connect({ host: IP, port });
          if (session.greeting.code !== 220 || (await session.send('EHLO app.fsync.test')).code !== 250) throw new Error('no session');
        }
        const token = `${lane}-${next++}`;
        attempted.add(token);
        const last = (await sendMessage(session, 'app@apps.test', ['rcpt@remote.test'], content(token))).at(-1);
        if (last?.code === 250) acknowledged.add(token);
        else throw new Error(`no 250: ${last?.line}`);
      } catch (error) {
        failures.push((error as Error).message);
        // the hub was killed under this session: reconnect once it is back, as a client would
        session?.close();
        session = null;
        await sleep(100);
      }
    }
    await session?.quit().catch(() => undefined);
  };
  const clients = Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
  const kills: string[] = [];
  try {
    for (let round = 0; round < KILLS; round++) {
      const strace = hub;
      const pid = tracedPid(strace.child.pid as number);
      const ackedAtStart = acknowledged.size;
      // after a restart every recovered message is tried (and deferred: its smart host is closed),
      // each move a file sync held by strace too: the first new 250s can take a while
      const progress = Date.now() + 30_000;
      while (acknowledged.size < ackedAtStart + 3 && Date.now() < progress) await sleep(50);
      assert.ok(acknowledged.size >= ackedAtStart + 3, `round ${round}: the hub under strace acknowledged fewer than 3 messages in 30 s; client failures: ${failures.slice(-3).join(' | ')}; hub exit ${String(strace.child.exitCode)}/${String(strace.child.signalCode)}; hub log ${strace.logs.slice(-6).map((l) => JSON.stringify(l)).join('\n')}`);
      await sleep(2000); // load on this hub before the kill
      const deadline = Date.now() + 20_000;
      let inSync: string | undefined;
      while (!(inSync = syncOnLogSegment(pid))) {
        assert.ok(Date.now() < deadline, `round ${round}: no fdatasync on a log segment seen in 20 s`);
        await sleep(2);
      }
      process.kill(pid, 'SIGKILL');
      kills.push(`pid ${pid} thread ${inSync} at ${acknowledged.size} acknowledged`);
      // strace reaps the killed hub and then exits: only then is its spool LOCK free of a live pid
      await waitForExit(strace, 10_000);
      traced = round < KILLS - 1;
      hub = await startHubProcess(traced ? { ...plain, wrapper: STRACE } : plain);
    }
    // the last restart runs without strace: the clients finish there
    const ackedAtLast = acknowledged.size;
    const lastProgress = Date.now() + 30_000;
    while (acknowledged.size < ackedAtLast + 3 && Date.now() < lastProgress) await sleep(50);
    sending = false;
    await clients;
    assert.ok(acknowledged.size > ackedAtLast, 'the hub accepts after the last restart');
  } finally {
    sending = false;
    await clients;
  }

  const { messages, recovery } = await spooledMessages(hub);
  const copies = new Map<string, number>();
  const damaged: string[] = [];
  for (const message of messages) {
    const token = tokenOf(message.body);
    if (token === undefined) {
      damaged.push(`${message.id}: no token`);
      continue;
    }
    copies.set(token, (copies.get(token) ?? 0) + 1);
    if (!message.body.toString('latin1').endsWith(content(token).split('\r\n\r\n').slice(1).join('\r\n\r\n'))) damaged.push(`${message.id}: ${token} not whole`);
  }
  const lost = [...acknowledged].filter((token) => !copies.has(token));
  const twice = [...copies].filter(([, n]) => n > 1).map(([token, n]) => `${token} x${n}`);
  const unacknowledgedKept = [...copies.keys()].filter((token) => !acknowledged.has(token));
  const strangers = unacknowledgedKept.filter((token) => !attempted.has(token));
  console.log(`crash-fsync: ${kills.length} kills inside fdatasync (${kills.join('; ')}); ${attempted.size} sent, ${acknowledged.size} acknowledged, ${messages.length} in the spool, ${unacknowledgedKept.length} kept whole without a 250, recovery ${JSON.stringify(recovery)}`);

  assert.equal(kills.length, KILLS);
  assert.deepEqual(lost.slice(0, 20), [], `${lost.length} acknowledged messages lost`);
  assert.deepEqual(twice, [], 'no message twice');
  assert.deepEqual(damaged, [], 'every message in the spool is whole');
  assert.deepEqual(strangers, [], 'nothing in the spool that no client sent');
  assert.equal(recovery.corrupt, 0, 'recovery found nothing damaged');
});

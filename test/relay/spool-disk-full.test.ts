/*
 * Issue 14 item 5, a REAL full disk: the hub's spool is a 16 MiB tmpfs, and another writer
 * (this test, as a neighbour sharing the volume would) fills it to the last byte between two of
 * the hub's free-space samples, so the hub's own reserve check (spool-full.test.ts) still
 * passes and the next commit meets the kernel's ENOSPC.
 *
 * What a user would notice, asserted: that client gets `452 4.3.1 Insufficient system storage`
 * (RFC 3463 "mail system full", the same reply as the reserve) and keeps its message; the log
 * says why (ENOSPC); the messages acknowledged before, waiting for a next hop that is down,
 * stay queued; once the space is freed the same hub process accepts again; when the next hop
 * answers every acknowledged message is delivered exactly once, none refused is; after a
 * restart the spool's recovery finds nothing damaged.
 *
 * Needs root (mount); the tmpfs is unmounted when the test ends.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, statfsSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../controlplane/controlplane.ts';
import { startHubProcess, type HubProcess, type LogLine } from '../support/hub-process.ts';
import { SmtpClient, type SmtpReply } from '../support/smtp-client.ts';
import { until } from '../support/smtp-peers.ts';
import { Spool } from '../../relay/spool/spool.ts';
import { FREE_SPACE_SAMPLE_MS } from '../../relay/spool/free-space.ts';
import { readQueueSnapshot } from '../../relay/spool/snapshot.ts';
import { smartHostManifests, startSwitchableSink, tokenMail, type SwitchableSink } from './support-next-hop.ts';

const HUB_IP = '127.0.0.133';
const SINK_IP = '127.0.0.134';
const TMPFS_BYTES = 16 * 1024 * 1024;

const dir = mkdtempSync(join(tmpdir(), 'relay-disk-full-'));
const stateDir = join(dir, 'state');
const filler = join(stateDir, 'neighbour-filler');
let mounted = false;
let hub: HubProcess | undefined;
let sink: SwitchableSink | undefined;

after(async () => {
  await hub?.stop();
  await sink?.stop();
  if (mounted) execFileSync('umount', [stateDir]);
  rmSync(dir, { recursive: true, force: true });
});

/** fillVolume - write to the filler file until the kernel says ENOSPC; the bytes written. */
function fillVolume(): number {
  const fd = openSync(filler, 'a');
  const chunk = Buffer.alloc(64 * 1024, 0x66);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        // the last partial page: smaller writes until not one byte fits
        for (let size = chunk.length / 2; size >= 1; size = Math.floor(size / 2)) {
          try {
            for (;;) written += writeSync(fd, chunk.subarray(0, size));
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
          }
        }
        return written;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** A session that has sent everything of one message but the final dot. */
async function messageUpToTheDot(port: number, token: string): Promise<SmtpClient> {
  const client = await SmtpClient.connect({ host: HUB_IP, port });
  assert.equal(client.greeting.code, 220, client.greeting.line);
  assert.equal((await client.send('EHLO app.disk-full.test')).code, 250);
  const mail = tokenMail(token, 3000);
  for (const reply of await client.envelope(mail.from, [mail.to])) assert.equal(reply.code, 250, reply.line);
  assert.equal((await client.send('DATA')).code, 354);
  client.write(`From: <${mail.from}>\r\nTo: <${mail.to}>\r\nSubject: ${mail.subject}\r\n\r\n${mail.text.replace(/\n/g, '\r\n')}`);
  return client;
}

async function finish(client: SmtpClient): Promise<SmtpReply> {
  client.write('.\r\n');
  const reply = await client.reply();
  await client.quit();
  return reply;
}

const isSpoolFullLine = (l: LogLine): boolean => l.log === 'protocol' && l.context === 'spoolFull';

/** The protocol log's spoolFull line after the first `seen` of them. */
async function nextSpoolFullLine(relay: HubProcess, seen: number): Promise<LogLine> {
  await until(() => relay.logs.filter(isSpoolFullLine).length > seen, 'the refusal in the protocol log');
  return relay.logs.filter(isSpoolFullLine)[seen] as LogLine;
}

async function sendOne(port: number, token: string): Promise<SmtpReply> {
  return finish(await messageUpToTheDot(port, token));
}

test('a spool volume filled by a neighbour: 452 4.3.1 on ENOSPC, nothing acknowledged lost, accepting again once space is freed, without a restart', { timeout: 120_000 }, async () => {
  mkdirSync(stateDir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES},mode=0700`, 'relay-disk-full', stateDir]);
  mounted = true;
  const [hubPort, sinkPort] = [await freePort(HUB_IP), await freePort(SINK_IP)];
  sink = await startSwitchableSink(SINK_IP, sinkPort);
  await sink.down(); // the next hop is down: what is acknowledged stays queued on the full volume
  writeFileSync(join(dir, 'manifests.yaml'), smartHostManifests({
    namespace: 'disk-full', hub: 'disk-full', binding: `${HUB_IP}:${hubPort}`, smartHost: `${SINK_IP}:${sinkPort}`,
    retry: { minBackoff: '1m', maxBackoff: '2m', maxAge: '1h' },
    // no reserve: the kernel's ENOSPC is what this test is about
    queue: { minFreeSpace: '0' },
  }));
  hub = await startHubProcess({ dir, manifests: '', hub: 'disk-full' });
  const pid = hub.child.pid;

  const acknowledged: string[] = [];
  for (let i = 0; i < 20; i++) {
    const reply = await sendOne(hubPort, `before-${i}`);
    assert.equal(reply.code, 250, reply.line);
    acknowledged.push(`before-${i}`);
  }
  const spoolDir = hub.spoolDir;
  await until(() => readQueueSnapshot(spoolDir).filter((m) => m.state === 'deferred').length === 20, 'the 20 messages to wait in deferred/');

  // The neighbour fills the volume right after a commit took a fresh free-space sample: the
  // next commit, within the same sample period, passes the reserve check and meets ENOSPC.
  // Should the machine be so slow that the sample expires first, the reserve refuses instead
  // (also 452 4.3.1, but not this test's point): free the space and try again.
  const refused: string[] = [];
  let spoolFullLines = 0;
  let enospc: string | undefined;
  for (let attempt = 0; attempt < 5 && enospc === undefined; attempt++) {
    await sleep(FREE_SPACE_SAMPLE_MS + 200);
    const waiting = await messageUpToTheDot(hubPort, `full-${attempt}`);
    const primer = await sendOne(hubPort, `primer-${attempt}`); // takes the fresh sample
    assert.equal(primer.code, 250, primer.line);
    acknowledged.push(`primer-${attempt}`);
    const filled = fillVolume();
    const reply = await finish(waiting);
    assert.equal(reply.code, 452, `after ${filled} bytes of filler: ${reply.line}`);
    assert.match(reply.line, /^452 4\.3\.1 Insufficient system storage/);
    refused.push(`full-${attempt}`);
    const logged = await nextSpoolFullLine(hub, spoolFullLines);
    spoolFullLines++;
    if (/ENOSPC/.test(String(logged.data))) enospc = String(logged.data);
    else unlinkSync(filler);
  }
  assert.ok(enospc, 'the kernel said ENOSPC to one commit in five tries');
  assert.match(enospc, /spool full: .*commit log write failed: ENOSPC/);
  assert.ok(statfsSync(stateDir).bavail * statfsSync(stateDir).bsize < 4096, 'the volume is full');

  // while full: more clients are refused the same way, none gets a 250 it should not
  for (let i = 0; i < 3; i++) {
    const reply = await sendOne(hubPort, `while-full-${i}`);
    assert.equal(reply.code, 452, reply.line);
    refused.push(`while-full-${i}`);
  }

  // space comes back: the same process accepts again
  unlinkSync(filler);
  await sleep(FREE_SPACE_SAMPLE_MS + 200);
  for (let i = 0; i < 10; i++) {
    const reply = await sendOne(hubPort, `after-${i}`);
    assert.equal(reply.code, 250, reply.line);
    acknowledged.push(`after-${i}`);
  }
  assert.equal(hub.child.pid, pid);
  assert.equal(hub.child.exitCode, null, 'the hub never stopped');

  // the next hop answers: everything acknowledged goes out, once
  await sink.up();
  const delivered = sink.received;
  await until(() => acknowledged.every((token) => delivered.has(token)), 'every acknowledged message at the next hop', 40_000).catch(() => undefined);
  const lost = acknowledged.filter((token) => !delivered.has(token));
  const duplicated = [...delivered].filter(([, n]) => n > 1).map(([token, n]) => `${token} x${n}`);
  const leaked = refused.filter((token) => delivered.has(token));
  console.log(`disk full: ${acknowledged.length} acknowledged, ${refused.length} refused with 452 4.3.1, ${lost.length} lost, ${duplicated.length} duplicated; ${enospc}`);
  assert.deepEqual(lost, [], 'acknowledged messages lost');
  assert.deepEqual(duplicated, [], 'each message arrives once');
  assert.deepEqual(leaked, [], 'a refused message is not delivered');
  assert.equal(delivered.size, acknowledged.length);

  // a restart finds a clean spool: the failed writes left nothing it calls damage
  // the failed batches left no empty segment behind (each would hold an inode until a restart)
  const segments = readdirSync(join(spoolDir, 'log')).map((name) => ({ name, bytes: statSync(join(spoolDir, 'log', name)).size }));
  assert.deepEqual(segments.filter((s) => s.bytes === 0), [], `log/: ${JSON.stringify(segments)}`);
  await hub.stop();
  const spool = await Spool.open(spoolDir);
  try {
    const queued = (await Promise.all((['incoming', 'active', 'deferred', 'hold'] as const).map((s) => spool.listMessages(s)))).flat();
    assert.deepEqual(queued, [], 'nothing left queued');
    console.log(`disk full: recovery after the restart ${JSON.stringify(spool.recovery)}`);
    assert.equal(spool.recovery.corrupt, 0, `recovery: ${JSON.stringify(spool.recovery)}`);
  } finally {
    await spool.close();
  }
});

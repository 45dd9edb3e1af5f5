/*
 * test/relay/spool-corrupt - issue 17 item 13 on a live hub: one flipped byte in the header
 * of a commit-log segment must not cost the acknowledged messages in it.
 *
 * A hub with delivery on hold acknowledges 50 messages (all in one segment of the log) and is
 * killed; one byte of that segment's 8-byte header is flipped, as a bad disk block would. The
 * hub restarted on the same spool must deliver all 50 to the next hop, say so in an
 * error-level `logDamaged` app log line (segment, offset, counts, the copy in corrupt/) and
 * count the damage on /metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { freePort } from '../controlplane/controlplane.ts';
import { removeHubDir, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { scanSegment } from '../../relay/spool/log-format.ts';
import { smartHostManifests, startSwitchableSink, tokenMail } from './support-next-hop.ts';

const HUB_IP = '127.0.0.113';
const SINK_IP = '127.0.0.114';
const MESSAGES = 50;

test('a flipped byte in a segment header: all 50 acknowledged messages in it are delivered after restart, logged at error and counted', { timeout: 60_000 }, async (t) => {
  const [hubPort, sinkPort, metricsPort] = [await freePort(HUB_IP), await freePort(SINK_IP), await freePort()];
  const sink = await startSwitchableSink(SINK_IP, sinkPort);
  const manifests = smartHostManifests({
    namespace: 'spool-corrupt', hub: 'corrupt', binding: `${HUB_IP}:${hubPort}`, smartHost: `${SINK_IP}:${sinkPort}`,
    retry: { minBackoff: '1s', maxBackoff: '2s', maxAge: '1h' },
  });
  let hub: HubProcess = await startHubProcess({ manifests, hub: 'corrupt', extraArgs: ['--hold-delivery'] });
  t.after(async () => {
    await hub.kill();
    removeHubDir(hub);
    await sink.stop();
  });

  const transport = nodemailer.createTransport({ host: HUB_IP, port: hubPort, ignoreTLS: true, pool: true, maxConnections: 5 });
  const acked = new Map<string, string>(); // queue id -> token
  try {
    await Promise.all(Array.from({ length: MESSAGES }, async (_, i) => {
      const info = (await transport.sendMail({ ...tokenMail(String(i)), to: `rcpt${i}@fabrikam.test` })) as { response: string };
      const queueId = / as (\S+)$/.exec(info.response)?.[1];
      assert.match(info.response, /^250 /);
      acked.set(queueId as string, String(i));
    }));
  } finally {
    transport.close();
  }
  assert.equal(acked.size, MESSAGES);
  await hub.kill(); // a crash: the messages are in the commit log, fdatasynced, acknowledged

  const logDir = join(hub.spoolDir, 'log');
  const withFrames = readdirSync(logDir).filter((n) => n.endsWith('.log')).filter((n) => scanSegment(readFileSync(join(logDir, n))).frames.length > 0);
  assert.equal(withFrames.length, 1, `one segment holds the messages (${withFrames.join(' ')})`);
  const segment = withFrames[0] as string;
  const bytes = readFileSync(join(logDir, segment));
  assert.deepEqual(new Set(scanSegment(bytes).frames.map((f) => f.id)), new Set(acked.keys()), 'all 50, and only they, are in that segment');
  bytes[3] = (bytes[3] ?? 0) ^ 0x01; // "RLO" + 'F' instead of 'G': one bit of the header
  writeFileSync(join(logDir, segment), bytes);

  hub = await startHubProcess({ manifests: '', hub: 'corrupt', dir: hub.dir, extraArgs: ['--metrics-addr', `127.0.0.1:${metricsPort}`] });
  const deadline = Date.now() + 30_000;
  while (sink.received.size < MESSAGES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const missing = [...acked.values()].filter((token) => !sink.received.has(token));
  assert.deepEqual(missing, [], 'every acknowledged message reaches the next hop');

  const line = hub.logs.find((l) => l.log === 'app' && l.event === 'logDamaged');
  assert.ok(line, 'the damage is logged');
  assert.equal(line.level, 'error');
  assert.equal(line.file, segment);
  assert.equal(line.offset, 0);
  assert.equal(line.bytes, 8);
  assert.equal(line.reason, 'badSegmentHeader');
  assert.equal(line.framesRecovered, MESSAGES);
  assert.equal(line.framesAfter, MESSAGES);
  assert.equal(line.quarantinedAs, `${segment}.0.damaged`);
  assert.deepEqual(readFileSync(join(hub.spoolDir, 'corrupt', `${segment}.0.damaged`)), bytes.subarray(0, 8), 'the damaged header is kept in corrupt/');
  const recovered = hub.logs.find((l) => l.log === 'app' && l.event === 'recovered');
  assert.equal(recovered?.kept, MESSAGES);
  assert.equal(recovered?.corrupt, 1);

  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(metrics, /^relay_spool_corrupt_bytes_total 8$/m);
  assert.match(metrics, new RegExp(`^relay_spool_recovered_frames_total ${MESSAGES}$`, 'm'));
});

/*
 * Issue 14 item 5, downstream outage: the hub's only next hop (a smart host) goes away for a
 * long stretch while applications keep sending, then comes back. Compressed: the outage lasts
 * RELAY_OUTAGE_MS (default 25 s) instead of minutes, and the retry schedule is short but still
 * longer than the drain this test allows (minBackoff 1m), so a drain within seconds can only
 * come from the hub noticing the host is back (issue 12 item 2, relay/delivery/host-health.ts),
 * not from the backoff running out.
 *
 * What a user would notice, asserted: every message gets 250 during the outage (the hub queues,
 * it does not push the outage back to the applications); every acknowledged message reaches
 * the smart host exactly once, none that was not acknowledged does; the queue built up during
 * the outage is delivered within seconds of the host answering again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import nodemailer from 'nodemailer';
import { freePort } from '../controlplane/controlplane.ts';
import { removeHubDir, startHubProcess } from '../support/hub-process.ts';
import { until } from '../support/smtp-peers.ts';
import { smartHostManifests, startSwitchableSink, tokenMail } from './support-next-hop.ts';

const HUB_IP = '127.0.0.131';
const SINK_IP = '127.0.0.132';
const OUTAGE_MS = Number(process.env.RELAY_OUTAGE_MS ?? 25_000);
/** The host is probed every 5 s (tuning hostProbeIntervalMs); delivering the backlog takes the rest. */
const DRAIN_BOUND_MS = 15_000;

test(`a smart host down for ${OUTAGE_MS / 1000} s while mail keeps arriving: all delivered once, drained within seconds of its return`, { timeout: 120_000 }, async (t) => {
  const [hubPort, sinkPort] = [await freePort(HUB_IP), await freePort(SINK_IP)];
  const sink = await startSwitchableSink(SINK_IP, sinkPort);
  const hub = await startHubProcess({
    hub: 'outage',
    manifests: smartHostManifests({
      namespace: 'outage', hub: 'outage', binding: `${HUB_IP}:${hubPort}`, smartHost: `${SINK_IP}:${sinkPort}`,
      retry: { minBackoff: '1m', maxBackoff: '2m', maxAge: '1h' },
    }),
  });
  t.after(async () => {
    await hub.stop();
    await sink.stop();
    removeHubDir(hub);
  });

  const acknowledged = new Map<string, number>(); // token -> when its 250 came
  const refused: string[] = [];
  let sending = true;
  let next = 0;
  const sender = async (lane: number): Promise<void> => {
    const transport = nodemailer.createTransport({ host: HUB_IP, port: hubPort, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: 100 });
    try {
      while (sending) {
        const token = `${lane}-${next++}`;
        try {
          const info = (await transport.sendMail(tokenMail(token, 2000))) as { response: string };
          if (/^250 /.test(info.response)) acknowledged.set(token, Date.now());
          else refused.push(`${token}: ${info.response}`);
        } catch (error) {
          refused.push(`${token}: ${(error as Error).message}`);
        }
        await sleep(100);
      }
    } finally {
      transport.close();
    }
  };
  const senders = Promise.all([sender(1), sender(2)]);
  const delivered = (tokens: Iterable<string>): boolean => [...tokens].every((token) => sink.received.has(token));

  // the hop works: what was sent before the outage arrives
  await sleep(3000);
  const beforeOutage = [...acknowledged.keys()];
  await until(() => delivered(beforeOutage), 'the messages sent before the outage to arrive');

  await sink.down();
  const downAt = Date.now();
  await sleep(OUTAGE_MS);
  const upAt = Date.now();
  await sink.up();
  const duringOutage = [...acknowledged].filter(([, at]) => at >= downAt && at < upAt).map(([token]) => token);
  const stillQueued = duringOutage.filter((token) => !sink.received.has(token)).length;

  await sleep(4000);
  sending = false;
  await senders;
  await until(() => delivered(acknowledged.keys()), 'every acknowledged message to arrive', 60_000).catch(() => undefined);

  const lost = [...acknowledged.keys()].filter((token) => !sink.received.has(token));
  const duplicated = [...sink.received].filter(([, count]) => count > 1).map(([token, count]) => `${token} x${count}`);
  const unacknowledged = [...sink.received.keys()].filter((token) => !acknowledged.has(token));
  const backlogDrainedAt = Math.max(...duringOutage.map((token) => sink.firstArrival.get(token) ?? Infinity));
  const drainMs = backlogDrainedAt - upAt;
  console.log(`outage: ${acknowledged.size} acknowledged (${duringOutage.length} during ${OUTAGE_MS} ms down, ${stillQueued} of them queued at the return), ${refused.length} refused, backlog drained ${drainMs} ms after the host came back, ${lost.length} lost, ${duplicated.length} duplicated`);

  assert.deepEqual(refused, [], 'the hub accepts mail while its next hop is down');
  assert.ok(duringOutage.length >= OUTAGE_MS / 1000, `only ${duringOutage.length} messages sent during the outage`);
  assert.equal(stillQueued, duringOutage.length, 'nothing was delivered while the host was down');
  assert.deepEqual(lost.slice(0, 20), [], `${lost.length} acknowledged messages never arrived`);
  assert.deepEqual(duplicated.slice(0, 20), [], 'each message arrives once');
  assert.deepEqual(unacknowledged, [], 'only acknowledged messages arrive');
  assert.ok(drainMs < DRAIN_BOUND_MS, `the backlog took ${drainMs} ms after the host came back (bound ${DRAIN_BOUND_MS} ms, backoff 1 min)`);
});

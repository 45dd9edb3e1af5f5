/*
 * Leader election on a real coordination.k8s.io/v1 Lease with short durations: one leader at a
 * time, a standby takes over about a lease duration after the leader stops renewing, at once
 * after a release, and a leader whose lease is taken steps down within the renew deadline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig} from '@kubernetes/client-node';
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { useTestNamespaces } from '../support/cluster.ts';
import { LeaderElector, type LeaderElectorOptions } from '../../operator/runtime/leader-election.ts';
import type { TestContext } from 'node:test';

let kc: KubeConfig;
const ns = `rt-leader-${randomBytes(3).toString('hex')}`;

async function until(what: string, check: () => boolean, ms = 10_000): Promise<number> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
  return performance.now() - start;
}

interface Candidate { elector: LeaderElector; started: number; stopped: Array<'lost' | 'stopped'>; registry: Registry }

function candidate(t: TestContext, lease: string, identity: string, timing: Partial<LeaderElectorOptions> = {}): Candidate {
  const registry = new Registry();
  const state = { started: 0, stopped: [] as Array<'lost' | 'stopped'> };
  const elector = new LeaderElector({
    kubeConfig: kc, namespace: ns, name: lease, identity, registry,
    leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 400, ...timing,
    onStartedLeading: () => void state.started++,
    onStoppedLeading: (reason) => void state.stopped.push(reason),
  });
  void elector.run();
  t.after(() => elector.stop({ release: false }));
  return Object.assign(state, { elector, registry });
}

async function gauge(c: Candidate): Promise<number | undefined> {
  return (await c.registry.getSingleMetric('leader_election_master_status')?.get())?.values[0]?.value;
}

useTestNamespaces([ns], { ready: (_cluster, k) => void (kc = k) });

void test('one leader; the standby takes over about a lease duration after the leader stops renewing', async (t) => {
  const a = candidate(t, 'crash', 'a');
  await until('a leads', () => a.elector.isLeader());
  const b = candidate(t, 'crash', 'b');
  await sleep(3000);
  assert.equal(b.elector.isLeader(), false, 'b must not lead while a renews');
  assert.equal(b.started, 0);
  assert.equal(await gauge(a), 1);
  assert.equal(await gauge(b), 0);

  await a.elector.stop({ release: false }); // a crashed: its lease is not released
  const took = await until('b takes over', () => b.elector.isLeader(), 8000);
  assert.ok(took > 1500 && took < 3000 + 2 * 400 * 2.2 + 1500, `takeover after ${Math.round(took)} ms (lease 3000 ms)`);
  assert.equal(b.started, 1);
  assert.deepEqual(a.stopped, ['stopped']);
  const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'crash', namespace: ns });
  assert.equal(lease.spec?.holderIdentity, 'b');
  assert.equal(lease.spec?.leaseTransitions, 1);
  assert.match(String(lease.spec?.renewTime), /\.\d{6}Z$/, 'MicroTime with six fractional digits');
});

void test('a released lease is taken at the next retry, long before it would expire', async (t) => {
  const a = candidate(t, 'release', 'a', { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 400 });
  await until('a leads', () => a.elector.isLeader());
  const b = candidate(t, 'release', 'b', { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 400 });
  await sleep(500);
  await a.elector.stop();
  const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'release', namespace: ns });
  assert.ok(lease.spec?.holderIdentity === '' || lease.spec?.holderIdentity === 'b', `holder ${lease.spec?.holderIdentity}`);
  const took = await until('b takes over', () => b.elector.isLeader(), 5000);
  assert.ok(took < 2000, `took ${Math.round(took)} ms`);
  assert.equal(await gauge(a), 0);
});

void test('a leader whose lease is taken stops leading within the renew deadline (reason lost)', async (t) => {
  const a = candidate(t, 'stolen', 'a');
  await until('a leads', () => a.elector.isLeader());
  const api = kc.makeApiClient(CoordinationV1Api);
  const lease = await api.readNamespacedLease({ name: 'stolen', namespace: ns });
  lease.spec = { ...lease.spec, holderIdentity: 'intruder', renewTime: new V1MicroTime(), leaseDurationSeconds: 30 };
  await api.replaceNamespacedLease({ name: 'stolen', namespace: ns, body: lease });
  const took = await until('a steps down', () => a.stopped.length > 0, 6000);
  assert.deepEqual(a.stopped, ['lost']);
  assert.ok(took < 2000 + 2 * 400 + 1000, `stepped down after ${Math.round(took)} ms`);
  assert.equal(await gauge(a), 0);
});

void test('timings are validated at the door', () => {
  const base = { kubeConfig: kc, namespace: ns, name: 'x', onStartedLeading: () => {}, onStoppedLeading: () => {} };
  assert.throws(() => new LeaderElector({ ...base, leaseDurationMs: 5000, renewDeadlineMs: 5000 }), /leaseDurationMs must be greater/);
  assert.throws(() => new LeaderElector({ ...base, renewDeadlineMs: 2000, retryPeriodMs: 2000 }), /1.2 x retryPeriodMs/);
});

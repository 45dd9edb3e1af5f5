import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConditionReason, ConditionType, conditionTime, findCondition, isConditionTrue, removeCondition, setCondition, setKstatusConditions } from './conditions.ts';
import { deepFreeze } from './objects.ts';

const t0 = new Date('2026-11-28T10:00:00.123Z');
const t1 = new Date('2026-11-28T10:05:00.999Z');

void test('a new condition is appended with lastTransitionTime now (whole seconds) and observedGeneration', () => {
  const list = setCondition(undefined, { type: ConditionType.Ready, status: 'False', reason: ConditionReason.Reconciling, message: 'rolling out' }, 3, t0);
  assert.deepEqual(list, [{ type: 'Ready', status: 'False', observedGeneration: 3, lastTransitionTime: '2026-11-28T10:00:00Z', reason: 'Reconciling', message: 'rolling out' }]);
});

void test('same status keeps lastTransitionTime; reason, message and generation are updated', () => {
  const before = setCondition([], { type: 'Ready', status: 'False', reason: 'Reconciling', message: 'a' }, 1, t0);
  const after = setCondition(before, { type: 'Ready', status: 'False', reason: 'PodsNotReady', message: 'b' }, 2, t1);
  assert.equal(after[0]?.lastTransitionTime, '2026-11-28T10:00:00Z');
  assert.equal(after[0]?.reason, 'PodsNotReady');
  assert.equal(after[0]?.message, 'b');
  assert.equal(after[0]?.observedGeneration, 2);
});

void test('a status flip moves lastTransitionTime', () => {
  const before = setCondition([], { type: 'Ready', status: 'False', reason: 'Reconciling', message: '' }, 1, t0);
  const after = setCondition(before, { type: 'Ready', status: 'True', reason: 'Reconciled', message: '' }, 1, t1);
  assert.equal(after[0]?.lastTransitionTime, '2026-11-28T10:05:00Z');
});

void test('upsert by type keeps the others and their order; inputs are not mutated (frozen cache works)', () => {
  let list = setCondition([], { type: 'Ready', status: 'True', reason: 'Reconciled', message: '' }, 1, t0);
  list = setCondition(list, { type: 'Degraded', status: 'False', reason: 'AsExpected', message: '' }, 1, t0);
  const frozen = deepFreeze(list);
  const next = setCondition(frozen, { type: 'Ready', status: 'False', reason: 'PodsNotReady', message: '1 of 2' }, 2, t1);
  assert.deepEqual(next.map((c) => c.type), ['Ready', 'Degraded']);
  assert.equal(frozen[0]?.status, 'True');
  assert.notEqual(next[1], frozen[1]);
});

void test('recomputing an unchanged condition yields identical JSON (so the status apply is a no-op)', () => {
  const input = { type: 'Ready', status: 'True' as const, reason: 'Reconciled', message: 'ok' };
  const a = setCondition([], input, 4, t0);
  const b = setCondition(a, input, 4, t1);
  assert.deepEqual(b, a);
});

void test('invalid reason, type and status are refused with a stable code', () => {
  assert.throws(() => setCondition([], { type: 'Ready', status: 'True', reason: 'not camel case', message: '' }, 1), { code: 'RELAY_ERR_RUNTIME_CONDITION' });
  assert.throws(() => setCondition([], { type: 'Ready', status: 'True', reason: 'Trailing_:', message: '' }, 1), /CamelCase/);
  assert.throws(() => setCondition([], { type: 'bad type!', status: 'True', reason: 'Ok', message: '' }, 1), /condition type/);
  assert.throws(() => setCondition([], { type: 'Ready', status: 'Yes' as 'True', reason: 'Ok', message: '' }, 1), /True, False or Unknown/);
  for (const reason of Object.values(ConditionReason)) assert.doesNotThrow(() => setCondition([], { type: 'Ready', status: 'True', reason, message: '' }, 1));
});

void test('long messages are cut to 32768 characters; no generation means no observedGeneration', () => {
  const [c] = setCondition([], { type: 'Ready', status: 'Unknown', reason: 'Reconciling', message: 'x'.repeat(40_000) }, undefined, t0);
  assert.equal(c?.message.length, 32768);
  assert.equal('observedGeneration' in (c ?? {}), false);
});

void test('find, isTrue (optionally for a generation) and remove', () => {
  const list = setCondition([], { type: 'Ready', status: 'True', reason: 'Reconciled', message: '' }, 5, t0);
  assert.equal(findCondition(list, 'Ready')?.reason, 'Reconciled');
  assert.equal(isConditionTrue(list, 'Ready'), true);
  assert.equal(isConditionTrue(list, 'Ready', 6), false);
  assert.equal(isConditionTrue(list, 'Degraded'), false);
  assert.deepEqual(removeCondition(list, 'Ready'), []);
  assert.equal(conditionTime(new Date('2026-01-02T03:04:05.678Z')), '2026-01-02T03:04:05Z');
});

void test('setKstatusConditions: Stalled and Reconciling written False when nothing is wrong or under way', () => {
  const list = setKstatusConditions([], { settled: { reason: 'PodsCurrent', message: 'every pod runs config x' } }, 4, t0);
  assert.deepEqual(list.map((c) => [c.type, c.status, c.reason, c.observedGeneration]), [['Stalled', 'False', 'AsExpected', 4], ['Reconciling', 'False', 'PodsCurrent', 4]]);
});

void test('setKstatusConditions: never both True (kstatus would take the first True in list order): Stalled wins', () => {
  const rolling = setKstatusConditions([], { reconciling: { reason: 'RollingOut', message: 'waiting' }, settled: { reason: 'PodsCurrent', message: '' } }, 1, t0);
  assert.deepEqual(rolling.map((c) => [c.type, c.status]), [['Stalled', 'False'], ['Reconciling', 'True']]);
  const stalled = setKstatusConditions(rolling, { stalled: { reason: 'SecretNotFound', message: 'Secret s not found' }, reconciling: { reason: 'RollingOut', message: 'waiting' }, settled: { reason: 'PodsCurrent', message: '' } }, 2, t1);
  assert.deepEqual(stalled.map((c) => [c.type, c.status, c.reason]), [['Stalled', 'True', 'SecretNotFound'], ['Reconciling', 'False', 'Stalled']]);
  assert.equal(findCondition(stalled, 'Stalled')?.message, 'Secret s not found');
});

void test('setKstatusConditions without Reconciling (kinds that do not follow hub pods) writes Stalled only', () => {
  const list = setKstatusConditions([], { stalled: { reason: 'NoRelayHub', message: 'no hub' }, settled: { reason: 'Rendered', message: '' } }, 1, t0, false);
  assert.deepEqual(list.map((c) => [c.type, c.status, c.reason]), [['Stalled', 'True', 'NoRelayHub']]);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configReportPatch, reportedConfigHash } from './config-report.ts';

const pod = { metadata: { name: 'east-relay-0', uid: 'uid-1' } };

test('a pod runs the hash its own report Lease carries; a report of an earlier pod of the same name does not count', () => {
  const patch = configReportPatch('east-relay-0', 'uid-1', 'abc123', new Date('2026-01-02T03:04:05.678Z'));
  assert.equal(reportedConfigHash(pod, patch), 'abc123');
  // the StatefulSet recreated the pod: same name, new uid, not reported yet
  assert.equal(reportedConfigHash({ metadata: { name: 'east-relay-0', uid: 'uid-2' } }, patch), undefined);
  assert.equal(reportedConfigHash(pod, undefined), undefined, 'no Lease: not reported');
  assert.equal(reportedConfigHash(pod, { metadata: {} }), undefined, 'a Lease the operator created, not written yet');
});

test('renewTime is a MicroTime (six fractional digits), as the API server parses it', () => {
  const patch = configReportPatch('east-relay-0', 'uid-1', 'h', new Date('2026-01-02T03:04:05.678Z')) as { spec: { renewTime: string } };
  assert.equal(patch.spec.renewTime, '2026-01-02T03:04:05.678000Z');
});

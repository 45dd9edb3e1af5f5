/*
 * RelayHub spec.trackingLog through render: milliseconds and bytes in the rendered config, absent
 * when unset (the relay's defaults, and the config hash of hubs that never set it stays the same),
 * a size under the smallest one a problem on the hub.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RelayHub } from '../api/types.generated.ts';
import { renderHub } from './render.ts';

function render(spec: RelayHub['spec']) {
  const hub: RelayHub = { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: 'hub', namespace: 'mail', creationTimestamp: '2026-01-01T00:00:00Z' }, spec };
  return renderHub(hub, { namespace: 'mail', hubs: [hub], receiveConnectors: [], acceptedDomains: [], sendConnectors: [], secrets: [] }, { secretFile: () => '/x' });
}

void test('spec.trackingLog renders as milliseconds and bytes; a missing half takes its default', () => {
  assert.deepEqual(render({ trackingLog: { maxAge: '7d', maxSize: '2Gi' } }).config.hub.trackingLog, { maxAgeMs: 7 * 86_400_000, maxSizeBytes: 2 * 1024 ** 3 });
  assert.deepEqual(render({ trackingLog: { maxAge: '12h' } }).config.hub.trackingLog, { maxAgeMs: 12 * 3_600_000, maxSizeBytes: 100 * 1024 ** 2 });
});

void test('a hub without spec.trackingLog renders none (the relay runs 30d and 100Mi)', () => {
  assert.equal('trackingLog' in render({}).config.hub, false);
});

void test('spec.trackingLog.maxSize under 1Mi is a problem naming the field, and the hub keeps 1Mi', () => {
  const result = render({ trackingLog: { maxSize: '100Ki' } });
  assert.equal(result.config.hub.trackingLog?.maxSizeBytes, 1024 * 1024);
  const problem = result.problems.find((p) => p.rule === 'trackingLogTooSmall');
  assert.equal(problem?.object, 'RelayHub mail/hub');
  assert.equal(problem?.field, 'spec.trackingLog.maxSize');
  assert.match(problem?.message ?? '', /"100Ki" is under the smallest size, 1Mi/);
});

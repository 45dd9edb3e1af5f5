/*
 * operator/controllers/stranded-mail - which spool PVCs are orphaned, and the condition.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orphanedSpoolClaims, strandedMailCondition } from './stranded-mail.ts';

const claim = (name: string, hub = 'east', deleting = false) => ({
  metadata: { name, namespace: 'mail', labels: { 'relayoperator.io/hub': hub }, ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
});

test('a spool PVC is orphaned when its ordinal is at or above the replicas, of this hub, not being deleted', () => {
  const claims = [claim('spool-east-relay-0'), claim('spool-east-relay-10'), claim('spool-east-relay-2'), claim('spool-east-relay-3', 'east', true), claim('spool-west-relay-5', 'west'), claim('data-east-relay-4')];
  assert.deepEqual(orphanedSpoolClaims('east', 2, claims), ['spool-east-relay-2', 'spool-east-relay-10']);
  assert.deepEqual(orphanedSpoolClaims('east', 11, claims), []);
});

test('StrandedMail names the PVCs and the drain command', () => {
  assert.deepEqual(strandedMailCondition('east', []), { type: 'StrandedMail', status: 'False', reason: 'NoOrphanedSpool', message: 'every spool PVC belongs to a running ordinal' });
  const stranded = strandedMailCondition('east', ['spool-east-relay-2']);
  assert.equal(stranded.status, 'True');
  assert.equal(stranded.reason, 'OrphanedSpoolVolumes');
  assert.match(stranded.message, /spool-east-relay-2 .*relay-operator drain --hub east/);
});

/*
 * operator/resources/hand-off - the scale-down decision: a pod hands its queue off only when
 * its ordinal is at or above the StatefulSet's replicas, to pods 0..replicas-1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handOffDecision, hubOfStatefulSet, ordinalOf } from './hand-off.ts';

test('ordinals are read from the name\'s own prefix only', () => {
  assert.equal(ordinalOf('east-relay-3', 'east-relay'), 3);
  assert.equal(ordinalOf('east-relay-03', 'east-relay'), null);
  assert.equal(ordinalOf('east-relay-x', 'east-relay'), null);
  assert.equal(ordinalOf('east-relay-extra-1', 'east-relay'), null);
  assert.equal(ordinalOf('west-relay-1', 'east-relay'), null);
  assert.equal(hubOfStatefulSet('east-relay'), 'east');
  assert.equal(hubOfStatefulSet('east'), null);
});

test('a restart keeps the queue; a scale-down hands it to the remaining pods', () => {
  assert.deepEqual(handOffDecision('east', 'mail', 'east-relay-1', 2), { handOff: false, why: 'ordinal 1 < replicas 2: a restart, the queue waits on the volume' });
  assert.deepEqual(handOffDecision('east', 'mail', 'east-relay-2', 2), {
    handOff: true,
    targets: ['http://east-relay-0.east-relay-pods.mail.svc:9090', 'http://east-relay-1.east-relay-pods.mail.svc:9090'],
    why: 'ordinal 2 >= replicas 2: scaled away',
  });
  assert.equal(handOffDecision('east', 'mail', 'east-relay-4', 1).handOff, true);
  assert.equal(handOffDecision('east', 'mail', 'east-relay-0', 0).handOff, false, 'scaled to 0: nowhere to go');
  assert.equal(handOffDecision('east', 'mail', 'west-relay-3', 1).handOff, false, 'not this hub\'s pod');
});

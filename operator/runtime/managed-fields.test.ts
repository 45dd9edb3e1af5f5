import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyWouldChange, coversOwnedFields, isSubset, jsonEqual } from './managed-fields.ts';
import type { KubeObject } from './objects.ts';

const desired = {
  apiVersion: 'v1', kind: 'Service', metadata: { name: 'hub-east-default', namespace: 'mail', labels: { app: 'relay' } },
  spec: { type: 'LoadBalancer', ports: [{ name: 'smtp', port: 25, targetPort: 2525, protocol: 'TCP' }], selector: { app: 'relay' } },
};

const cached = {
  ...desired,
  metadata: {
    ...desired.metadata, uid: 'u', resourceVersion: '7', labels: { app: 'relay', 'added-by': 'someone-else' },
    managedFields: [
      { manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:added-by': {} } } } },
      {
        manager: 'relay-operator', operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:metadata': { 'f:labels': { 'f:app': {} } },
          'f:spec': { 'f:ports': { 'k:{"port":25,"protocol":"TCP"}': { '.': {}, 'f:name': {}, 'f:port': {}, 'f:protocol': {}, 'f:targetPort': {} } }, 'f:selector': {}, 'f:type': {} },
        },
      },
    ],
  },
  spec: { ...desired.spec, clusterIP: '10.0.0.7', ports: [{ name: 'smtp', port: 25, targetPort: 2525, protocol: 'TCP', nodePort: 31000 }], sessionAffinity: 'None' },
  status: { loadBalancer: {} },
} as KubeObject;

void test('no change: values equal, server defaults and other managers ignored', () => {
  assert.equal(applyWouldChange(desired, cached, 'relay-operator'), false);
});

void test('a changed value, a new field or a new list item means apply', () => {
  assert.equal(applyWouldChange({ ...desired, spec: { ...desired.spec, type: 'ClusterIP' } }, cached, 'relay-operator'), true);
  assert.equal(applyWouldChange({ ...desired, metadata: { ...desired.metadata, labels: { app: 'relay', tier: 'x' } } }, cached, 'relay-operator'), true);
  const twoPorts = [...desired.spec.ports, { name: 'sub', port: 587, targetPort: 2587, protocol: 'TCP' }];
  assert.equal(applyWouldChange({ ...desired, spec: { ...desired.spec, ports: twoPorts } }, cached, 'relay-operator'), true);
});

void test('dropping a field we own means apply (the apply removes it)', () => {
  const { selector: _s, ...spec } = desired.spec;
  assert.equal(applyWouldChange({ ...desired, spec }, cached, 'relay-operator'), true);
  assert.equal(applyWouldChange({ ...desired, metadata: { name: 'hub-east-default', namespace: 'mail' } }, cached, 'relay-operator'), true);
});

void test('no cached object or no Apply entry of ours means apply', () => {
  assert.equal(applyWouldChange(desired, undefined, 'relay-operator'), true);
  assert.equal(applyWouldChange(desired, cached, 'someone-else'), true);
  assert.equal(applyWouldChange(desired, cached, 'relay-operator', 'status'), true);
});

void test('status subresource: compares only status against our status entry', () => {
  const cr = {
    apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub',
    metadata: { name: 'east', namespace: 'mail', managedFields: [
      { manager: 'relay-operator', operation: 'Apply', subresource: 'status', fieldsV1: { 'f:status': { 'f:observedGeneration': {}, 'f:conditions': { 'k:{"type":"Ready"}': { '.': {}, 'f:type': {}, 'f:status': {} } } } } },
    ] },
    spec: { replicas: 2 },
    status: { observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True' }] },
  } as KubeObject;
  const same = { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: 'east', namespace: 'mail' }, status: { observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True' }] } };
  assert.equal(applyWouldChange(same, cr, 'relay-operator', 'status'), false);
  assert.equal(applyWouldChange({ ...same, status: { observedGeneration: 3, conditions: same.status.conditions } }, cr, 'relay-operator', 'status'), true);
  assert.equal(applyWouldChange({ ...same, status: { observedGeneration: 2, conditions: [] } }, cr, 'relay-operator', 'status'), true);
});

void test('set lists (v:) and indexes (i:) in fieldsV1', () => {
  assert.equal(coversOwnedFields({ 'f:hubs': { 'v:"east"': {} } }, { hubs: ['east', 'west'] }), true);
  assert.equal(coversOwnedFields({ 'f:hubs': { 'v:"east"': {} } }, { hubs: ['west'] }), false);
  assert.equal(coversOwnedFields({ 'f:args': { 'i:1': {} } }, { args: ['a'] }), false);
  assert.equal(coversOwnedFields({ 'f:x': { '.': {} } }, { x: {} }), true);
});

void test('isSubset and jsonEqual basics', () => {
  assert.equal(isSubset({ a: [1, { b: 2 }] }, { a: [1, { b: 2, c: 3 }], d: 4 }), true);
  assert.equal(isSubset({ a: [1] }, { a: [1, 2] }), false);
  assert.equal(isSubset({ a: null }, {}), true);
  assert.equal(isSubset({ a: '1' }, { a: 1 }), false);
  assert.equal(jsonEqual({ a: 1, b: undefined }, { a: 1 }), true);
  assert.equal(jsonEqual([1, 2], [2, 1]), false);
});

/*
 * A Secret render needs and does not find: with the operator's Secret label selector the
 * Secret may exist without the label, and the problem says so, naming the Secret, the label
 * and the command that adds it; without a selector the message stays "not found".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RelayHub } from '../api/types.generated.ts';
import type { NamespaceObjects } from './inputs.ts';
import { renderHub } from './render.ts';
import { secretNotFound } from './secret-keys.ts';

const hub: RelayHub = { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: 'east', namespace: 'mail' }, spec: { fqdn: 'east.example.com', tls: { secretName: 'east-tls' } } };
const objects = (secretSelector?: string): NamespaceObjects => ({
  namespace: 'mail', hubs: [hub], receiveConnectors: [], acceptedDomains: [], sendConnectors: [], secrets: [],
  ...(secretSelector !== undefined ? { secretSelector } : {}),
});
const problemsOf = (inputs: NamespaceObjects): string =>
  JSON.stringify(renderHub(hub, inputs, { mode: 'pod', secretFile: (s, k) => `/etc/relay/secrets/${s}/${k}` }).problems);

test('with a Secret label selector, a Secret not found names the label and the kubectl command that adds it', () => {
  const problems = problemsOf(objects('relayoperator.io/secret=true'));
  assert.match(problems, /Secret east-tls not found in namespace mail among the Secrets labelled relayoperator\.io\/secret=true/);
  assert.match(problems, /kubectl label secret -n mail east-tls relayoperator\.io\/secret=true/);
});

test('without a selector the message is the plain not found, with no label advice', () => {
  const problems = problemsOf(objects());
  assert.match(problems, /Secret east-tls not found in namespace mail/);
  assert.doesNotMatch(problems, /labelled|kubectl label/);
});

test('a selector of two labels asks for both; the field is named when given', () => {
  assert.equal(
    secretNotFound({ namespace: 'mail', secretSelector: 'relayoperator.io/secret=true,team=mail' }, 'smarthost', 'spec.authentication.secretName'),
    'Secret smarthost (spec.authentication.secretName) not found in namespace mail among the Secrets labelled relayoperator.io/secret=true,team=mail '
      + '(the operator reads no other Secret): if it exists, label it: kubectl label secret -n mail smarthost relayoperator.io/secret=true team=mail',
  );
});

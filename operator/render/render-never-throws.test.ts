/*
 * Issue 12 item 6: renderHub threw on input the API server admits, so every hub selecting the
 * object retried for ever. A SendConnector with maxMessageSize -1, a ReceiveConnector with a
 * reversed IPv6 range (CEL lets it through), a hub with a negative queue size: each is left
 * out (or the hub's default used) with a problem naming the field and rule; the rest renders.
 * The CRDs now refuse the negative sizes (`minimum`), as `validate` does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReceiveConnector, RelayHub, SendConnector } from '../api/types.generated.ts';
import type { NamespaceObjects } from './inputs.ts';
import { renderHub } from './render.ts';
import { checkSchema } from '../validate/schema-check.ts';

const NS = 'mail';
const GROUP = 'relayoperator.io/v1alpha1';
const hub: RelayHub = { apiVersion: GROUP, kind: 'RelayHub', metadata: { name: 'hub', namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { fqdn: 'hub.example.test' } };
function receive(name: string, remoteIPRanges: string[], createdAt: string): ReceiveConnector {
  return { apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name, namespace: NS, creationTimestamp: createdAt }, spec: { hubs: ['hub'], bindings: ['0.0.0.0:2525'], remoteIPRanges, permissionGroups: ['AnonymousUsers'] } };
}
function send(name: string, maxMessageSize: number | string): SendConnector {
  return { apiVersion: GROUP, kind: 'SendConnector', metadata: { name, namespace: NS }, spec: { addressSpaces: [{ domain: '*' }], smartHosts: ['smtp.example.test'], maxMessageSize } };
}
function render(objects: Partial<NamespaceObjects>, onHub: RelayHub = hub) {
  const all: NamespaceObjects = { namespace: NS, hubs: [onHub], receiveConnectors: [], acceptedDomains: [], sendConnectors: [], secrets: [], ...objects };
  return renderHub(onHub, all, { secretFile: (s, k) => `/secrets/${s}/${k}` });
}

test('a SendConnector with maxMessageSize -1 is left out with a problem; the other SendConnector renders', () => {
  const result = render({ sendConnectors: [send('bad', -1), send('good', '10Mi')] });
  assert.deepEqual(result.config.sendConnectors.map((s) => s.id), ['mail/good']);
  const problem = result.problems.find((p) => p.object === 'SendConnector mail/bad');
  assert.equal(problem?.field, 'spec.maxMessageSize');
  assert.equal(problem?.rule, 'limitValue');
  assert.match(problem?.message ?? '', /-1 must be a non-negative integer/);
});

test('a reversed IPv6 range on a shared listener leaves that connector out (rule remoteIPRangeOrder); the other loads', () => {
  const result = render({ receiveConnectors: [receive('apps', ['10.0.0.0/8'], '2026-01-01T00:00:00Z'), receive('v6', ['2001:db8::ff-2001:db8::1'], '2026-01-02T00:00:00Z')] });
  assert.deepEqual(result.config.connectors.map((c) => c.id), ['mail/apps']);
  const status = result.connectors.find((c) => c.connectorId === 'mail/v6');
  assert.equal(status?.loaded, false);
  assert.equal(status?.rule, 'remoteIPRangeOrder');
  const problem = result.problems.find((p) => p.object === 'ReceiveConnector mail/v6');
  assert.equal(problem?.field, 'spec.remoteIPRanges[0]');
});

test('a reversed IPv6 range alone on its listener never reaches the relay config', () => {
  const result = render({ receiveConnectors: [receive('v6', ['2001:db8::ff-2001:db8::1'], '2026-01-02T00:00:00Z')] });
  assert.deepEqual(result.config.connectors, []);
});

test('a hub with a negative queue size renders with the default and a problem naming the field', () => {
  const badHub: RelayHub = { ...hub, spec: { ...hub.spec, queue: { minFreeSpace: -5 } } };
  const result = render({}, badHub);
  assert.equal(result.config.hub.spool?.minFreeBytes, 64 * 2 ** 20);
  const problem = result.problems.find((p) => p.object === 'RelayHub mail/hub');
  assert.equal(problem?.field, 'spec.queue.minFreeSpace');
});

test('the CRDs refuse a negative maxMessageSize (minimum 0), as the API server will', () => {
  const problems = checkSchema('SendConnector', { ...send('bad', -1) });
  assert.deepEqual(problems.map((p) => [p.field, p.rule]), [['spec.maxMessageSize', 'minimum']]);
  const receiveProblems = checkSchema('ReceiveConnector', { ...receive('c', ['10.0.0.1'], '2026-01-01T00:00:00Z'), spec: { ...receive('c', [], '').spec, limits: { maxMessageSize: -1 } } });
  assert.deepEqual(receiveProblems.map((p) => [p.field, p.rule]), [['spec.limits.maxMessageSize', 'minimum']]);
});

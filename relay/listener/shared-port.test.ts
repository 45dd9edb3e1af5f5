import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ListenerRoute } from './listener.ts';
import { foldSharedPorts, tenantFor, type PlannedListener } from './shared-port.ts';
import { buildListenerIndex } from './range-index-build.ts';

const route = (): ListenerRoute => ({ index: buildListenerIndex([]).index, connectors: new Map(), isTrustedProxy: () => false, hubFqdn: 'hub.test' });
const planned = (bindAddress: string, port: number): [string, PlannedListener] => [
  `${bindAddress}|${port}`,
  { config: { addressName: bindAddress, bindAddress, port, servicePort: port, endpoint: `${bindAddress}:${port}`, connectorIds: [] }, route: route() },
];

test('0.0.0.0 takes the IPv4 listeners of its port; other ports and IPv6 stay bound', () => {
  const bound = foldSharedPorts(new Map([planned('0.0.0.0', 25), planned('192.0.2.10', 25), planned('2001:db8::1', 25), planned('192.0.2.10', 587)]));
  assert.deepEqual([...bound.keys()].sort(), ['0.0.0.0|25', '192.0.2.10|587', '2001:db8::1|25']);
  const wildcard = bound.get('0.0.0.0|25');
  assert.ok(wildcard);
  assert.equal(tenantFor(wildcard.route, '192.0.2.10')?.config.endpoint, '192.0.2.10:25');
  assert.equal(tenantFor(wildcard.route, '::ffff:192.0.2.10')?.config.endpoint, '192.0.2.10:25', 'an IPv4-mapped local address is its IPv4 address');
  assert.equal(tenantFor(wildcard.route, '192.0.2.11'), null, 'any other address: the wildcard route');
});

test(':: takes IPv4 and IPv6 listeners of its port, whatever the IPv6 spelling', () => {
  const bound = foldSharedPorts(new Map([planned('::', 25), planned('192.0.2.10', 25), planned('2001:db8:0:0::1', 25)]));
  assert.deepEqual([...bound.keys()], ['::|25']);
  const wildcard = bound.get('::|25');
  assert.ok(wildcard);
  assert.equal(tenantFor(wildcard.route, '::ffff:192.0.2.10')?.config.bindAddress, '192.0.2.10');
  assert.equal(tenantFor(wildcard.route, '2001:db8::1')?.config.bindAddress, '2001:db8:0:0::1');
});

test('no wildcard on a port: every listener is bound as it is, without tenants', () => {
  const bound = foldSharedPorts(new Map([planned('192.0.2.10', 25), planned('192.0.2.11', 25)]));
  assert.equal(bound.size, 2);
  for (const listener of bound.values()) assert.equal(listener.route.tenants, undefined);
});

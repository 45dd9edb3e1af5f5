import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selfCheckFor } from './self-check.ts';

const listener = (bindAddress: string, port: number, endpoint = `${bindAddress}:${port}`, servicePort = port) => ({ bindAddress, port, endpoint, servicePort });

void test('bound addresses are the hub on their port only; IPv4-mapped IPv6 is the same address', () => {
  const isSelf = selfCheckFor([listener('127.0.0.41', 25), listener('127.0.0.42', 2525)]);
  assert.equal(isSelf('127.0.0.41', 25), true);
  assert.equal(isSelf('::ffff:127.0.0.41', 25), true);
  assert.equal(isSelf('127.0.0.41', 2525), false, 'another port of the same address');
  assert.equal(isSelf('127.0.0.42', 2525), true);
  assert.equal(isSelf('127.0.0.43', 25), false);
  const v6 = selfCheckFor([listener('2001:DB8:0::20', 25, '[2001:DB8:0::20]:25')]);
  assert.equal(v6('2001:db8::20', 25), true, 'IPv6 compared in one spelling');
});

void test('a wildcard listener makes this machine\'s interface addresses the hub; the Service endpoint and --bind-address count too', () => {
  const inPod = selfCheckFor([listener('0.0.0.0', 2525, '192.0.2.10:25', 25)], ['127.0.0.99']);
  assert.equal(inPod('127.0.0.1', 2525), true, 'loopback is an interface address of this machine');
  assert.equal(inPod('192.0.2.10', 25), true, 'the address and port clients dial (an MX names the Service)');
  assert.equal(inPod('192.0.2.10', 2525), false);
  assert.equal(inPod('127.0.0.99', 2525), true, 'the address the process binds instead of the config\'s');
  assert.equal(inPod('203.0.113.5', 2525), false);
  assert.equal(inPod('::1', 2525), false, 'a 0.0.0.0 listener does not take IPv6');
  assert.equal(selfCheckFor([listener('::', 2525)])('::1', 2525), true, 'a :: listener takes both families');
});

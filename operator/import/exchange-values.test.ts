/*
 * The ConvertTo-Json shapes of Exchange values: flat, {Value: ...}, numbers for enums, objects
 * for TimeSpan, and files in UTF-16LE as Windows PowerShell 5.1 writes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeExport, parseExport, parseIdentity } from './exchange-export.ts';
import { kubernetesDuration, kubernetesQuantity, readByteSize, readFlags, readTimeSpanSeconds, readUnlimitedInteger } from './exchange-values.ts';
import { PERMISSION_GROUP_BITS } from './exchange-permissions.ts';

test('ByteQuantifiedSize: the exact byte count wins, in every wrapping and culture separator', () => {
  assert.equal(readByteSize('25 MB (26,214,400 bytes)'), 26_214_400);
  assert.equal(readByteSize({ Value: '36 MB (37,748,736 bytes)' }), 37_748_736);
  assert.equal(readByteSize({ IsUnlimited: false, Value: '10 MB (10.485.760 bytes)' }), 10_485_760);
  assert.equal(readByteSize('10MB'), 10_485_760);
  assert.equal(readByteSize('64KB'), 65_536);
  assert.equal(readByteSize('Unlimited'), 'unlimited');
  assert.equal(readByteSize({ IsUnlimited: true, Value: null }), 'unlimited');
  assert.equal(readByteSize('ten megabytes'), undefined);
  assert.equal(kubernetesQuantity(26_214_400), '25Mi');
  assert.equal(kubernetesQuantity(1000), 1000);
});

test('TimeSpan: "d.hh:mm:ss", fractions, and the object form', () => {
  assert.equal(readTimeSpanSeconds('00:10:00'), 600);
  assert.equal(readTimeSpanSeconds('1.02:00:05'), 93_605);
  assert.equal(readTimeSpanSeconds('00:00:05.5000000'), 5);
  assert.equal(readTimeSpanSeconds({ Ticks: 50_000_000, TotalSeconds: 5 }), 5);
  assert.equal(readTimeSpanSeconds({ Ticks: 3_000_000_000 }), 300);
  assert.equal(readTimeSpanSeconds('5 minutes'), undefined);
  assert.deepEqual([0, 5, 600, 7200, 90].map(kubernetesDuration), ['0s', '5s', '10m', '2h', '90s']);
});

test('Unlimited<int>: numbers, strings, wrappers', () => {
  assert.equal(readUnlimitedInteger({ IsUnlimited: false, Value: 5000 }), 5000);
  assert.equal(readUnlimitedInteger({ IsUnlimited: true, Value: null }), 'unlimited');
  assert.equal(readUnlimitedInteger('unlimited'), 'unlimited');
  assert.equal(readUnlimitedInteger('20'), 20);
  assert.equal(readUnlimitedInteger(-1), undefined);
});

test('flag enums: names (string or list) and numbers by the documented bit order', () => {
  assert.deepEqual(readFlags('AnonymousUsers, ExchangeServers', PERMISSION_GROUP_BITS), ['AnonymousUsers', 'ExchangeServers']);
  assert.deepEqual(readFlags(['ExchangeUsers'], PERMISSION_GROUP_BITS), ['ExchangeUsers']);
  assert.deepEqual(readFlags(13, PERMISSION_GROUP_BITS), ['AnonymousUsers', 'ExchangeServers', 'ExchangeLegacyServers']);
  assert.deepEqual(readFlags(0, PERMISSION_GROUP_BITS), ['None']);
  assert.equal(readFlags(1024, PERMISSION_GROUP_BITS), undefined);
});

test('export files: UTF-16LE with BOM, UTF-8 with BOM, the {value, Count} list wrapper, one object', () => {
  const json = '[{"Name":"Relay"}]';
  assert.equal(decodeExport(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json, 'utf16le')])), json);
  assert.equal(decodeExport(Buffer.from(`\ufeff${json}`)), json);
  assert.deepEqual(parseExport('{"value":[{"Name":"A"},{"Name":"B"}],"Count":2}', 'f'), [{ Name: 'A' }, { Name: 'B' }]);
  assert.deepEqual(parseExport('{"Name":"A"}', 'f'), [{ Name: 'A' }]);
  assert.throws(() => parseExport('Name : Relay', 'rc.txt'), /rc\.txt: not JSON/);
});

test('identities: SERVER\\Name and the distinguished name', () => {
  assert.deepEqual(parseIdentity('ex1\\Anonymous Relay'), { server: 'EX1', name: 'Anonymous Relay' });
  assert.deepEqual(parseIdentity('CN=Relay\\, Apps,CN=SMTP Receive Connectors,CN=Protocols,CN=EX2,CN=Servers,CN=Exchange Administrative Group'), { server: 'EX2', name: 'Relay, Apps' });
  assert.equal(parseIdentity('Relay'), undefined);
});

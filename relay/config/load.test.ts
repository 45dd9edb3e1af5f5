import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRenderedConfig } from './load.ts';
import { RENDERED_CONFIG_API_VERSION } from './schema.ts';

const config = (hub: Record<string, unknown>): string =>
  JSON.stringify({ apiVersion: RENDERED_CONFIG_API_VERSION, hub: { fqdn: 'hub.example.test', ...hub }, connectors: [], listeners: [], acceptedDomains: [], sendConnectors: [] });

void test('hub.spool is optional; when present its reserve must be a whole number of bytes, named in the error', () => {
  assert.equal(parseRenderedConfig(config({}), 'a.json').config.hub.spool, undefined, 'older configs have none: the default applies');
  assert.equal(parseRenderedConfig(config({ spool: { minFreeBytes: 0 } }), 'b.json').config.hub.spool?.minFreeBytes, 0);
  for (const bad of [-1, 1.5, 2 ** 60, '64Mi', null]) {
    assert.throws(() => parseRenderedConfig(config({ spool: { minFreeBytes: bad } }), 'c.json'), /c\.json: hub\.spool\.minFreeBytes must be a whole number of bytes .*minFreeSpace/, String(bad));
  }
});

void test('hub.spool.maxDataMemoryBytes is optional (the default applies); when present a whole number of bytes >= 1, named in the error', () => {
  assert.equal(parseRenderedConfig(config({ spool: { minFreeBytes: 0 } }), 'a.json').config.hub.spool?.maxDataMemoryBytes, undefined);
  assert.equal(parseRenderedConfig(config({ spool: { minFreeBytes: 0, maxDataMemoryBytes: 1048576 } }), 'b.json').config.hub.spool?.maxDataMemoryBytes, 1048576);
  for (const bad of [0, -1, 1.5, 2 ** 60, '64Mi', null]) {
    assert.throws(() => parseRenderedConfig(config({ spool: { minFreeBytes: 0, maxDataMemoryBytes: bad } }), 'c.json'), /c\.json: hub\.spool\.maxDataMemoryBytes must be a whole number of bytes .*maxDataMemory/, String(bad));
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRenderedConfig } from './load.ts';
import { RENDERED_CONFIG_API_VERSION } from './schema.ts';
import { DEFAULT_RETRY, normalizeRetry } from './settings.ts';

const POSTFIX = { minBackoffMs: 300_000, maxBackoffMs: 4_000_000, maxAgeMs: 5 * 86_400_000, delayNotificationMs: 4 * 3_600_000 };

void test('normalizeRetry replaces missing or non-positive values by the defaults', () => {
  assert.deepEqual(normalizeRetry(undefined), DEFAULT_RETRY);
  assert.equal(DEFAULT_RETRY.delayNotificationMs, 4 * 3_600_000, "Exchange's DelayNotificationTimeout");
  assert.deepEqual(normalizeRetry({ minBackoffMs: 0, maxBackoffMs: Number.NaN, maxAgeMs: 10 }), { minBackoffMs: 300_000, maxBackoffMs: 4_020_000, maxAgeMs: 10, delayNotificationMs: 14_400_000 });
  assert.deepEqual(normalizeRetry({ minBackoffMs: 50, maxBackoffMs: 20, maxAgeMs: 100, delayNotificationMs: 70 }), { minBackoffMs: 50, maxBackoffMs: 50, maxAgeMs: 100, delayNotificationMs: 70 });
});

void test('normalizeRetry keeps delayNotificationMs 0 (off); a config without it gets the 4 h default', () => {
  assert.equal(normalizeRetry({ ...POSTFIX, delayNotificationMs: 0 }).delayNotificationMs, 0);
  const { delayNotificationMs: _absent, ...older } = POSTFIX;
  assert.equal(normalizeRetry(older).delayNotificationMs, DEFAULT_RETRY.delayNotificationMs);
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(normalizeRetry({ ...POSTFIX, delayNotificationMs: bad }).delayNotificationMs, DEFAULT_RETRY.delayNotificationMs, String(bad));
});

void test('the loader normalises hub.retry once; the hash stays the one of the file as rendered', () => {
  const rendered = { apiVersion: RENDERED_CONFIG_API_VERSION, hub: { fqdn: 'hub.example.test', retry: { minBackoffMs: 50, maxBackoffMs: 20, maxAgeMs: 100 } }, connectors: [], listeners: [], acceptedDomains: [], sendConnectors: [] };
  const loaded = parseRenderedConfig(JSON.stringify(rendered), 'r.json');
  assert.deepEqual(loaded.config.hub.retry, { minBackoffMs: 50, maxBackoffMs: 50, maxAgeMs: 100, delayNotificationMs: DEFAULT_RETRY.delayNotificationMs });
  assert.deepEqual(parseRenderedConfig(JSON.stringify({ ...rendered, hub: { fqdn: 'hub.example.test' } }), 'o.json').config.hub.retry, DEFAULT_RETRY);
  assert.equal(loaded.hash, parseRenderedConfig(JSON.stringify(rendered, null, 2), 'r2.json').hash);
  assert.notEqual(loaded.hash, parseRenderedConfig(JSON.stringify({ ...rendered, hub: { ...rendered.hub, retry: loaded.config.hub.retry } }), 'n.json').hash, 'hash of the file, not of the normalised config');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generateMetricsDoc } from './docs-metrics.ts';

test('docs/metrics.md is what docs-metrics generates from the metric definitions', async () => {
  const generated = await generateMetricsDoc();
  assert.equal(readFileSync('docs/metrics.md', 'utf8'), generated, 'run: npm run docs:metrics');
  // the hub's own, the delivery side's and the scrape-time metrics are all there
  for (const name of ['relay_refusals_total', 'relay_config_reload_failures_total', 'relay_queue_oldest_message_age_seconds', 'relay_listener_certificate_expiry_timestamp_seconds', 'leader_election_master_status']) {
    assert.match(generated, new RegExp(`^\\| \`${name}\` \\|`, 'm'));
  }
});

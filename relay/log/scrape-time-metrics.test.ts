import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { renderedConfig } from '../../test/support/rendered-config.ts';
import { connector } from '../../test/support/session-fixtures.ts';
import { registerScrapeTimeMetrics } from './scrape-time-metrics.ts';

const DAY = 86_400;

/** selfSigned - a certificate valid for `days` from now, made as an administrator would. */
function selfSigned(dir: string, name: string, days: number): string {
  const certFile = join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, `${name}.key`),
    '-out', certFile, '-days', String(days), '-subj', `/CN=${name}`], { stdio: 'ignore' });
  return certFile;
}

test('each connector reports the notAfter of its own or the hub certificate; an unreadable file has no series', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scrape-time-'));
  try {
    const own = selfSigned(dir, 'own', 10);
    const shared = selfSigned(dir, 'shared', 90);
    const broken = join(dir, 'broken.crt');
    writeFileSync(broken, 'not a certificate');
    const config = {
      ...renderedConfig([]),
      connectors: [
        connector({ id: 'mail/own', tls: { files: { certFile: own, keyFile: '' }, requireTLS: false, clientCAFile: null } }),
        connector({ id: 'mail/hub-cert' }),
        connector({ id: 'mail/broken', tls: { files: { certFile: broken, keyFile: '' }, requireTLS: false, clientCAFile: null } }),
      ],
    };
    config.hub = { ...config.hub, tls: { certFile: shared, keyFile: '' } };
    const registry = new Registry();
    let reserve = 1000;
    registerScrapeTimeMetrics(registry, { config: () => config, spoolDir: dir, reserveBytes: () => reserve });
    const now = Date.now() / 1000;
    const expiry = (await registry.getSingleMetric('relay_listener_certificate_expiry_timestamp_seconds')!.get()).values;
    assert.deepEqual(expiry.map((v) => v.labels).sort((a, b) => String(a.connector).localeCompare(String(b.connector))), [
      { connector: 'mail/hub-cert', certificate: shared },
      { connector: 'mail/own', certificate: own },
    ]);
    const days = (id: string): number => Math.round((expiry.find((v) => v.labels.connector === id)!.value - now) / DAY);
    assert.equal(days('mail/own'), 10);
    assert.equal(days('mail/hub-cert'), 90);

    const free = (await registry.getSingleMetric('relay_spool_free_bytes')!.get()).values[0]!.value;
    assert.ok(free > 0, `free bytes ${free}`);
    reserve = 5000;
    assert.equal((await registry.getSingleMetric('relay_spool_reserve_bytes')!.get()).values[0]!.value, 5000);
    // a second hub on the same registry does not register the names twice
    registerScrapeTimeMetrics(registry, { config: () => config, spoolDir: dir, reserveBytes: () => 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

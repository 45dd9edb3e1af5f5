/*
 * relay/scrape-time-metrics - gauges the hub reads when Prometheus scrapes, not when
 * something happens: a certificate nears its end and a disk fills without any event.
 *
 *   relay_listener_certificate_expiry_timestamp_seconds{connector,certificate}
 *       notAfter of each connector's listener certificate (connector tls.files, else the
 *       hub's), as Unix seconds; read from the mounted file, so a renewed Secret shows at
 *       the next scrape. A file that cannot be read or parsed has no series (the reload that
 *       would use it already logs and counts the failure).
 *   relay_spool_free_bytes       bytes free to unprivileged writers on the spool's file system
 *   relay_spool_reserve_bytes    the free-space reserve (RelayHub spec.queue.minFreeSpace):
 *                                below it, new mail gets 452 4.3.1
 */
import { X509Certificate } from 'node:crypto';
import { readFile, statfs } from 'node:fs/promises';
import { Gauge, type Registry } from 'prom-client';
import type { RenderedConfig } from '../config/schema.ts';

export interface ScrapeTimeSources {
  /** The config the hub runs now (changes on reload). */
  config(): RenderedConfig;
  spoolDir: string;
  /** The reserve the spool applies now. */
  reserveBytes(): number;
}

const EXPIRY = 'relay_listener_certificate_expiry_timestamp_seconds';

/** certificateFiles - connector id -> certificate file of every connector that has one. */
function certificateFiles(config: RenderedConfig): Array<{ connector: string; certificate: string }> {
  return config.connectors.flatMap((c) => {
    const files = c.tls.files ?? config.hub.tls;
    return files ? [{ connector: c.id, certificate: files.certFile }] : [];
  });
}

async function notAfterSeconds(file: string): Promise<number | null> {
  try {
    return Date.parse(new X509Certificate(await readFile(file)).validTo) / 1000;
  } catch {
    return null;
  }
}

/**
 * registerScrapeTimeMetrics - add the gauges to `registry`, reading `sources` at each scrape.
 * A registry that has them already (one shared by two hubs in a test) keeps the first hub's.
 */
export function registerScrapeTimeMetrics(registry: Registry, sources: ScrapeTimeSources): void {
  if (registry.getSingleMetric(EXPIRY)) return;
  const registers = [registry];
  new Gauge({
    name: EXPIRY,
    help: 'When the listener certificate of a connector expires (notAfter), Unix seconds; read from the mounted file at each scrape.',
    labelNames: ['connector', 'certificate'],
    registers,
    async collect() {
      this.reset();
      for (const { connector, certificate } of certificateFiles(sources.config())) {
        const seconds = await notAfterSeconds(certificate);
        if (seconds !== null) this.set({ connector, certificate }, seconds);
      }
    },
  });
  new Gauge({
    name: 'relay_spool_free_bytes',
    help: 'Bytes free (to unprivileged writers) on the file system of the spool, read at each scrape.',
    registers,
    async collect() {
      // a failed statfs must not fail the whole scrape: the series goes, the rest is served
      this.reset();
      const s = await statfs(sources.spoolDir).catch(() => null);
      if (s) this.set(s.bavail * s.bsize);
    },
  });
  new Gauge({
    name: 'relay_spool_reserve_bytes',
    help: 'The spool free-space reserve (RelayHub spec.queue.minFreeSpace): with less free, new messages get 452 4.3.1.',
    registers,
    collect() {
      this.set(sources.reserveBytes());
    },
  });
}

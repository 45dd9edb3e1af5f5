/*
 * operator/runtime/health - the probe and metrics endpoint of the operator process.
 *
 *   GET /healthz  200 "ok" while the process serves (liveness)
 *   GET /readyz   200 "ok" once every registered check passes (all informers synced),
 *                 else 503 with the failing check names (readiness)
 *   GET /metrics  the prom-client registry in the Prometheus text format
 * Anything else is 404. listen() resolves with the bound address (port 0 = any free port).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultRegistry, type Registry } from './metrics.ts';

export interface HealthServerOptions {
  port?: number;
  host?: string;
  registry?: Registry;
}

/** Something with a sync state: an Informer. */
export interface Syncable {
  hasSynced(): boolean;
}

export class HealthServer {
  readonly #server: Server;
  readonly #port: number;
  readonly #host: string;
  readonly #checks = new Map<string, () => boolean>();

  constructor(options: HealthServerOptions = {}) {
    const registry = options.registry ?? defaultRegistry;
    this.#port = options.port ?? 8081;
    this.#host = options.host ?? '0.0.0.0';
    this.#server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      } else if (path === '/healthz') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const failing = [...this.#checks].filter(([, check]) => !safe(check)).map(([name]) => name);
        if (failing.length === 0) res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
        else res.writeHead(503, { 'Content-Type': 'text/plain' }).end(`not ready: ${failing.join(', ')}\n`);
      } else if (path === '/metrics') {
        registry.metrics().then(
          (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
          (error: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${String(error)}\n`),
        );
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      }
    });
  }

  /** addReadyCheck - /readyz fails while check() is false (or throws). */
  addReadyCheck(name: string, check: () => boolean): void {
    this.#checks.set(name, check);
  }

  /** addInformer - /readyz waits until the informer has synced. */
  addInformer(name: string, informer: Syncable): void {
    this.addReadyCheck(`informer ${name}`, () => informer.hasSynced());
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#port, this.#host, () => {
        this.#server.off('error', reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}

function safe(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}

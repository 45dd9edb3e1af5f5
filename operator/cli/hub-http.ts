/*
 * operator/cli/hub-http - the HTTP endpoints of a running hub (standalone or in a pod):
 * /metrics (Prometheus), /healthz, /readyz (503 while draining), /status (config hash).
 */
import { createServer, type Server } from 'node:http';
import type { Hub } from '../../relay/hub.ts';

export function serveHubHttp(hub: Hub, address: { host: string; port: number }): Server {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      void hub.metrics.registry.metrics().then((text) => res.writeHead(200, { 'Content-Type': hub.metrics.registry.contentType }).end(text));
    } else if (req.url === '/healthz') {
      res.writeHead(200).end('ok\n');
    } else if (req.url === '/readyz') {
      res.writeHead(hub.draining ? 503 : 200).end(hub.draining ? 'draining\n' : 'ok\n');
    } else if (req.url === '/status') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ configHash: hub.configHash }));
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(address.port, address.host);
  return server;
}

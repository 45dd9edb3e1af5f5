/*
 * relay/process/http-endpoints - the HTTP endpoints of a running hub (standalone or in a pod):
 * /metrics (Prometheus), /healthz, /readyz (503 while draining or while a new listener
 * could not bind), /status (the config hash it runs, whether ready, and the config it was
 * given but could not apply), the queue API under /queue/ (queue-api.ts: loopback only
 * unless a bearer token is given), the tracking log search /track (track-api.ts, same access),
 * and POST /queue/hand-off, where another pod of the hub hands its queue over (hand-off-api.ts:
 * only with the hub's hand-off token).
 */
import { createServer, type Server } from 'node:http';
import type { Hub } from '../hub.ts';
import { serveQueueApi, type QueueApiAccess } from './queue-api.ts';
import { serveTrackApi } from './track-api.ts';
import { serveHandOff } from './hand-off-api.ts';
import { HAND_OFF_PATH } from '../queue/hand-off.ts';

/** What the endpoints read of a hub; a source without queueAdmin (trackingDir) answers the queue (track) API with 503. */
export type HubHttpSource = Pick<Hub, 'metrics' | 'ready' | 'configHash' | 'pendingConfig'> & Partial<Pick<Hub, 'queueAdmin' | 'trackingDir' | 'spool' | 'draining'>>;

/**
 * serveHubHttp - serve the endpoints; `handOffToken` null: POST /queue/hand-off answers 403.
 * A draining hub takes no hand-off (its spool is about to close, or to be handed off itself).
 */
export function serveHubHttp(hub: HubHttpSource, address: { host: string; port: number }, queueAccess: QueueApiAccess = { token: null }, handOffToken: string | null = null): Server {
  const server = createServer((req, res) => {
    if (req.url === HAND_OFF_PATH) {
      void serveHandOff(req, res, hub.spool && !hub.draining ? hub.spool : null, handOffToken);
    } else if (req.url?.startsWith('/queue/')) {
      void serveQueueApi(req, res, hub.queueAdmin ?? null, queueAccess);
    } else if (req.url === '/track' || req.url?.startsWith('/track?')) {
      void serveTrackApi(req, res, hub.trackingDir ?? null, queueAccess);
    } else if (req.url === '/metrics') {
      void hub.metrics.registry.metrics().then((text) => res.writeHead(200, { 'Content-Type': hub.metrics.registry.contentType }).end(text));
    } else if (req.url === '/healthz') {
      res.writeHead(200).end('ok\n');
    } else if (req.url === '/readyz') {
      const ready = hub.ready;
      res.writeHead(ready.ready ? 200 : 503).end(ready.ready ? 'ok\n' : `${ready.reason}\n`);
    } else if (req.url === '/status') {
      const ready = hub.ready;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({
        configHash: hub.configHash,
        ready: ready.ready,
        ...(ready.ready ? {} : { reason: ready.reason }),
        pendingConfig: hub.pendingConfig,
      }));
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(address.port, address.host);
  return server;
}

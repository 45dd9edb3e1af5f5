/*
 * relay/delivery/metrics - what the delivery side reports, behind a small interface.
 *
 * DeliveryMetrics is what the queue manager and the agent call; createDeliveryMetrics backs
 * it with prom-client on the hub's registry:
 *   relay_queue_messages{state}                      messages per queue state (gauge)
 *   relay_queue_oldest_message_age_seconds           oldest queued message (gauge)
 *   relay_deliveries_total{result,next_hop,connector} recipient results: delivered,
 *                                                    deferred, failed (counter); next_hop is
 *                                                    `host:port` for smart hosts, `mx` or `drop`
 *                                                    (bounded: never the recipient domain)
 *   relay_delivery_latency_seconds                   arrival to delivery per recipient (histogram)
 *   relay_dsn_total{action}                          DSNs queued: failed, delayed, relayed,
 *                                                    delivered
 *   relay_next_hops_down                             next-hop hosts skipped now because they
 *                                                    could not be reached (host-health.ts),
 *                                                    read at scrape time (gauge)
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RecipientResult } from './job.ts';

export interface DeliveryMetrics {
  /** Messages in one queue state (relay/queue/queue-store.ts names them). */
  queueDepth(state: string, count: number): void;
  oldestMessageAge(seconds: number): void;
  delivery(result: RecipientResult, nextHop: string, connectorId: string): void;
  deliveryLatency(seconds: number): void;
  dsn(action: string): void;
  /** Where relay_next_hops_down is read from at each scrape. */
  nextHopsDownFrom(read: () => number): void;
}

/** A DeliveryMetrics that records nothing (the default without a registry). */
export const NO_DELIVERY_METRICS: DeliveryMetrics = {
  queueDepth: () => {},
  oldestMessageAge: () => {},
  delivery: () => {},
  deliveryLatency: () => {},
  dsn: () => {},
  nextHopsDownFrom: () => {},
};

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400, 432_000];

/** createDeliveryMetrics - register the delivery metrics on `registry`. */
export function createDeliveryMetrics(registry: Registry): DeliveryMetrics {
  const registers = [registry];
  const depth = new Gauge({ name: 'relay_queue_messages', help: 'Messages in the queue by state (incoming, active, deferred, hold, corrupt).', labelNames: ['state'], registers });
  const oldest = new Gauge({ name: 'relay_queue_oldest_message_age_seconds', help: 'Age of the oldest message in incoming, active, deferred or hold.', registers });
  const deliveries = new Counter({ name: 'relay_deliveries_total', help: 'Recipient delivery results by result, next hop (host:port, mx, drop) and send connector.', labelNames: ['result', 'next_hop', 'connector'], registers });
  const latency = new Histogram({ name: 'relay_delivery_latency_seconds', help: 'Time from arrival to delivery, per delivered recipient.', buckets: LATENCY_BUCKETS, registers });
  const dsns = new Counter({ name: 'relay_dsn_total', help: 'Delivery status notifications queued, by action.', labelNames: ['action'], registers });
  let readHostsDown: () => number = () => 0;
  new Gauge({
    name: 'relay_next_hops_down',
    help: 'Next-hop hosts (address:port) other messages skip now because a session could not be opened to them, until the queue\'s minBackoff has passed.',
    registers,
    collect() {
      this.set(readHostsDown());
    },
  });
  return {
    queueDepth: (state, count) => depth.set({ state }, count),
    oldestMessageAge: (seconds) => oldest.set(seconds),
    delivery: (result, nextHop, connectorId) => deliveries.inc({ result, next_hop: nextHop, connector: connectorId }),
    deliveryLatency: (seconds) => latency.observe(seconds),
    dsn: (action) => dsns.inc({ action }),
    nextHopsDownFrom: (read) => {
      readHostsDown = read;
    },
  };
}

/*
 * relay/log/hub-metrics - the hub's Prometheus metrics (prom-client), one registry per hub.
 * Names carry the `relay_` prefix; per-connector series are labelled `connector`. Beside the
 * logs as the other half of what the hub reports, in a base layer every room may import.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface HubMetrics {
  registry: Registry;
  connections: Counter<'connector' | 'listener'>;
  sessions: Counter<'connector' | 'outcome'>;
  messages: Counter<'connector'>;
  bytes: Counter<'connector'>;
  refusals: Counter<'connector' | 'reason'>;
  fsyncSeconds: Histogram;
  configInfo: Gauge<'hash'>;
  spoolCorruptBytes: Counter;
  spoolRecoveredFrames: Counter;
  /** recordSpoolRecovery - count what the spool's startup recovery found (once per start; spool/recovery.ts SpoolDamageReport). */
  recordSpoolRecovery(report: { corruptBytes: number; framesAfterDamage: number }): void;
}

export function createHubMetrics(options: { defaultMetrics?: boolean } = {}): HubMetrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  // what startup recovery found in the spool: alert on any increase (acknowledged mail was damaged)
  const spoolCorruptBytes = new Counter({ name: 'relay_spool_corrupt_bytes_total', help: 'Spool bytes found damaged at startup and quarantined in corrupt/ (queue files and commit-log ranges; torn writes of unacknowledged mail excluded).', registers });
  const spoolRecoveredFrames = new Counter({ name: 'relay_spool_recovered_frames_total', help: 'Commit-log frames recovered at startup from after a damaged range of their segment (resynchronised on the next valid frame).', registers });
  return {
    registry,
    spoolCorruptBytes,
    spoolRecoveredFrames,
    recordSpoolRecovery: (report) => {
      spoolCorruptBytes.inc(report.corruptBytes);
      spoolRecoveredFrames.inc(report.framesAfterDamage);
    },
    connections: new Counter({ name: 'relay_connections_total', help: 'Connections accepted per connector and listener (connector "none" = refused, no matching range).', labelNames: ['connector', 'listener'], registers }),
    sessions: new Counter({ name: 'relay_sessions_total', help: 'SMTP sessions per connector by outcome when they end (accepted: at least one message; refused: refusals and no message; noMessage).', labelNames: ['connector', 'outcome'], registers }),
    messages: new Counter({ name: 'relay_messages_accepted_total', help: 'Messages acknowledged with 250 (spooled with fsync).', labelNames: ['connector'], registers }),
    bytes: new Counter({ name: 'relay_bytes_accepted_total', help: 'Bytes of accepted messages as spooled.', labelNames: ['connector'], registers }),
    refusals: new Counter({ name: 'relay_refusals_total', help: 'Refusals by connector and reason.', labelNames: ['connector', 'reason'], registers }),
    fsyncSeconds: new Histogram({ name: 'relay_spool_commit_seconds', help: 'Time from end of DATA to the message durable on disk (appended to the commit log and fdatasynced, group commit).', buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers }),
    configInfo: new Gauge({ name: 'relay_config_info', help: 'The rendered config the hub runs (value 1, label hash).', labelNames: ['hash'], registers }),
  };
}

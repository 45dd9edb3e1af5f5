/*
 * relay/process/relay-main - the relay process of a hub pod: start the hub from the rendered
 * config, serve its HTTP endpoints, drain on the stop signal.
 *
 * Job: the life of one relay process. The spool root holds the queue (queue/) and the status
 * file (status.json). /metrics, /healthz, /readyz (not ready while draining) and /status are
 * served on the metrics address (http-endpoints.ts) until the hub has drained.
 * States: starting (spool recovery, listeners), running, draining (listeners answer 421 4.3.2
 * for up to the grace period, delivery goes on), stopped.
 * Trust: the rendered config is trusted; the relay knows nothing of Kubernetes, and whoever
 * runs it (operator/cli/relay-command.ts in a pod) passes onConfigApplied to report the config
 * hash it runs.
 * Failure modes: a config, spool or port that cannot be used makes start throw (the process
 * exits non-zero and the pod restarts).
 */
import { join } from 'node:path';
import { Hub } from '../hub.ts';
import { appLog } from '../log/protocol-log.ts';
import { serveHubHttp } from './http-endpoints.ts';
import type { QueueApiAccess } from './queue-api.ts';

export interface RelayProcessOptions {
  configFile: string;
  /** The pod's spool volume: the queue in queue/, the status file status.json. */
  spoolRoot: string;
  /** Where /metrics, /healthz, /readyz and /status are served. */
  metricsAddress: { host: string; port: number };
  /** How long sessions and delivery may go on after the stop signal. */
  graceSeconds: number;
  bindAddress?: string;
  /** Called with the config hash each time a config is applied (HubOptions.onConfigApplied). */
  onConfigApplied?: (hash: string) => void;
  /** Who may use the queue API beyond loopback (queue-api.ts); default loopback only. */
  queueAccess?: QueueApiAccess;
  /** The stop signal, listened for before this was called (stop-signal.ts). */
  stopping: Promise<NodeJS.Signals>;
}

/** runRelayProcess - run until the stop signal, then drain; the exit status (0). */
export async function runRelayProcess(options: RelayProcessOptions): Promise<number> {
  const hub = await Hub.start({
    configFile: options.configFile,
    spoolDir: join(options.spoolRoot, 'queue'),
    statusFile: join(options.spoolRoot, 'status.json'),
    ...(options.bindAddress ? { bindAddress: options.bindAddress } : {}),
    ...(options.onConfigApplied ? { onConfigApplied: options.onConfigApplied } : {}),
  });
  const server = serveHubHttp(hub, options.metricsAddress, options.queueAccess);
  const signal = await options.stopping;
  appLog('info', `${signal}: draining, grace period ${options.graceSeconds}s`);
  await hub.stop(options.graceSeconds * 1000);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return 0;
}

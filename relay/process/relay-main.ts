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
 * Hand-off: when the wrapper says this pod is being scaled away (decideHandOff, asked on the
 * stop signal: operator/resources/hand-off.ts reads the StatefulSet; the relay only gets the
 * answer), the hub stops at once with a short session grace (HAND_OFF_STOP_SHARE of the grace
 * period), and the rest of the grace period goes to handing the queue to the remaining pods
 * (hand-off-only.ts); what is left stays on the spool and is logged. The other pods take
 * hand-offs on POST /queue/hand-off with the hub's token (handOffToken).
 * Failure modes: a config, spool or port that cannot be used makes start throw (the process
 * exits non-zero and the pod restarts).
 */
import { join } from 'node:path';
import { Hub } from '../hub.ts';
import { appLog } from '../log/protocol-log.ts';
import { serveHubHttp } from './http-endpoints.ts';
import type { QueueApiAccess } from './queue-api.ts';
import { handOffSpool } from './hand-off-only.ts';

/** Where a scaled-away pod sends its queue, and with which token; null: it stays (not scaled away). */
export interface HandOffPlan {
  targets: string[];
  token: string;
}

/** The share of the grace period the sessions get before a hand-off; the rest is the hand-off's. */
const HAND_OFF_STOP_SHARE = 0.25;
/** Left of the grace period at the end, for closing and the last log lines before SIGKILL. */
const HAND_OFF_MARGIN_MS = 3000;
/** How long the decision may take (an API server that does not answer means: stay). */
const DECISION_TIMEOUT_MS = 10_000;

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
  /** The hub's hand-off token: other pods may hand their queue to this one (hand-off-api.ts). */
  handOffToken?: string;
  /** Asked on the stop signal: a plan when this pod is being scaled away, else null. */
  decideHandOff?: () => Promise<HandOffPlan | null>;
}

async function decide(decideHandOff: () => Promise<HandOffPlan | null>): Promise<HandOffPlan | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      decideHandOff(),
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), DECISION_TIMEOUT_MS);
      }),
    ]);
  } catch (error) {
    appLog('warn', `hand-off decision failed, the queue stays on this spool: ${(error as Error).message}`);
    return null;
  } finally {
    clearTimeout(timer);
  }
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
  const server = serveHubHttp(hub, options.metricsAddress, options.queueAccess, options.handOffToken ?? null);
  const signal = await options.stopping;
  const stopAt = Date.now();
  const plan = options.decideHandOff ? await decide(options.decideHandOff) : null;
  if (plan === null) {
    appLog('info', `${signal}: draining, grace period ${options.graceSeconds}s`);
    await hub.stop(options.graceSeconds * 1000);
  } else {
    appLog('info', `${signal}: this pod is scaled away: stopping, then handing the queue to ${plan.targets.length} pods`, { targets: plan.targets });
    await hub.stop(options.graceSeconds * 1000 * HAND_OFF_STOP_SHARE);
    const deadline = stopAt + options.graceSeconds * 1000 - HAND_OFF_MARGIN_MS;
    await handOffSpool({ spoolDir: join(options.spoolRoot, 'queue'), targets: plan.targets, token: plan.token, deadline })
      .catch((error: unknown) => appLog('error', `hand-off failed, the queue stays on this spool: ${(error as Error).message}`));
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return 0;
}

/*
 * operator/cli/relay-command - `relay-operator relay --config FILE --spool DIR`: the relay in a
 * hub pod, run from the rendered config the operator wrote into a ConfigMap.
 *
 * Parses the command line and runs the relay process (relay/process/relay-main.ts: the hub,
 * and /metrics, /healthz, /readyz, /status on --metrics-addr). What it adds is Kubernetes:
 * it reports the config hash the relay runs - the data plane reporting back to the
 * controller - by merge-patching its own report Lease (named like the pod, created by the
 * operator; POD_NAME/POD_NAMESPACE/POD_UID from the downward API, with the pod's
 * ServiceAccount, whose Role allows patching exactly those Leases and nothing else: why a
 * Lease, operator/resources/config-report.ts). On the stop signal it also decides whether
 * this pod is being scaled away: a GET of its own StatefulSet (the Role allows get on that one
 * name) and operator/resources/hand-off.ts; the relay gets only the plan (targets, token) and
 * hands its queue over. The relay itself (relay/) never talks to Kubernetes; this wrapper does.
 */
import { AppsV1Api, CoordinationV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { appLog } from '../../relay/log/protocol-log.ts';
import { configReportPatch } from '../resources/config-report.ts';
import { handOffDecision, hubOfStatefulSet } from '../resources/hand-off.ts';
import type { HandOffPlan } from '../../relay/process/relay-main.ts';
import { FlagError, parseFlags, parseHostPort, readTokenFile, requireFlag, withFlagErrors } from './flags.ts';
import { runRelayProcess } from '../../relay/process/relay-main.ts';
import { stopSignal } from '../../relay/process/stop-signal.ts';

/** How often the report is written again with nothing changed (spec.renewTime). */
const REPORT_RENEW_MS = 5 * 60_000;

/**
 * leaseReporter - report each applied config's hash, retrying with backoff until it is written
 * (the Lease may not exist yet when the pod starts before the operator's apply reached it);
 * only the latest hash is sent. The report is renewed every REPORT_RENEW_MS: a Lease deleted and
 * put back empty by the operator (whoever deleted it) holds this pod's report again within
 * that, where a one-shot report would leave the pod counted as not current until the next
 * config. Null outside a pod (no downward API env): nothing to report to.
 */
function leaseReporter(): ((hash: string) => void) | null {
  const podName = process.env.POD_NAME;
  const namespace = process.env.POD_NAMESPACE;
  const podUid = process.env.POD_UID;
  if (!podName || !namespace || !podUid) return null;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const coordination = kubeConfig.makeApiClient(CoordinationV1Api);
  let wanted = '';
  let reported = '';
  let running: Promise<void> | null = null;
  const push = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const hash = wanted;
      try {
        await coordination.patchNamespacedLease(
          { name: podName, namespace, body: configReportPatch(podName, podUid, hash, new Date()) },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        if (hash !== reported) appLog('info', 'reported config hash in lease', { lease: `${namespace}/${podName}`, configHash: hash });
        reported = hash;
        if (hash === wanted) return;
      } catch (error) {
        appLog('warn', `could not report config hash in lease ${namespace}/${podName}: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt)));
      }
    }
  };
  const report = (hash: string): void => {
    wanted = hash;
    running ??= push().finally(() => {
      running = null;
    });
  };
  setInterval(() => {
    if (wanted) report(wanted);
  }, REPORT_RENEW_MS).unref();
  return report;
}

/**
 * handOffDecider - on the stop signal: GET the pod's StatefulSet (named by the pod's name
 * without its ordinal) and hand off when the ordinal is >= spec.replicas. Null outside a pod
 * or without a token: the queue stays on the volume, as before hand-off existed.
 */
function handOffDecider(token: string | null): (() => Promise<HandOffPlan | null>) | null {
  const podName = process.env.POD_NAME;
  const namespace = process.env.POD_NAMESPACE;
  const statefulSet = podName?.replace(/-\d+$/, '');
  const hub = statefulSet ? hubOfStatefulSet(statefulSet) : null;
  if (!podName || !namespace || !statefulSet || !hub || token === null) return null;
  return async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
    const found = await kubeConfig.makeApiClient(AppsV1Api).readNamespacedStatefulSet({ name: statefulSet, namespace });
    const decision = handOffDecision(hub, namespace, podName, found.spec?.replicas ?? 1);
    appLog('info', `hand-off decision: ${decision.why}`, { statefulSet: `${namespace}/${statefulSet}`, handOff: decision.handOff });
    return decision.handOff ? { targets: decision.targets, token } : null;
  };
}

export function runRelay(args: string[]): Promise<number> {
  return withFlagErrors(async () => {
    const { values } = parseFlags('relay', args, {
      config: { type: 'string' },
      spool: { type: 'string' },
      'metrics-addr': { type: 'string', default: '0.0.0.0:9090' },
      'grace-period': { type: 'string', default: '60' },
      'bind-address': { type: 'string' },
      'queue-api-token-file': { type: 'string' },
      'hand-off-token-file': { type: 'string' },
    });
    const configFile = requireFlag('relay', 'config', values.config);
    const spool = requireFlag('relay', 'spool', values.spool);
    const grace = Number(values['grace-period']);
    if (!Number.isFinite(grace) || grace < 0) throw new FlagError('relay-operator relay: --grace-period must be seconds >= 0');
    const address = parseHostPort('relay', 'metrics-addr', values['metrics-addr'] ?? '');
    // listened for before anything slow (spool recovery): see stop-signal.ts
    const stopping = stopSignal();
    const report = leaseReporter();
    const handOffToken = values['hand-off-token-file'] ? readTokenFile('relay', values['hand-off-token-file'], 'hand-off-token-file') : null;
    const decideHandOff = handOffDecider(handOffToken);
    return runRelayProcess({
      configFile,
      spoolRoot: spool,
      metricsAddress: address,
      graceSeconds: grace,
      stopping,
      ...(values['queue-api-token-file'] ? { queueAccess: { token: readTokenFile('relay', values['queue-api-token-file']) } } : {}),
      ...(values['bind-address'] ? { bindAddress: values['bind-address'] } : {}),
      ...(report ? { onConfigApplied: report } : {}),
      ...(handOffToken !== null ? { handOffToken } : {}),
      ...(decideHandOff ? { decideHandOff } : {}),
    });
  });
}

/*
 * operator/cli/relay-command - `relay-operator relay --config FILE --spool DIR`: the relay in a
 * hub pod, run from the rendered config the operator wrote into a ConfigMap.
 *
 * Parses the command line and runs the relay process (relay/process/relay-main.ts: the hub,
 * and /metrics, /healthz, /readyz, /status on --metrics-addr). What it adds is Kubernetes:
 * it reports the config hash the relay runs - the data plane reporting back to the
 * controller - by annotating its own pod (POD_NAME/POD_NAMESPACE from the downward API, with
 * the pod's ServiceAccount, whose Role allows exactly that). The relay itself (relay/) never
 * talks to Kubernetes; this wrapper does.
 */
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { appLog } from '../../relay/log/protocol-log.ts';
import { ANNOTATION_CONFIG_HASH } from '../resources/names.ts';
import { FlagError, parseFlags, parseHostPort, readTokenFile, requireFlag, withFlagErrors } from './flags.ts';
import { runRelayProcess } from '../../relay/process/relay-main.ts';
import { stopSignal } from '../../relay/process/stop-signal.ts';

function podReporter(): ((hash: string) => void) | null {
  const podName = process.env.POD_NAME;
  const namespace = process.env.POD_NAMESPACE;
  if (!podName || !namespace) return null;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const core = kubeConfig.makeApiClient(CoreV1Api);
  let wanted = '';
  let running: Promise<void> | null = null;
  const push = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const hash = wanted;
      try {
        await core.patchNamespacedPod(
          { name: podName, namespace, body: { metadata: { annotations: { [ANNOTATION_CONFIG_HASH]: hash } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        appLog('info', 'reported config hash on pod', { pod: `${namespace}/${podName}`, configHash: hash });
        if (hash === wanted) return;
      } catch (error) {
        appLog('warn', `could not report config hash on pod ${namespace}/${podName}: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt)));
      }
    }
  };
  return (hash) => {
    wanted = hash;
    running ??= push().finally(() => {
      running = null;
    });
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
    });
    const configFile = requireFlag('relay', 'config', values.config);
    const spool = requireFlag('relay', 'spool', values.spool);
    const grace = Number(values['grace-period']);
    if (!Number.isFinite(grace) || grace < 0) throw new FlagError('relay-operator relay: --grace-period must be seconds >= 0');
    const address = parseHostPort('relay', 'metrics-addr', values['metrics-addr'] ?? '');
    // listened for before anything slow (spool recovery): see stop-signal.ts
    const stopping = stopSignal();
    const report = podReporter();
    return runRelayProcess({
      configFile,
      spoolRoot: spool,
      metricsAddress: address,
      graceSeconds: grace,
      stopping,
      ...(values['queue-api-token-file'] ? { queueAccess: { token: readTokenFile('relay', values['queue-api-token-file']) } } : {}),
      ...(values['bind-address'] ? { bindAddress: values['bind-address'] } : {}),
      ...(report ? { onConfigApplied: report } : {}),
    });
  });
}

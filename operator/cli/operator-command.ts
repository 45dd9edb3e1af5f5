/*
 * operator/cli/operator-command - `relay-operator operator [--namespace NS]`: the controller,
 * in cluster (ServiceAccount) or with KUBECONFIG.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { Manager } from '../controllers/manager.ts';
import { appLog } from '../../relay/log/protocol-log.ts';
import { FlagError, parseFlags, parseHostPort, withFlagErrors } from './flags.ts';
import { stopSignal } from '../../relay/process/stop-signal.ts';
import { logRuntimeErrors } from '../runtime/diagnostics-log.ts';

const IN_CLUSTER_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** podNamespace - the namespace the operator's pod runs in; undefined outside a pod. */
function podNamespace(): string | undefined {
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    return readFileSync(IN_CLUSTER_NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function runOperator(args: string[]): Promise<number> {
  return withFlagErrors(async () => {
    const { values } = parseFlags('operator', args, {
      namespace: { type: 'string' },
      'metrics-addr': { type: 'string', default: '0.0.0.0:8080' },
      'leader-election-namespace': { type: 'string' },
      'lease-duration': { type: 'string', default: '15' },
      'renew-deadline': { type: 'string', default: '10' },
      'retry-period': { type: 'string', default: '2' },
      identity: { type: 'string' },
    });
    const address = parseHostPort('operator', 'metrics-addr', values['metrics-addr'] ?? '');
    const seconds = (flag: 'lease-duration' | 'renew-deadline' | 'retry-period'): number => {
      const value = Number(values[flag]);
      if (!Number.isFinite(value) || value <= 0) throw new FlagError(`relay-operator operator: --${flag} must be seconds > 0`);
      return value * 1000;
    };
    const stopping = stopSignal();
    logRuntimeErrors();
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
    const manager = new Manager({
      kubeConfig,
      ...(values.namespace ? { namespace: values.namespace } : {}),
      // In a pod, the Lease is in the operator's own namespace (the chart's leader-election Role
      // is there): not in the watched namespace, whose users could otherwise depose the leader.
      leaseNamespace: values['leader-election-namespace'] ?? podNamespace() ?? values.namespace ?? 'default',
      ...(values.identity ? { identity: values.identity } : {}),
      metricsHost: address.host,
      metricsPort: address.port,
      lease: { durationMs: seconds('lease-duration'), renewDeadlineMs: seconds('renew-deadline'), retryPeriodMs: seconds('retry-period') },
    });
    await manager.run();
    const signal = await stopping;
    appLog('info', `${signal}: stopping controllers and releasing the lease`);
    await manager.stop();
    return 0;
  });
}

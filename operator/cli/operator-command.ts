/*
 * operator/cli/operator-command - `relay-operator operator [--namespace NS] [--secret-selector
 * KEY=VALUE]`: the controller, in cluster (ServiceAccount) or with KUBECONFIG.
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

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** isLabelKey - a Kubernetes label key: [prefix/]name, prefix a DNS subdomain of at most 253. */
function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  if (slash === -1) return LABEL_NAME.test(key);
  const prefix = key.slice(0, slash);
  return prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix) && LABEL_NAME.test(key.slice(slash + 1));
}

/**
 * parseSecretSelector - the --secret-selector value checked: `key=value` pairs joined by
 * commas. Only equality: the operator tells users to add these labels to a Secret it cannot
 * see (render/secret-keys.ts secretNotFound), which `key`, `!key` or `in (...)` would not say.
 */
export function parseSecretSelector(value: string): string {
  const terms = value.split(',').map((term) => term.trim());
  for (const term of terms) {
    const [key = '', labelValue, extra] = term.split('=');
    const ok = extra === undefined && labelValue !== undefined && isLabelKey(key) && (labelValue === '' || LABEL_NAME.test(labelValue));
    if (!ok) {
      throw new FlagError(`relay-operator operator: --secret-selector "${value}": "${term}" is not key=value with a Kubernetes label key and value (e.g. relayoperator.io/secret=true)`);
    }
  }
  return terms.join(',');
}

export function runOperator(args: string[]): Promise<number> {
  return withFlagErrors(async () => {
    const { values } = parseFlags('operator', args, {
      namespace: { type: 'string' },
      'secret-selector': { type: 'string' },
      'metrics-addr': { type: 'string', default: '0.0.0.0:8080' },
      'leader-election-namespace': { type: 'string' },
      'lease-duration': { type: 'string', default: '15' },
      'renew-deadline': { type: 'string', default: '10' },
      'retry-period': { type: 'string', default: '2' },
      identity: { type: 'string' },
    });
    const secretSelector = values['secret-selector'] ? parseSecretSelector(values['secret-selector']) : undefined;
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
      ...(secretSelector !== undefined ? { secretSelector } : {}),
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

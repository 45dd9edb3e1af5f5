/*
 * operator/runtime/diagnostics-log - the runtime's failures as log lines.
 *
 * The runtime publishes list/watch errors, reconcile errors, leader-election trouble and failed
 * Event writes on node:diagnostics_channel (diagnostics.ts). The operator command subscribes
 * here so an administrator sees them, as controller-runtime logs "Reconciler error": above all
 * a 403 from RBAC ("... is forbidden: User ... cannot list resource ..."), which otherwise would
 * only show as an operator that silently does nothing.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { appLog } from '../../relay/log/protocol-log.ts';
import { eventChannel, leaderChannel, reconciledChannel, reflectorChannel } from './diagnostics.ts';

/** errorText - the error's message and, for an API error, the API server's Status body. */
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const body = (error as { body?: unknown }).body;
  const detail = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  return [error.message, detail].filter(Boolean).join(' ');
}

const CHANNELS = { reflector: reflectorChannel, reconciled: reconciledChannel, leader: leaderChannel, event: eventChannel } as const;

/** logRuntimeErrors - every diagnostics message that carries an error becomes a warn line; returns unsubscribe. */
export function logRuntimeErrors(): () => void {
  const subscriptions = Object.entries(CHANNELS).map(([runtime, channel]) => {
    const onMessage = (message: unknown): void => {
      if (!message || typeof message !== 'object' || !('error' in message) || message.error === undefined) return;
      const { error, ...fields } = message as { error: unknown } & Record<string, unknown>;
      appLog('warn', `runtime ${runtime}: ${errorText(error)}`, { runtime, ...fields });
    };
    diagnostics_channel.subscribe(channel.name, onMessage);
    return () => diagnostics_channel.unsubscribe(channel.name, onMessage);
  });
  return () => subscriptions.forEach((unsubscribe) => unsubscribe());
}

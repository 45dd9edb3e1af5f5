/*
 * operator/resources/names - deterministic names and labels of everything a hub owns.
 */
export const LABEL_HUB = 'relayoperator.io/hub';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGER = 'relay-operator';
export const ANNOTATION_CONFIG_HASH = 'relayoperator.io/config-hash';
export const ANNOTATION_RESTART_HASH = 'relayoperator.io/restart-hash';
export const CONFIG_MOUNT = '/etc/relay/config';
export const SECRETS_MOUNT = '/etc/relay/secrets';
export const SPOOL_MOUNT = '/var/spool/relay';
export const METRICS_PORT = 9090;
/** Where the hub's hand-off token Secret is mounted; its key `token`. */
export const HAND_OFF_TOKEN_MOUNT = '/etc/relay/queue-token';
export const HAND_OFF_TOKEN_KEY = 'token';
export const RELAY_UID = 10001;

export const hubNames = (hub: string) => ({
  configMap: `${hub}-relay-config`,
  statefulSet: `${hub}-relay`,
  headlessService: `${hub}-relay-pods`,
  serviceAccount: `${hub}-relay`,
  role: `${hub}-relay`,
  pdb: `${hub}-relay`,
  /** The bearer token pods of the hub hand their queue over with (created once, never overwritten). */
  queueTokenSecret: `${hub}-relay-queue-token`,
  addressService: (address: string) => `${hub}-${address}`,
});

export function podLabels(hub: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'relay', [LABEL_HUB]: hub };
}

export function commonLabels(hub: string): Record<string, string> {
  return { ...podLabels(hub), [LABEL_COMPONENT]: 'relay-hub', [LABEL_MANAGED_BY]: MANAGER };
}

/*
 * operator/resources/hand-off-token - the hub's hand-off token Secret, `<hub>-relay-queue-token`
 * (key `token`): the bearer token with which a pod scaled away (or a drain Job) hands its queue
 * to the other pods of the same hub (POST /queue/hand-off, relay/process/hand-off-api.ts).
 *
 * The operator creates it when absent and never writes it again (Applier.createIfAbsent): an
 * administrator may rotate it (delete it, or put another value and restart the pods); a new
 * value written while pods run would make the receivers refuse the sender. It is owned by the
 * hub, so it goes with the hub. One token per hub: a pod of one hub cannot put mail into
 * another hub's queue with it. It opens nothing else: not the queue API (--queue-api-token-file).
 */
import { randomBytes } from 'node:crypto';
import type { RelayHub } from '../api/types.generated.ts';
import { API_GROUP_VERSION } from '../api/crds.ts';
import { HAND_OFF_TOKEN_KEY, commonLabels, hubNames } from './names.ts';

export interface TokenSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; labels: Record<string, string>; ownerReferences: unknown[] };
  type: 'Opaque';
  stringData: Record<string, string>;
}

/** hubTokenSecret - a new token Secret for the hub (a fresh random value each call: only ever created, never applied over). */
export function hubTokenSecret(hub: RelayHub): TokenSecret {
  const name = hub.metadata.name ?? '';
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: hubNames(name).queueTokenSecret,
      namespace: hub.metadata.namespace ?? 'default',
      labels: commonLabels(name),
      ownerReferences: [{ apiVersion: API_GROUP_VERSION, kind: 'RelayHub', name, uid: hub.metadata.uid, controller: true, blockOwnerDeletion: true }],
    },
    type: 'Opaque',
    stringData: { [HAND_OFF_TOKEN_KEY]: randomBytes(32).toString('base64url') },
  };
}

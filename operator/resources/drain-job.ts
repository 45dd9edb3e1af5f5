/*
 * operator/resources/drain-job - the Job that drains one orphaned spool PVC (`relay-operator
 * drain`, operator/cli/drain-command.ts): it mounts the PVC where the relay had it, runs
 * `relay-operator hand-off` against the hub's running pods (their headless-Service names), and
 * exits 0 when the spool is empty, 3 when messages are left (held ones included).
 *
 * The pod runs as the relay does (same image, user, read-only root, no capabilities) and
 * needs no API access (automountServiceAccountToken: false): the targets and the token come
 * in as arguments and as the hub's token Secret mounted like in the relay pods. backoffLimit
 * 0: a hand-off that left mail is reported, not retried in a loop; run drain again.
 */
import { HAND_OFF_TOKEN_KEY, HAND_OFF_TOKEN_MOUNT, RELAY_UID, SPOOL_MOUNT, commonLabels, hubNames } from './names.ts';
import { hubPodUrls } from './hand-off.ts';
import type { KubeObject } from './hub-objects.ts';

export interface DrainJobInput {
  hub: string;
  namespace: string;
  /** The orphaned PVC, spool-<hub>-relay-<ordinal>. */
  claim: string;
  /** The hub's running replicas: the hand-off targets are pods 0..replicas-1. */
  replicas: number;
  /** The relay image (the StatefulSet's). */
  image: string;
  /** Seconds the hand-off may take. */
  deadlineSeconds: number;
}

/** drainJobName - `<claim>-drain`, cut to 63 characters (a name may not end in '-'). */
export function drainJobName(claim: string): string {
  return `${claim}-drain`.slice(0, 63).replace(/-+$/, '');
}

export function drainJob(input: DrainJobInput): KubeObject {
  const labels = { ...commonLabels(input.hub), 'app.kubernetes.io/component': 'spool-drain' };
  const args = ['hand-off', '--spool', SPOOL_MOUNT, '--token-file', `${HAND_OFF_TOKEN_MOUNT}/${HAND_OFF_TOKEN_KEY}`, '--deadline', String(input.deadlineSeconds),
    ...hubPodUrls(input.hub, input.namespace, input.replicas).flatMap((url) => ['--to', url])];
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: drainJobName(input.claim), namespace: input.namespace, labels, annotations: { 'relayoperator.io/spool-claim': input.claim } },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: input.deadlineSeconds + 120,
      ttlSecondsAfterFinished: 86_400,
      template: {
        metadata: { labels: { 'app.kubernetes.io/component': 'spool-drain', 'relayoperator.io/hub': input.hub } },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: RELAY_UID, runAsGroup: RELAY_UID, fsGroup: RELAY_UID, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{
            name: 'hand-off',
            image: input.image,
            args,
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            volumeMounts: [
              { name: 'spool', mountPath: SPOOL_MOUNT },
              { name: 'queue-token', mountPath: HAND_OFF_TOKEN_MOUNT, readOnly: true },
            ],
          }],
          volumes: [
            { name: 'spool', persistentVolumeClaim: { claimName: input.claim } },
            { name: 'queue-token', secret: { secretName: hubNames(input.hub).queueTokenSecret, defaultMode: 0o440 } },
          ],
        },
      },
    },
  };
}

/*
 * operator/controllers/stranded-mail - the RelayHub's StrandedMail condition: spool PVCs that
 * the hub's StatefulSet left behind when it scaled down (a StatefulSet keeps the PVCs of
 * removed ordinals), each of which may still hold queued mail that no pod delivers.
 *
 * Why "may": a pod scaled away hands its queue to the remaining pods on SIGTERM
 * (relay/queue/hand-off.ts) and logs what it could not, but nothing in the API tells the
 * operator whether that PVC is empty now: the pod's report Lease goes with the pod (the
 * operator deletes the Lease of an ordinal the hub no longer has, and the relay Role no longer
 * names it), and the operator does not mount volumes. So every orphaned spool PVC is reported;
 * `relay-operator drain` hands off what each holds and deletes those left empty, which clears
 * the condition. Scaling up again clears it too: the pod comes back on its PVC and delivers.
 *
 * Orphaned: a PVC of the hub (the volumeClaimTemplate's labels) named spool-<sts>-<ordinal>
 * with ordinal >= the hub's replicas, not being deleted.
 */
import { ConditionReason, ConditionType, type ConditionInput } from '../runtime/conditions.ts';
import { ordinalOf } from '../resources/hand-off.ts';
import { LABEL_HUB, hubNames } from '../resources/names.ts';
import type { KubeObject } from '../runtime/objects.ts';

/** The volumeClaimTemplate's name (operator/resources/hub-objects.ts): PVCs are spool-<pod>. */
export const SPOOL_CLAIM = 'spool';

/** orphanedSpoolClaims - names of the hub's spool PVCs whose ordinal is >= replicas, sorted by ordinal. */
export function orphanedSpoolClaims(hub: string, replicas: number, claims: readonly KubeObject[]): string[] {
  const prefix = `${SPOOL_CLAIM}-${hubNames(hub).statefulSet}`;
  return claims
    .filter((c) => c.metadata?.labels?.[LABEL_HUB] === hub && !c.metadata?.deletionTimestamp)
    .map((c) => ({ name: c.metadata?.name ?? '', ordinal: ordinalOf(c.metadata?.name ?? '', prefix) }))
    .filter((c): c is { name: string; ordinal: number } => c.ordinal !== null && c.ordinal >= replicas)
    .sort((a, b) => a.ordinal - b.ordinal)
    .map((c) => c.name);
}

/** strandedMailCondition - the StrandedMail condition for these orphaned PVCs (type, status, reason, message). */
export function strandedMailCondition(hub: string, orphaned: readonly string[]): ConditionInput {
  if (orphaned.length === 0) return { type: ConditionType.StrandedMail, status: 'False', reason: ConditionReason.NoOrphanedSpool, message: 'every spool PVC belongs to a running ordinal' };
  return {
    type: ConditionType.StrandedMail,
    status: 'True',
    reason: ConditionReason.OrphanedSpoolVolumes,
    message: `spool PVC(s) ${orphaned.join(', ')} were left by a scale-down and may hold queued mail: run relay-operator drain --hub ${hub} -n <namespace> (docs/runbooks.md), or scale up again`,
  };
}

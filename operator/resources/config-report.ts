/*
 * operator/resources/config-report - how a relay pod tells the operator which config it runs:
 * the report Lease (coordination.k8s.io/v1) named like the pod, which the operator creates
 * with the hub (hub-objects.ts) and the relay merge-patches (operator/cli/relay-command.ts).
 *
 * Why a Lease and not the pod's own annotation: writing a pod needs pods/patch, which lets the
 * writer relabel a pod into another Service or change its image, and RBAC lets nobody grant a
 * right it does not hold, so the operator needed it too. A Lease patch carries no power over
 * anything that runs. Why not the operator reading each relay's /status over HTTP: that needs
 * the network from the operator to every relay pod (NetworkPolicy holes into the
 * Internet-facing pods) and a poll, where a Lease arrives through the watch the operator
 * already has. docs/security.md has the full threat note.
 *
 * A report counts only for the pod that wrote it: holderIdentity is `<pod name>_<pod uid>`,
 * so a pod recreated under the same name (a StatefulSet does that) is not current until it
 * has reported itself - the pod annotation had that for free, as a new pod starts without it.
 */
import { ANNOTATION_CONFIG_HASH } from './names.ts';

/** The parts of a Lease and a Pod that the report reads. */
interface LeaseView {
  metadata?: { annotations?: Record<string, string> };
  spec?: { holderIdentity?: string | null };
}
interface PodView {
  metadata?: { name?: string; uid?: string };
}

/** reportHolder - the holderIdentity a pod writes: its name and uid. */
export function reportHolder(podName: string, podUid: string): string {
  return `${podName}_${podUid}`;
}

/** configReportPatch - the merge patch a relay pod sends to its report Lease. */
export function configReportPatch(podName: string, podUid: string, hash: string, now: Date): Record<string, unknown> {
  return {
    metadata: { annotations: { [ANNOTATION_CONFIG_HASH]: hash } },
    spec: { holderIdentity: reportHolder(podName, podUid), renewTime: now.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') },
  };
}

/**
 * reportedConfigHash - the config hash this pod reported in its Lease; undefined when there is
 * no Lease, it was written by another pod of the same name (an earlier incarnation), or the pod
 * has not reported yet.
 */
export function reportedConfigHash(pod: PodView, lease: LeaseView | undefined): string | undefined {
  const { name, uid } = pod.metadata ?? {};
  if (!lease || !name || !uid || lease.spec?.holderIdentity !== reportHolder(name, uid)) return undefined;
  return lease.metadata?.annotations?.[ANNOTATION_CONFIG_HASH];
}

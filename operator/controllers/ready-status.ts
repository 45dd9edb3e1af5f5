/*
 * operator/controllers/ready-status - the status of a kind whose only verdict is Ready
 * (AcceptedDomain, SendConnector): observedGeneration, the Ready condition and Stalled, written
 * with server-side apply only when it changed (a resync with nothing new writes nothing).
 *
 * Stalled mirrors Ready=False (same reason and message): every False reason of these two kinds
 * (their controllers list them) is something only a person can fix, and kstatus (Flux health
 * checks) reads Ready=False as InProgress, i.e. "wait", where Stalled=True says Failed. No
 * Reconciling: these statuses do not follow hub pods (the RelayHub's own status does).
 */
import { API_GROUP_VERSION } from '../api/crds.ts';
import type { Applier } from '../runtime/apply.ts';
import { ConditionType, setCondition, setKstatusConditions, type Condition, type ReadyVerdict } from '../runtime/conditions.ts';
import type { KubeObject } from '../runtime/objects.ts';

interface WithReadyStatus extends KubeObject {
  status?: { conditions?: Condition[] };
}

/** applyReadyStatus - write `ready` as the status of `object` (cached, at key `at`) for its current generation. */
export async function applyReadyStatus(applier: Applier, kind: 'AcceptedDomain' | 'SendConnector', at: { namespace: string; name: string }, object: WithReadyStatus, ready: ReadyVerdict): Promise<void> {
  const generation = object.metadata?.generation ?? 0;
  const now = new Date();
  const withReady = setCondition(object.status?.conditions ?? [], { type: ConditionType.Ready, ...ready }, generation, now);
  const stalled = ready.status === 'False' ? { reason: ready.reason, message: ready.message } : undefined;
  const conditions = setKstatusConditions(withReady, { stalled, settled: { reason: ready.reason, message: ready.message } }, generation, now, false);
  const status = { observedGeneration: generation, conditions };
  await applier.applyStatusIfChanged<KubeObject & { status?: unknown }>({ apiVersion: API_GROUP_VERSION, kind, metadata: { name: at.name, namespace: at.namespace }, status }, object);
}

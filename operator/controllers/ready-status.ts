/*
 * operator/controllers/ready-status - the status of a kind whose only condition is Ready
 * (AcceptedDomain, SendConnector): observedGeneration and the Ready condition, written with
 * server-side apply only when it changed (a resync with nothing new writes nothing).
 */
import { API_GROUP_VERSION } from '../api/crds.ts';
import type { Applier } from '../runtime/apply.ts';
import { ConditionType, setCondition, type Condition, type ReadyVerdict } from '../runtime/conditions.ts';
import type { KubeObject } from '../runtime/objects.ts';

interface WithReadyStatus extends KubeObject {
  status?: { conditions?: Condition[] };
}

/** applyReadyStatus - write `ready` as the status of `object` (cached, at key `at`) for its current generation. */
export async function applyReadyStatus(applier: Applier, kind: 'AcceptedDomain' | 'SendConnector', at: { namespace: string; name: string }, object: WithReadyStatus, ready: ReadyVerdict): Promise<void> {
  const generation = object.metadata?.generation ?? 0;
  const conditions = setCondition(object.status?.conditions ?? [], { type: ConditionType.Ready, ...ready }, generation);
  const status = { observedGeneration: generation, conditions };
  await applier.applyStatusIfChanged<KubeObject & { status?: unknown }>({ apiVersion: API_GROUP_VERSION, kind, metadata: { name: at.name, namespace: at.namespace }, status }, object);
}

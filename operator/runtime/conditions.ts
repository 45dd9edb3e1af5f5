/*
 * operator/runtime/conditions - status conditions (metav1.Condition) through one helper, and
 * every condition type and reason the operator uses, in one place.
 *
 * setCondition upserts by type and returns a new array (inputs are never mutated, so cached,
 * frozen status can be passed in): lastTransitionTime moves only when status flips,
 * observedGeneration is stamped on every call. Times are RFC 3339 in whole seconds, like
 * metav1.Time, so re-computing an unchanged condition yields byte-identical status and the
 * status apply is skipped as a no-op. Reasons must match the metav1 pattern (CamelCase).
 */
import { ConditionError } from './errors.ts';

export const ConditionType = {
  /** Summary: the object does what its spec says. */
  Ready: 'Ready',
  /** A rollout (new config, new pods) is under way. */
  Progressing: 'Progressing',
  /** Working, but something is wrong (some pods, some bindings). */
  Degraded: 'Degraded',
  /** A ReceiveConnector collides with another (the message names it). */
  Conflicted: 'Conflicted',
  /**
   * kstatus' "abnormal-true" pair (sigs.k8s.io/cli-utils/pkg/kstatus), which Flux health checks
   * and kstatus waiters read instead of Ready: True while the object is on its way (hub pods
   * loading its config) → InProgress.
   */
  Reconciling: 'Reconciling',
  /** True when only a person can make the object progress (the reason says what) → Failed. */
  Stalled: 'Stalled',
  /** RelayHub: spool PVCs left by a scale-down may hold mail no pod delivers (controllers/stranded-mail.ts). */
  StrandedMail: 'StrandedMail',
  /**
   * ReceiveConnector: the connector loads and works, but does not do what it most likely
   * means (operator/render/warnings.ts; the reason names the first warning). Not read by
   * kstatus, which looks only at Ready, Reconciling and Stalled: a warned connector is Current.
   */
  Warning: 'Warning',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

export const ConditionReason = {
  Reconciled: 'Reconciled',
  Reconciling: 'Reconciling',
  RolloutInProgress: 'RolloutInProgress',
  RolloutComplete: 'RolloutComplete',
  PodsNotReady: 'PodsNotReady',
  InvalidSpec: 'InvalidSpec',
  ConfigRenderFailed: 'ConfigRenderFailed',
  ApplyFailed: 'ApplyFailed',
  HubNotFound: 'HubNotFound',
  SecretNotFound: 'SecretNotFound',
  BindingConflict: 'BindingConflict',
  NoConflict: 'NoConflict',
  Disabled: 'Disabled',
  AsExpected: 'AsExpected',
  /** AcceptedDomain, SendConnector: in the rendered config of the hubs the message names. */
  Rendered: 'Rendered',
  /** A connector's spec.hubs/spec.hubSelector match no RelayHub of its namespace. */
  NoHubSelected: 'NoHubSelected',
  /** AcceptedDomain: its namespace has no RelayHub to accept mail for it. */
  NoRelayHub: 'NoRelayHub',
  /** AcceptedDomain: an earlier one declares the same domain and decides how it is treated. */
  DuplicateDomain: 'DuplicateDomain',
  /** AcceptedDomain: default: true, but an earlier one is the namespace's default. */
  DuplicateDefault: 'DuplicateDefault',
  /** AcceptedDomain: domainName is no host name the relay can match. */
  InvalidDomainName: 'InvalidDomainName',
  /** AcceptedDomain: domainName is (a wildcard over) a public suffix: left out of every hub (render/security.ts). */
  PublicSuffixDomain: 'PublicSuffixDomain',
  /** Reconciling=False because Stalled is True: waiting for a person, not for the cluster. */
  Stalled: 'Stalled',
  /** RelayHub: the rendered config does not fit a ConfigMap. */
  ConfigTooLarge: 'ConfigTooLarge',
  /** Reconciling: hub pods are loading the config that holds the object. */
  RollingOut: 'RollingOut',
  Propagating: 'Propagating',
  /** StrandedMail: spool PVCs of ordinals >= replicas exist (True), or none (False). */
  OrphanedSpoolVolumes: 'OrphanedSpoolVolumes',
  NoOrphanedSpool: 'NoOrphanedSpool',
  /** Warning=False: render/warnings.ts finds nothing to say. */
  NoWarnings: 'NoWarnings',
} as const;
export type ConditionReason = (typeof ConditionReason)[keyof typeof ConditionReason];

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/** ReadyVerdict - what a pure status decision returns: the Ready condition without its type. */
export type ReadyVerdict = Omit<ConditionInput, 'type'> & { status: 'True' | 'False' };

/** readyVerdict - False with the first problem's reason and every message, else True as `ok` says. */
export function readyVerdict(problems: ReadonlyArray<{ reason: string; message: string }>, ok: { reason: string; message: string }): ReadyVerdict {
  const [first] = problems;
  if (first) return { status: 'False', reason: first.reason, message: problems.map((p) => p.message).join('; ') };
  return { status: 'True', ...ok };
}

/** A problem only a person can fix (Stalled=True), or progress under way (Reconciling=True). */
export interface KstatusProblem {
  reason: string;
  message: string;
}

export interface KstatusVerdict {
  stalled?: KstatusProblem | undefined;
  /** Ignored when stalled: the object waits for a person, not for the cluster. */
  reconciling?: KstatusProblem | undefined;
  /** Reconciling=False's reason and message when nothing is under way. */
  settled: KstatusProblem;
}

/**
 * setKstatusConditions - Stalled and (unless `withReconciling` is false) Reconciling, always
 * written (False when not the case) so a reader sees they are maintained. Never both True:
 * kstatus takes whichever True one comes first in the list, so the order of the conditions
 * would decide between InProgress and Failed; Stalled wins because waiting cannot fix it.
 */
export function setKstatusConditions(conditions: readonly Condition[] | undefined, verdict: KstatusVerdict, generation: number | undefined, now: Date = new Date(), withReconciling = true): Condition[] {
  const { stalled, reconciling, settled } = verdict;
  let list = setCondition(conditions, stalled
    ? { type: ConditionType.Stalled, status: 'True', ...stalled }
    : { type: ConditionType.Stalled, status: 'False', reason: ConditionReason.AsExpected, message: 'nothing that needs a person' }, generation, now);
  if (!withReconciling) return list;
  list = setCondition(list, stalled
    ? { type: ConditionType.Reconciling, status: 'False', reason: ConditionReason.Stalled, message: `stalled: ${stalled.reason}` }
    : reconciling
      ? { type: ConditionType.Reconciling, status: 'True', ...reconciling }
      : { type: ConditionType.Reconciling, status: 'False', ...settled }, generation, now);
  return list;
}

const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const TYPE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;
const MAX_MESSAGE = 32768;

/** conditionTime - metav1.Time form: RFC 3339, whole seconds, UTC. */
export function conditionTime(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** setCondition - upsert by type; returns the new list (see the module comment). */
export function setCondition(conditions: readonly Condition[] | undefined, input: ConditionInput, generation: number | undefined, now: Date = new Date()): Condition[] {
  if (!TYPE.test(input.type) || input.type.length > 316) throw new ConditionError(`condition type "${input.type}" is not a valid metav1 condition type`);
  if (!REASON.test(input.reason) || input.reason.length > 1024) throw new ConditionError(`condition reason "${input.reason}" must be CamelCase (${REASON.source})`);
  if (!['True', 'False', 'Unknown'].includes(input.status)) throw new ConditionError(`condition status "${String(input.status)}" must be True, False or Unknown`);
  const list = conditions ?? [];
  const existing = list.find((c) => c.type === input.type);
  const next: Condition = {
    type: input.type,
    status: input.status,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    lastTransitionTime: existing && existing.status === input.status ? existing.lastTransitionTime : conditionTime(now),
    reason: input.reason,
    message: input.message.length > MAX_MESSAGE ? input.message.slice(0, MAX_MESSAGE) : input.message,
  };
  return existing ? list.map((c) => (c === existing ? next : { ...c })) : [...list.map((c) => ({ ...c })), next];
}

/** findCondition - the condition of that type, if any. */
export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** isConditionTrue - the condition exists with status True (and, when given, for that generation). */
export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string, generation?: number): boolean {
  const c = findCondition(conditions, type);
  return c?.status === 'True' && (generation === undefined || c.observedGeneration === generation);
}

/** removeCondition - the list without that type. */
export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type).map((c) => ({ ...c }));
}

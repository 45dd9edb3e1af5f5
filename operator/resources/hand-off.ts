/*
 * operator/resources/hand-off - who is scaled away and where its queue goes: the pure half of
 * the relay pod's hand-off decision (operator/cli/relay-command.ts does the GET of the
 * StatefulSet and hands the relay only the answer, relay/process/relay-main.ts HandOffPlan).
 *
 * A StatefulSet removes its highest ordinals first, so a pod whose ordinal is >= spec.replicas
 * is being scaled away: its PVC stays behind and nobody would deliver what it holds. Any other
 * SIGTERM (a rollout, a node drain, a delete) is a restart: the pod comes back on the same PVC,
 * and the queue waits for it. The targets are the remaining pods' stable DNS names through
 * the headless Service, on the HTTP port (METRICS_PORT) where POST /queue/hand-off answers.
 * Orphaned spool PVCs (`spool-<sts>-<ordinal>`) are read with the same ordinal rule
 * (operator/controllers/stranded-mail.ts).
 */
import { METRICS_PORT, hubNames } from './names.ts';

/** ordinalOf - the ordinal at the end of `<prefix>-<n>`, null when the name is not one of the prefix's. */
export function ordinalOf(name: string, prefix: string): number | null {
  if (!name.startsWith(`${prefix}-`)) return null;
  const rest = name.slice(prefix.length + 1);
  return /^(0|[1-9]\d{0,8})$/.test(rest) ? Number(rest) : null;
}

/** hubPodUrls - the HTTP endpoints of the hub's pods 0..replicas-1, by their headless-Service DNS names. */
export function hubPodUrls(hub: string, namespace: string, replicas: number): string[] {
  const names = hubNames(hub);
  return Array.from({ length: Math.max(0, replicas) }, (_, i) => `http://${names.statefulSet}-${i}.${names.headlessService}.${namespace}.svc:${METRICS_PORT}`);
}

export type HandOffDecision =
  | { handOff: false; why: string }
  | { handOff: true; targets: string[]; why: string };

/** handOffDecision - whether the pod `podName` of the hub's StatefulSet is scaled away (ordinal >= replicas) and where its queue goes. */
export function handOffDecision(hub: string, namespace: string, podName: string, replicas: number): HandOffDecision {
  const statefulSet = hubNames(hub).statefulSet;
  const ordinal = ordinalOf(podName, statefulSet);
  if (ordinal === null) return { handOff: false, why: `pod ${podName} is not a pod of StatefulSet ${statefulSet}` };
  if (ordinal < replicas) return { handOff: false, why: `ordinal ${ordinal} < replicas ${replicas}: a restart, the queue waits on the volume` };
  if (replicas <= 0) return { handOff: false, why: `the hub is scaled to 0: no pod to hand the queue to, it stays on the volume` };
  return { handOff: true, targets: hubPodUrls(hub, namespace, replicas), why: `ordinal ${ordinal} >= replicas ${replicas}: scaled away` };
}

/** hubOfStatefulSet - the hub a relay StatefulSet name belongs to (`<hub>-relay`), null otherwise. */
export function hubOfStatefulSet(statefulSet: string): string | null {
  return statefulSet.endsWith('-relay') ? statefulSet.slice(0, -'-relay'.length) : null;
}

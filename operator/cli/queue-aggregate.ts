/*
 * operator/cli/queue-aggregate - what `queue --hub NAME` and `track --hub NAME` show of a
 * hub's pods as one: the pods' answers merged with the pod named on every row, and message
 * ids written `POD/ID` (each pod has its own spool, so an id means something only with its pod).
 *
 * Pure: the answers come in, rows go out; the command asks the pods (hub-targets.ts).
 */
import type { TrackingEntry } from '../../relay/log/tracking-log-search.ts';
import type { MessagePage, MessageSummary, NextHopQueue } from '../../relay/queue/queue-view.ts';
import { FlagError } from './flags.ts';

export interface PodMessageId {
  pod: string;
  id: string;
}

/** One pod's answer. */
export interface PodAnswer<T> {
  pod: string;
  answer: T;
}

export type PodQueue = NextHopQueue & { pod: string };
export type PodMessage = MessageSummary & { pod: string };
export type PodTrackingEntry = TrackingEntry & { pod: string };

/** A pod's name as Kubernetes allows it (RFC 1123 subdomain). */
const POD_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * parsePodMessageId - `POD/ID`, or `ID` with `--pod POD`; a FlagError naming the argument when
 * the pod is missing, malformed, or differs from --pod.
 */
export function parsePodMessageId(command: string, arg: string, podFlag: string | undefined): PodMessageId {
  const slash = arg.indexOf('/');
  if (slash < 0) {
    if (podFlag === undefined) throw new FlagError(`relay-operator ${command}: "${arg}": with --hub, give the message as POD/ID (as queue list --messages shows it) or add --pod POD`);
    if (arg === '') throw new FlagError(`relay-operator ${command}: an empty message id`);
    return { pod: podFlag, id: arg };
  }
  const pod = arg.slice(0, slash);
  const id = arg.slice(slash + 1);
  if (!POD_NAME.test(pod)) throw new FlagError(`relay-operator ${command}: "${arg}": "${pod}" is not a pod name (POD/ID, e.g. mail-relay-0/0a1b...)`);
  if (id === '' || id.includes('/')) throw new FlagError(`relay-operator ${command}: "${arg}": no message id after the pod (POD/ID)`);
  if (podFlag !== undefined && podFlag !== pod) throw new FlagError(`relay-operator ${command}: "${arg}" names pod ${pod} but --pod is ${podFlag}`);
  return { pod, id };
}

/** groupByPod - the ids to send to each pod, pods in the order first named. */
export function groupByPod(ids: readonly PodMessageId[]): Map<string, string[]> {
  const byPod = new Map<string, string[]>();
  for (const { pod, id } of ids) byPod.set(pod, [...(byPod.get(pod) ?? []), id]);
  return byPod;
}

/** mergeQueues - every pod's next-hop queues as rows with their pod, by next hop then pod. */
export function mergeQueues(answers: readonly PodAnswer<{ queues: NextHopQueue[] }>[]): PodQueue[] {
  return answers
    .flatMap(({ pod, answer }) => answer.queues.map((q) => ({ pod, ...q })))
    .sort((a, b) => (a.nextHop < b.nextHop ? -1 : a.nextHop > b.nextHop ? 1 : a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0));
}

/**
 * mergeMessages - every pod's page of messages, ids made `POD/ID`, oldest first; `more` lists
 * the pods that have another page, with the `after` to ask it for.
 */
export function mergeMessages(answers: readonly PodAnswer<MessagePage>[]): { messages: PodMessage[]; more: { pod: string; after: string }[] } {
  const messages = answers
    .flatMap(({ pod, answer }) => answer.messages.map((m) => ({ ...m, pod, id: `${pod}/${m.id}` })))
    .sort((a, b) => b.ageSeconds - a.ageSeconds || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const more = answers.flatMap(({ pod, answer }) => (answer.next ? [{ pod, after: answer.next }] : []));
  return { messages, more };
}

/** mergeTracking - every pod's tracking entries with their pod, by time (a pod's own order kept for equal times). */
export function mergeTracking(answers: readonly PodAnswer<{ entries: TrackingEntry[] }>[]): PodTrackingEntry[] {
  const rows = answers.flatMap(({ pod, answer }) => answer.entries.map((e, i) => ({ entry: { pod, ...e }, at: Date.parse(e['date-time']), i })));
  rows.sort((a, b) => a.at - b.at || (a.entry.pod < b.entry.pod ? -1 : a.entry.pod > b.entry.pod ? 1 : a.i - b.i));
  return rows.map((r) => r.entry);
}

/** limitMerged - the oldest `limit` entries of a merge (0 = all), and whether some were cut. */
export function limitMerged<T>(rows: readonly T[], limit: number): { rows: T[]; truncated: boolean } {
  if (limit <= 0 || rows.length <= limit) return { rows: [...rows], truncated: false };
  return { rows: rows.slice(0, limit), truncated: true };
}

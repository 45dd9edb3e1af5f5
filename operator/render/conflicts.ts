/*
 * operator/render/conflicts - connectors that may not share a listener.
 *
 * Two connectors on one listener whose remoteIPRanges entries are equal, or overlap without
 * one containing the other, conflict: the later one (input order = precedence) is not loaded
 * anywhere on the hub, and the earlier keeps working. Leaving a connector out can resolve a
 * conflict it caused elsewhere, so the check repeats until nothing changes.
 */
import { buildListenerIndex } from '../../relay/listener/range-index.ts';

export interface ConflictCandidate {
  id: string;
  createdAt: string;
  ranges: string[];
  /** `addressName:port` keys. */
  listeners: string[];
}

export interface ListenerConflict {
  conflictsWith: string;
  listener: string;
  reason: string;
}

/** findListenerConflicts - the candidates (in precedence order) to leave out, and why. */
export function findListenerConflicts(candidates: ConflictCandidate[]): Map<string, ListenerConflict> {
  const excluded = new Map<string, ListenerConflict>();
  const listenerKeys = [...new Set(candidates.flatMap((c) => c.listeners))].sort();
  for (let changed = true; changed; ) {
    changed = false;
    for (const listener of listenerKeys) {
      const onListener = candidates.filter((c) => !excluded.has(c.id) && c.listeners.includes(listener));
      if (onListener.length < 2) continue;
      const { conflicts } = buildListenerIndex(onListener.map((c) => ({ id: c.id, createdAt: c.createdAt, ranges: c.ranges })));
      for (const conflict of conflicts) {
        if (excluded.has(conflict.connectorId)) continue;
        excluded.set(conflict.connectorId, {
          conflictsWith: conflict.conflictsWith,
          listener,
          reason: `entry ${conflict.entry} against ${conflict.otherEntry}: ${conflict.reason}`,
        });
        changed = true;
      }
    }
  }
  return excluded;
}

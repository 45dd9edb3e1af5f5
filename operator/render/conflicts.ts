/*
 * operator/render/conflicts - connectors that may not share a listener.
 *
 * Two connectors on one listener whose remoteIPRanges entries are equal, or overlap without
 * one containing the other, conflict: the later one (input order = precedence) is not loaded
 * anywhere on the hub, and the earlier keeps working. Leaving a connector out can resolve a
 * conflict it caused elsewhere, so the check repeats until nothing changes.
 *
 * Nested entries are no conflict (the smaller wins), which let one new object take over the
 * clients of a wide connector and relay for them (issue 17): findNarrowerConnectors leaves out
 * a connector that narrows another one to grant more rights, unless the other allows it.
 */
import type { ConnectorConfig } from '../../relay/config/schema.ts';
import { parseRemoteIPRange, type ParsedRange } from '../../relay/common/addresses.ts';
import { buildListenerIndex } from '../../relay/listener/range-index-build.ts';
import { narrowerGrantsMore } from './security.ts';

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

export interface NarrowingCandidate {
  id: string;
  config: ConnectorConfig;
  /** spec.allowNarrowerConnectors of this connector. */
  allowNarrowerConnectors: boolean;
  /** `addressName:port` keys. */
  listeners: string[];
}

export interface NarrowerConflict extends ListenerConflict {
  message: string;
}

/** The entries of one connector, per family sorted by first address, with the running maximum of last. */
interface SortedEntries {
  first: bigint[];
  maxLast: bigint[];
  entries: ParsedRange[];
}

function sortEntries(ranges: string[]): Record<4 | 6, SortedEntries> {
  const out: Record<4 | 6, SortedEntries> = { 4: { first: [], maxLast: [], entries: [] }, 6: { first: [], maxLast: [], entries: [] } };
  const parsed: ParsedRange[] = [];
  for (const entry of ranges) {
    try {
      parsed.push(parseRemoteIPRange(entry));
    } catch {
      // a syntax error is reported by its own rule; it selects no client either
    }
  }
  parsed.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  for (const range of parsed) {
    const family = out[range.family];
    const previous = family.maxLast.at(-1);
    family.first.push(range.first);
    family.maxLast.push(previous !== undefined && previous > range.last ? previous : range.last);
    family.entries.push(range);
  }
  return out;
}

/** The wide entry containing `range` (some entry starting at or before it reaches past its end), if any. */
function containingEntry(wide: Record<4 | 6, SortedEntries>, range: ParsedRange): ParsedRange | undefined {
  const family = wide[range.family];
  let low = 0;
  let high = family.first.length - 1;
  let at = -1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if ((family.first[mid] ?? 0n) <= range.first) {
      at = mid;
      low = mid + 1;
    } else high = mid - 1;
  }
  if (at < 0 || (family.maxLast[at] ?? -1n) < range.last) return undefined;
  // only for the message: walk back to the entry that reaches this far (rare, and short)
  for (let i = at; i >= 0; i--) {
    const entry = family.entries[i];
    if (entry && entry.last >= range.last) return entry;
  }
  return undefined;
}

/**
 * findNarrowerConnectors - connectors (among those the listener conflict check left loaded) that
 * take clients out of another connector's entry on the same listener with a smaller entry and
 * give some of them more rights than that connector would (security.ts narrowerGrantsMore),
 * while that connector does not set allowNarrowerConnectors. Each is left out, whatever the
 * creation order: the wider connector keeps its clients. Every wider connector is checked, not
 * only the nearest, so a permissive connector in between cannot launder the rights.
 * Cost: per pair of connectors on a listener, O(n log m) over their entries.
 */
export function findNarrowerConnectors(candidates: NarrowingCandidate[]): Map<string, NarrowerConflict> {
  const excluded = new Map<string, NarrowerConflict>();
  const sorted = new Map<string, Record<4 | 6, SortedEntries>>();
  const entriesOf = (c: NarrowingCandidate): Record<4 | 6, SortedEntries> => {
    let entries = sorted.get(c.id);
    if (!entries) sorted.set(c.id, (entries = sortEntries(c.config.remoteIPRanges)));
    return entries;
  };
  const listenerKeys = [...new Set(candidates.flatMap((c) => c.listeners))].sort();
  for (const listener of listenerKeys) {
    const onListener = candidates.filter((c) => c.listeners.includes(listener));
    for (const narrow of onListener) {
      if (excluded.has(narrow.id)) continue;
      for (const wide of onListener) {
        if (wide === narrow || wide.allowNarrowerConnectors) continue;
        const extra = narrowerGrantsMore(narrow.config, wide.config);
        if (!extra) continue;
        const wideEntries = entriesOf(wide);
        let found: { inner: ParsedRange; outer: ParsedRange } | undefined;
        for (const family of [4, 6] as const) {
          for (const inner of entriesOf(narrow)[family].entries) {
            const outer = containingEntry(wideEntries, inner);
            if (outer && outer.size > inner.size) {
              found = { inner, outer };
              break;
            }
          }
          if (found) break;
        }
        if (!found) continue;
        const reason = `entry ${found.inner.entry} lies inside ${wide.id}'s entry ${found.outer.entry}, and it grants ${extra.client} ${extra.rights.join(', ')}, which ${wide.id} does not`;
        excluded.set(narrow.id, {
          conflictsWith: wide.id,
          listener,
          reason,
          message: `narrows ReceiveConnector ${wide.id} on listener ${listener} to grant more: ${reason}; ${wide.id} must set spec.allowNarrowerConnectors: true to allow it`,
        });
        break;
      }
    }
  }
  return excluded;
}

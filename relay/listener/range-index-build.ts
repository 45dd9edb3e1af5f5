// Connector selection on one listener, the build half (api.md "Connector selection"): entries
// of two connectors must be nested or disjoint; an equal or partial overlap leaves the later
// connector unloaded. The lookup half is range-index-lookup.ts.
//
// Addresses are 128-bit values as four big-endian uint32 words in typed arrays
// (relay/common/addresses.ts), not bigints, which sort ~10x slower: 100,000 entries must load
// in well under a second. Building: a radix sort ranks all endpoints; conflicts are checked in
// precedence order with two range-min/max trees over the ranks (O(n log n), whatever the
// overlaps inside one connector); a sweep with a min-heap on entry size gives each segment its
// innermost entry.
import { WORDS, compareWords, copyWords, incrementWords, readRangeEntry } from '../common/addresses.ts';
import { ListenerRangeIndex, type FamilySegments } from './range-index-lookup.ts';

export interface ConnectorRanges {
  id: string;
  /** RFC 3339 creationTimestamp; the earlier connector wins a conflict, ties by id. */
  createdAt: string;
  ranges: string[];
}

export interface RangeConflict {
  /** The later connector, excluded from the index. */
  connectorId: string;
  /** The earlier, loaded connector it collides with. */
  conflictsWith: string;
  entry: string;
  otherEntry: string;
  reason: 'equalRange' | 'partialOverlap';
  message: string;
}

/**
 * Extreme (min or max) of a per-entry rank over entries inserted at positions 0..size-1, with
 * range queries; answers with the entry, so a conflict can name the other side.
 */
class RankExtremumTree {
  readonly #size: number;
  readonly #nodes: Int32Array;
  readonly #rank: Int32Array;
  readonly #wantMax: boolean;

  constructor(size: number, rank: Int32Array, wantMax: boolean) {
    this.#size = size;
    this.#nodes = new Int32Array(2 * size).fill(-1);
    this.#rank = rank;
    this.#wantMax = wantMax;
  }

  #better(a: number, b: number): number {
    if (a < 0) return b;
    if (b < 0) return a;
    const rank = this.#rank;
    if (this.#wantMax) return rank[a]! >= rank[b]! ? a : b;
    return rank[a]! <= rank[b]! ? a : b;
  }

  insert(position: number, entry: number): void {
    const nodes = this.#nodes;
    let node = position + this.#size;
    nodes[node] = this.#better(nodes[node]!, entry);
    for (node >>= 1; node >= 1; node >>= 1) {
      const best = this.#better(nodes[2 * node]!, nodes[2 * node + 1]!);
      if (nodes[node] === best) break;
      nodes[node] = best;
    }
  }

  /** Best entry among positions low..high inclusive, or -1. */
  query(low: number, high: number): number {
    const nodes = this.#nodes;
    let best = -1;
    let left = low + this.#size;
    let right = high + this.#size + 1;
    while (left < right) {
      if (left & 1) best = this.#better(best, nodes[left++]!);
      if (right & 1) best = this.#better(best, nodes[--right]!);
      left >>= 1;
      right >>= 1;
    }
    return best;
  }
}

/** Entries of one family with their endpoints ranked among all endpoints of that family. */
interface RankedFamily {
  entries: Int32Array;
  /** Distinct endpoint values in ascending order, four words each. */
  coordinates: Uint32Array;
  coordinateCount: number;
}

/**
 * Ranks the first and last addresses of `entries` (LSD radix sort on 16-bit digits, skipping
 * digits all keys share, so IPv4 costs two passes), filling firstRank/lastRank.
 */
function rankEndpoints(
  entries: Int32Array,
  first: Uint32Array,
  last: Uint32Array,
  firstRank: Int32Array,
  lastRank: Int32Array,
): RankedFamily {
  const keyCount = entries.length * 2;
  // key k is the first (k even) or last (k odd) address of entries[k >> 1]
  const keys = new Uint32Array(keyCount * WORDS);
  for (let i = 0; i < entries.length; i++) {
    const source = entries[i]! * WORDS;
    copyWords(first, source, keys, 2 * i * WORDS);
    copyWords(last, source, keys, (2 * i + 1) * WORDS);
  }
  let order = new Uint32Array(keyCount);
  let spare = new Uint32Array(keyCount);
  for (let k = 0; k < keyCount; k++) order[k] = k;
  // Bits in which some key differs from key 0: digits without any are already sorted.
  const differing = new Uint32Array(WORDS);
  for (let k = 1; k < keyCount; k++) {
    for (let w = 0; w < WORDS; w++) differing[w]! |= keys[k * WORDS + w]! ^ keys[w]!;
  }
  const counts = new Uint32Array(65536);
  for (let digit = 0; digit < 2 * WORDS; digit++) {
    const word = WORDS - 1 - (digit >> 1);
    const shift = (digit & 1) * 16;
    if (((differing[word]! >>> shift) & 0xffff) === 0) continue;
    counts.fill(0);
    for (let k = 0; k < keyCount; k++) counts[(keys[k * WORDS + word]! >>> shift) & 0xffff]!++;
    let position = 0;
    for (let d = 0; d < 65536; d++) {
      const count = counts[d]!;
      counts[d] = position;
      position += count;
    }
    for (let i = 0; i < keyCount; i++) {
      const k = order[i]!;
      spare[counts[(keys[k * WORDS + word]! >>> shift) & 0xffff]!++] = k;
    }
    [order, spare] = [spare, order];
  }
  const coordinates = new Uint32Array(keyCount * WORDS);
  let coordinateCount = 0;
  for (let i = 0; i < keyCount; i++) {
    const k = order[i]!;
    const at = k * WORDS;
    if (coordinateCount === 0 || compareWords(keys, at, coordinates, (coordinateCount - 1) * WORDS) !== 0) {
      copyWords(keys, at, coordinates, coordinateCount * WORDS);
      coordinateCount++;
    }
    const entry = entries[k >> 1]!;
    if (k & 1) lastRank[entry] = coordinateCount - 1;
    else firstRank[entry] = coordinateCount - 1;
  }
  return { entries, coordinates, coordinateCount };
}

/**
 * Groups entries of one family covering exactly the same addresses (whatever their notation),
 * by a two-pass counting sort on (firstRank, lastRank). Returns the number of groups used.
 */
function groupEqualRanges(
  family: RankedFamily,
  firstRank: Int32Array,
  lastRank: Int32Array,
  groupOf: Int32Array,
  nextGroup: number,
): number {
  const { entries, coordinateCount } = family;
  const byLast = countingSort(entries, lastRank, coordinateCount);
  const byBoth = countingSort(byLast, firstRank, coordinateCount);
  let group = nextGroup - 1;
  for (let i = 0; i < byBoth.length; i++) {
    const entry = byBoth[i]!;
    const previous = i > 0 ? byBoth[i - 1]! : -1;
    if (previous < 0 || firstRank[previous] !== firstRank[entry] || lastRank[previous] !== lastRank[entry]) group++;
    groupOf[entry] = group;
  }
  return group + 1;
}

/** Stable sort of `items` by key[item] in 0..keyRange-1. */
function countingSort(items: Int32Array, key: Int32Array, keyRange: number): Int32Array {
  const starts = new Int32Array(keyRange + 1);
  for (let i = 0; i < items.length; i++) starts[key[items[i]!]! + 1]!++;
  for (let k = 0; k < keyRange; k++) starts[k + 1]! += starts[k]!;
  const sorted = new Int32Array(items.length);
  for (let i = 0; i < items.length; i++) sorted[starts[key[items[i]!]!]!++] = items[i]!;
  return sorted;
}

/** Binary min-heap of entries ordered by span (size), then by entry index (precedence). */
class SmallestEntryHeap {
  readonly #items: Int32Array;
  readonly #span: Uint32Array;
  #length = 0;

  constructor(capacity: number, span: Uint32Array) {
    this.#items = new Int32Array(capacity);
    this.#span = span;
  }

  get top(): number {
    return this.#length === 0 ? -1 : this.#items[0]!;
  }

  #less(a: number, b: number): boolean {
    const order = compareWords(this.#span, a * WORDS, this.#span, b * WORDS);
    return order < 0 || (order === 0 && a < b);
  }

  push(entry: number): void {
    const items = this.#items;
    let i = this.#length++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(entry, items[parent]!)) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = entry;
  }

  pop(): void {
    const items = this.#items;
    const last = items[--this.#length]!;
    const length = this.#length;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= length) break;
      if (child + 1 < length && this.#less(items[child + 1]!, items[child]!)) child++;
      if (!this.#less(items[child]!, last)) break;
      items[i] = items[child]!;
      i = child;
    }
    if (length > 0) items[i] = last;
  }
}

/**
 * Elementary segments of one family: sweeps the ranked endpoints, keeping the loaded entries that
 * cover the sweep point in a heap whose top is the smallest. Entries leave the heap lazily, when
 * they surface at the top after their last address.
 */
function buildSegments(
  family: RankedFamily,
  loaded: Int32Array,
  firstRank: Int32Array,
  lastRank: Int32Array,
  span: Uint32Array,
  ipv4: boolean,
): FamilySegments {
  const { coordinates, coordinateCount } = family;
  const startingAt = countingSort(loaded, firstRank, coordinateCount);
  const heap = new SmallestEntryHeap(loaded.length, span);
  const capacity = 2 * loaded.length + 1;
  const starts = new Uint32Array(capacity * WORDS);
  const owners = new Int32Array(capacity);
  const afterLast = new Uint32Array(WORDS);
  let count = 0;

  const emit = (source: Uint32Array, at: number, owner: number): void => {
    // Both points of one step may open a segment at the same address; the later one holds.
    if (count > 0 && compareWords(starts, (count - 1) * WORDS, source, at) === 0) count--;
    if (count > 0 ? owners[count - 1] === owner : owner < 0) return;
    copyWords(source, at, starts, count * WORDS);
    owners[count++] = owner;
  };

  let next = 0;
  for (let rank = 0; rank < coordinateCount; rank++) {
    while (next < startingAt.length && firstRank[startingAt[next]!] === rank) heap.push(startingAt[next++]!);
    while (heap.top >= 0 && lastRank[heap.top]! < rank) heap.pop();
    emit(coordinates, rank * WORDS, heap.top);
    // Entries whose last address is this coordinate stop covering right after it.
    const owner = heap.top;
    while (heap.top >= 0 && lastRank[heap.top]! <= rank) heap.pop();
    if (heap.top !== owner && incrementWords(coordinates, rank * WORDS, afterLast, 0)) {
      // 255.255.255.255 + 1 carries into the IPv6-only words: nothing follows it.
      if (!ipv4 || afterLast[2] === 0) emit(afterLast, 0, heap.top);
    }
  }

  if (!ipv4) return { starts: starts.slice(0, count * WORDS), owners: owners.slice(0, count) };
  const v4Starts = new Uint32Array(count);
  for (let i = 0; i < count; i++) v4Starts[i] = starts[i * WORDS + 3]!;
  return { starts: v4Starts, owners: owners.slice(0, count) };
}

/**
 * compareConnectorPrecedence - the one order of connectors on a listener: earliest createdAt
 * first (an unparsable or missing one last), ties by id. The earlier connector keeps a
 * contested range; render lists connectors in this order too.
 */
export function compareConnectorPrecedence(a: Pick<ConnectorRanges, 'id' | 'createdAt'>, b: Pick<ConnectorRanges, 'id' | 'createdAt'>): number {
  const timeA = Date.parse(a.createdAt);
  const timeB = Date.parse(b.createdAt);
  const keyA = Number.isNaN(timeA) ? Infinity : timeA;
  const keyB = Number.isNaN(timeB) ? Infinity : timeB;
  if (keyA !== keyB) return keyA < keyB ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Builds the index of one listener. Connectors are taken in precedence order (earliest
 * createdAt first, ties by id; the input is sorted here so its order does not matter). A
 * connector with an entry equal to, or partially overlapping, an entry of an earlier *loaded*
 * connector is reported in `conflicts` and left out entirely. Entries of one connector may
 * overlap each other freely. Throws RangeSyntaxError on an unparsable entry.
 */
export function buildListenerIndex(connectors: readonly ConnectorRanges[]): {
  index: ListenerRangeIndex;
  conflicts: RangeConflict[];
} {
  const ordered = [...connectors].sort(compareConnectorPrecedence);
  let entryCount = 0;
  for (const connector of ordered) entryCount += connector.ranges.length;

  // 1. Parse every entry; entry indices follow precedence, then list order.
  const first = new Uint32Array(entryCount * WORDS);
  const last = new Uint32Array(entryCount * WORDS);
  const span = new Uint32Array(entryCount * WORDS);
  const entryFamily = new Uint8Array(entryCount);
  const entryConnector = new Int32Array(entryCount);
  const entryText: string[] = [];
  const connectorStart = new Int32Array(ordered.length + 1);
  let v4Count = 0;
  let entry = 0;
  for (let c = 0; c < ordered.length; c++) {
    const connector = ordered[c]!;
    connectorStart[c] = entry;
    for (const text of connector.ranges) {
      const family = readRangeEntry(text, first, last, span, entry * WORDS, connector.id);
      if (family === 4) v4Count++;
      entryFamily[entry] = family;
      entryConnector[entry] = c;
      entryText.push(text);
      entry++;
    }
  }
  connectorStart[ordered.length] = entry;

  // 2. Rank endpoints per family; group equal ranges.
  const v4Entries = new Int32Array(v4Count);
  const v6Entries = new Int32Array(entryCount - v4Count);
  for (let e = 0, i4 = 0, i6 = 0; e < entryCount; e++) {
    if (entryFamily[e] === 4) v4Entries[i4++] = e;
    else v6Entries[i6++] = e;
  }
  const firstRank = new Int32Array(entryCount);
  const lastRank = new Int32Array(entryCount);
  const families = [
    rankEndpoints(v4Entries, first, last, firstRank, lastRank),
    rankEndpoints(v6Entries, first, last, firstRank, lastRank),
  ] as const;
  const groupOf = new Int32Array(entryCount);
  const v4GroupCount = groupEqualRanges(families[0], firstRank, lastRank, groupOf, 0);
  const groupCount = groupEqualRanges(families[1], firstRank, lastRank, groupOf, v4GroupCount);
  const groupLoadedEntry = new Int32Array(groupCount).fill(-1);

  // 3. Conflicts, connector by connector, against the connectors already loaded.
  //    Partial overlap of entry e by a loaded f means f.first < e.first <= f.last < e.last
  //    (found as the smallest f.first among f.last in [e.first, e.last)) or the mirror case
  //    e.first < f.first <= e.last < f.last (largest f.last among f.first in (e.first, e.last]).
  const treeFor = (family: RankedFamily) => ({
    byLast: new RankExtremumTree(family.coordinateCount, firstRank, false),
    byFirst: new RankExtremumTree(family.coordinateCount, lastRank, true),
  });
  const trees = [treeFor(families[0]), treeFor(families[1])] as const;
  const conflicts: RangeConflict[] = [];
  const loadedConnectorIds: string[] = [];
  const isLoaded = new Uint8Array(entryCount);
  let loadedV4Count = 0;
  let loadedV6Count = 0;

  for (let c = 0; c < ordered.length; c++) {
    const begin = connectorStart[c]!;
    const end = connectorStart[c + 1]!;
    let conflict: RangeConflict | null = null;
    for (let e = begin; e < end && conflict === null; e++) {
      const tree = trees[entryFamily[e] === 4 ? 0 : 1];
      const low = firstRank[e]!;
      const high = lastRank[e]!;
      const equal = groupLoadedEntry[groupOf[e]!]!;
      if (equal >= 0) {
        conflict = describeConflict(ordered, entryConnector, entryText, e, equal, 'equalRange');
        continue;
      }
      const startsBefore = high > low ? tree.byLast.query(low, high - 1) : -1;
      if (startsBefore >= 0 && firstRank[startsBefore]! < low) {
        conflict = describeConflict(ordered, entryConnector, entryText, e, startsBefore, 'partialOverlap');
        continue;
      }
      const endsAfter = high > low ? tree.byFirst.query(low + 1, high) : -1;
      if (endsAfter >= 0 && lastRank[endsAfter]! > high) {
        conflict = describeConflict(ordered, entryConnector, entryText, e, endsAfter, 'partialOverlap');
      }
    }
    if (conflict !== null) {
      conflicts.push(conflict);
      continue;
    }
    loadedConnectorIds.push(ordered[c]!.id);
    for (let e = begin; e < end; e++) {
      const ipv4 = entryFamily[e] === 4;
      const tree = trees[ipv4 ? 0 : 1];
      tree.byLast.insert(lastRank[e]!, e);
      tree.byFirst.insert(firstRank[e]!, e);
      const group = groupOf[e]!;
      if (groupLoadedEntry[group]! < 0) groupLoadedEntry[group] = e;
      isLoaded[e] = 1;
      if (ipv4) loadedV4Count++;
      else loadedV6Count++;
    }
  }

  // 4. Segments of the loaded entries.
  const loadedV4 = new Int32Array(loadedV4Count);
  const loadedV6 = new Int32Array(loadedV6Count);
  for (let e = 0, i4 = 0, i6 = 0; e < entryCount; e++) {
    if (isLoaded[e] === 0) continue;
    if (entryFamily[e] === 4) loadedV4[i4++] = e;
    else loadedV6[i6++] = e;
  }
  const index = new ListenerRangeIndex({
    entryText,
    entryConnector,
    entrySpan: span,
    connectorIds: ordered.map((connector) => connector.id),
    loadedConnectorIds,
    loadedEntryCount: loadedV4.length + loadedV6.length,
    v4: buildSegments(families[0], loadedV4, firstRank, lastRank, span, true),
    v6: buildSegments(families[1], loadedV6, firstRank, lastRank, span, false),
  });
  return { index, conflicts };
}

function describeConflict(
  ordered: readonly ConnectorRanges[],
  entryConnector: Int32Array,
  entryText: readonly string[],
  entry: number,
  other: number,
  reason: RangeConflict['reason'],
): RangeConflict {
  const connectorId = ordered[entryConnector[entry]!]!.id;
  const conflictsWith = ordered[entryConnector[other]!]!.id;
  const text = entryText[entry]!;
  const otherText = entryText[other]!;
  const how = reason === 'equalRange'
    ? 'covers the same addresses as'
    : 'overlaps without containing or being contained in';
  return {
    connectorId,
    conflictsWith,
    entry: text,
    otherEntry: otherText,
    reason,
    message:
      `remoteIPRanges entry ${JSON.stringify(text)} ${how} entry ${JSON.stringify(otherText)} of the earlier ` +
      `connector ${JSON.stringify(conflictsWith)} on the same listener; this connector is not loaded`,
  };
}

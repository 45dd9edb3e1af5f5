// Connector selection on one listener, the lookup half (api.md "Connector selection"): the
// connector whose *smallest* remoteIPRanges entry contains the client address wins; the index
// is made by range-index-build.ts.
//
// Data structure: per address family, sorted elementary segment starts, each mapped to the
// smallest loaded entry covering it, so a lookup is one binary search (O(log n)) returning a
// cached frozen result: no allocation per connection. Addresses are 128-bit values as four
// big-endian uint32 words (relay/common/addresses.ts), IPv4 in the last word.
import { WORDS, compareWords, parseClientAddress, wordsToBigInt, type AddressFamily } from '../common/addresses.ts';

export interface RangeMatch {
  readonly connectorId: string;
  readonly entry: string;
  readonly size: bigint;
}

export type ConnectorSelection =
  | { readonly ok: true; readonly connectorId: string; readonly entry: string; readonly size: bigint }
  | { readonly ok: false; readonly reason: 'noMatchingRange' | 'invalidAddress' };

const clientScratch = new Uint32Array(WORDS);

export interface FamilySegments {
  /** IPv4: one word per segment; IPv6: four words per segment. */
  starts: Uint32Array;
  /** Entry index owning each segment, or -1 for a gap. */
  owners: Int32Array;
}

export class ListenerRangeIndex {
  readonly #entryText: readonly string[];
  readonly #entryConnector: Int32Array;
  readonly #entrySpan: Uint32Array;
  readonly #connectorIds: readonly string[];
  readonly #v4: FamilySegments;
  readonly #v6: FamilySegments;
  // Results are made on first use and kept: a lookup then allocates nothing.
  readonly #matches = new Map<number, RangeMatch>();
  readonly #selections = new Map<number, ConnectorSelection>();
  /** Ids of the connectors loaded (not conflicted), in precedence order. */
  readonly connectorIds: readonly string[];
  /** Entries loaded, over all loaded connectors. */
  readonly entryCount: number;

  /** Use buildListenerIndex. */
  constructor(parts: {
    entryText: readonly string[];
    entryConnector: Int32Array;
    entrySpan: Uint32Array;
    connectorIds: readonly string[];
    loadedConnectorIds: readonly string[];
    loadedEntryCount: number;
    v4: FamilySegments;
    v6: FamilySegments;
  }) {
    this.#entryText = parts.entryText;
    this.#entryConnector = parts.entryConnector;
    this.#entrySpan = parts.entrySpan;
    this.#connectorIds = parts.connectorIds;
    this.#v4 = parts.v4;
    this.#v6 = parts.v6;
    this.connectorIds = parts.loadedConnectorIds;
    this.entryCount = parts.loadedEntryCount;
  }

  /** Elementary segments in the lookup arrays (both families, gaps included). */
  get segmentCount(): number {
    return this.#v4.owners.length + this.#v6.owners.length;
  }

  /** The connector for a client address, or null when no entry matches or it is not an address. */
  lookup(address: string): RangeMatch | null {
    const family = parseClientAddress(address, clientScratch);
    if (family === 0) return null;
    return this.lookupParsed(family, clientScratch);
  }

  /** lookup() for an address already parsed by parseClientAddress. */
  lookupParsed(family: AddressFamily, words: Uint32Array): RangeMatch | null {
    const entry = this.entryIndexOf(family, words);
    return entry < 0 ? null : this.#match(entry);
  }

  /** Index of the selected entry, or -1. */
  entryIndexOf(family: AddressFamily, words: Uint32Array): number {
    return family === 4 ? this.#findV4(words[3]!) : this.#findV6(words);
  }

  /** Result for selectConnector, cached per entry like lookup's. */
  selectionFor(entry: number): ConnectorSelection {
    let selection = this.#selections.get(entry);
    if (selection === undefined) {
      const match = this.#match(entry);
      selection = Object.freeze({ ok: true, connectorId: match.connectorId, entry: match.entry, size: match.size });
      this.#selections.set(entry, selection);
    }
    return selection;
  }

  #match(entry: number): RangeMatch {
    let match = this.#matches.get(entry);
    if (match === undefined) {
      match = Object.freeze({
        connectorId: this.#connectorIds[this.#entryConnector[entry]!]!,
        entry: this.#entryText[entry]!,
        size: wordsToBigInt(this.#entrySpan, entry * WORDS) + 1n,
      });
      this.#matches.set(entry, match);
    }
    return match;
  }

  #findV4(value: number): number {
    const { starts, owners } = this.#v4;
    if (starts.length === 0 || value < starts[0]!) return -1;
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (starts[middle]! <= value) low = middle;
      else high = middle - 1;
    }
    return owners[low]!;
  }

  #findV6(words: Uint32Array): number {
    const { starts, owners } = this.#v6;
    if (owners.length === 0 || compareWords(starts, 0, words, 0) > 0) return -1;
    let low = 0;
    let high = owners.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (compareWords(starts, middle * WORDS, words, 0) <= 0) low = middle;
      else high = middle - 1;
    }
    return owners[low]!;
  }
}

const NO_MATCH: ConnectorSelection = Object.freeze({ ok: false, reason: 'noMatchingRange' });
const INVALID_ADDRESS: ConnectorSelection = Object.freeze({ ok: false, reason: 'invalidAddress' });

/** The connector for a client, or why there is none (a miss is a 554 5.7.1 refusal). */
export function selectConnector(index: ListenerRangeIndex, address: string): ConnectorSelection {
  const family = parseClientAddress(address, clientScratch);
  if (family === 0) return INVALID_ADDRESS;
  const entry = index.entryIndexOf(family, clientScratch);
  return entry < 0 ? NO_MATCH : index.selectionFor(entry);
}


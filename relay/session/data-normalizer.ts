/*
 * relay/session/data-normalizer - the SMTP-smuggling defence on the DATA stream, header split.
 *
 * Job: takes the DATA content as smtp-server's data stream gives it (dot-unstuffed, ending in
 * the CRLF before the final dot) and guarantees that nothing leaves with a bare LF, a bare CR
 * or a NUL (relay/common/line-endings.ts: NULs removed, bare LF and bare CR made CRLF). With
 * bareLineFeeds 'Reject' the same happens but the input counts as `rejected`, and the caller
 * answers 550 5.6.11 after the final dot. Splits the header block (up to and including the
 * first empty line) from the body and enforces maxHeaderSize on it (0 = no limit).
 * Trust: every byte is client input. CR and LF may arrive in different chunks; a chunk ending
 * in CR is emitted at once and the decision (CRLF or bare CR) is taken on the next byte, so
 * nothing is held back and no chunk is copied unless it needs fixing. Scans use indexOf.
 * Failure modes: none thrown. Header block over the limit: `headerSizeExceeded`, all further
 * output is dropped (bytes are still counted) and the caller answers 552 5.3.4 after the dot.
 */

import { LineEndCanonicalizer } from '../common/line-endings.ts';

export type BareLineFeedMode = 'Normalize' | 'Reject';
export type Violation = 'bareLF' | 'bareCR' | 'NUL';

export interface NormalizerOptions {
  bareLineFeeds: BareLineFeedMode;
  /** Bytes of header block (with its empty line) allowed; 0 = no limit. */
  maxHeaderSize: number;
}

export interface NormalizerOutput {
  /** The complete header block, exactly once: on the call that completes it (or on end()). */
  headers: Buffer | null;
  /** Body bytes ready to write, if any. */
  body: Buffer | null;
}

const CRLF = Buffer.from('\r\n');
const BLANK_LINE = Buffer.from('\r\n\r\n');

export class DataNormalizer {
  readonly #mode: BareLineFeedMode;
  readonly #maxHeaderSize: number;
  readonly #lineEnds = new LineEndCanonicalizer();
  #inHeaders = true;
  #headerParts: Buffer[] = [];
  #headerLen = 0;
  /** Last (up to) 3 bytes of header output; starts as a virtual CRLF: "at the start of a line". */
  #tail: Buffer = CRLF;
  #headerSizeExceeded = false;
  #bytesIn = 0;
  #bytesOut = 0;
  #counts: Record<Violation, number> = { bareLF: 0, bareCR: 0, NUL: 0 };
  #first: Violation | null = null;

  constructor(options: NormalizerOptions) {
    this.#mode = options.bareLineFeeds;
    this.#maxHeaderSize = options.maxHeaderSize;
  }

  /** Raw bytes received. */
  get bytesIn(): number {
    return this.#bytesIn;
  }
  /** Normalized bytes handed out (headers and body). */
  get bytesOut(): number {
    return this.#bytesOut;
  }
  /** Bytes of an unfinished header block held so far (0 once it is handed out or dropped): the session counts them in the hub's DATA memory budget. */
  get headerBytesHeld(): number {
    return this.#inHeaders ? this.#headerLen : 0;
  }
  get headerSizeExceeded(): boolean {
    return this.#headerSizeExceeded;
  }
  /** Stray bytes seen (and fixed): for the log. */
  get violations(): Readonly<Record<Violation, number>> {
    return this.#counts;
  }
  get firstViolation(): Violation | null {
    return this.#first;
  }
  /** Reject mode and a stray CR/LF/NUL was seen: answer 550 5.6.11 after the final dot. */
  get rejected(): boolean {
    return this.#mode === 'Reject' && this.#first !== null;
  }

  #note(kind: Violation, count = 1): void {
    this.#counts[kind] += count;
    this.#first ??= kind;
  }

  push(chunk: Buffer): NormalizerOutput {
    this.#bytesIn += chunk.length;
    if (this.#headerSizeExceeded || chunk.length === 0) return { headers: null, body: null };
    return this.#route(this.#normalize(chunk));
  }

  end(): NormalizerOutput {
    const last = this.#lineEnds.end();
    if (last.length > 0) this.#note('bareCR'); // the stream ended on a CR: it was bare
    if (this.#headerSizeExceeded) return { headers: null, body: null };
    const out = this.#route(last);
    if (!this.#inHeaders) return out;
    // no empty line at all: the whole message is header block
    this.#inHeaders = false;
    const headers = Buffer.concat(this.#headerParts, this.#headerLen);
    this.#headerParts = [];
    this.#bytesOut += headers.length;
    return { headers, body: null };
  }

  #normalize(input: Buffer): Buffer {
    const { data, fixes } = this.#lineEnds.push(input);
    if (fixes.nul > 0) this.#note('NUL', fixes.nul);
    if (fixes.bareCR > 0) this.#note('bareCR', fixes.bareCR);
    if (fixes.bareLF > 0) this.#note('bareLF', fixes.bareLF);
    return data;
  }

  #route(out: Buffer): NormalizerOutput {
    if (out.length === 0) return { headers: null, body: null };
    if (!this.#inHeaders) {
      this.#bytesOut += out.length;
      return { headers: null, body: out };
    }
    let end = -1;
    const straddle = Buffer.concat([this.#tail, out.subarray(0, 3)]).indexOf(BLANK_LINE);
    if (straddle !== -1) end = straddle + BLANK_LINE.length - this.#tail.length;
    else {
      const inside = out.indexOf(BLANK_LINE);
      if (inside !== -1) end = inside + BLANK_LINE.length;
    }
    const headerBytes = end === -1 ? out.length : end;
    if (this.#maxHeaderSize > 0 && this.#headerLen + headerBytes > this.#maxHeaderSize) {
      this.#headerSizeExceeded = true;
      this.#inHeaders = false;
      this.#headerParts = [];
      return { headers: null, body: null };
    }
    if (end === -1) {
      this.#headerParts.push(out);
      this.#headerLen += out.length;
      const joined = Buffer.concat([this.#tail, out.subarray(Math.max(0, out.length - 3))]);
      this.#tail = joined.subarray(joined.length - 3);
      return { headers: null, body: null };
    }
    this.#headerParts.push(out.subarray(0, end));
    const headers = Buffer.concat(this.#headerParts, this.#headerLen + end);
    this.#headerParts = [];
    this.#inHeaders = false;
    const body = end < out.length ? out.subarray(end) : null;
    this.#bytesOut += headers.length + (body?.length ?? 0);
    return { headers, body };
  }
}

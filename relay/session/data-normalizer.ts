/*
 * relay/session/data-normalizer - the SMTP-smuggling defence on the DATA stream, header split.
 *
 * Job: takes the DATA content as smtp-server's data stream gives it (dot-unstuffed, ending in
 * the CRLF before the final dot) and guarantees that nothing leaves with a bare LF, a bare CR
 * or a NUL: NULs are removed, then a bare LF becomes CRLF and a bare CR becomes CRLF. With
 * bareLineFeeds 'Reject' the same happens but the input counts as `rejected`, and the caller
 * answers 550 5.6.11 after the final dot. Splits the header block (up to and including the
 * first empty line) from the body and enforces maxHeaderSize on it (0 = no limit).
 * Trust: every byte is client input. CR and LF may arrive in different chunks; a chunk ending
 * in CR is emitted at once and the decision (CRLF or bare CR) is taken on the next byte, so
 * nothing is held back and no chunk is copied unless it needs fixing. Scans use indexOf.
 * Failure modes: none thrown. Header block over the limit: `headerSizeExceeded`, all further
 * output is dropped (bytes are still counted) and the caller answers 552 5.3.4 after the dot.
 */

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

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const CR_BUF = Buffer.from([CR]);
const LF_BUF = Buffer.from([LF]);
const CRLF = Buffer.from('\r\n');
const BLANK_LINE = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

function removeNul(chunk: Buffer): { data: Buffer; count: number } {
  const parts: Buffer[] = [];
  let count = 0;
  let from = 0;
  for (let i = chunk.indexOf(NUL); i !== -1; i = chunk.indexOf(NUL, i + 1)) {
    if (i > from) parts.push(chunk.subarray(from, i));
    from = i + 1;
    count++;
  }
  if (from < chunk.length) parts.push(chunk.subarray(from));
  return { data: Buffer.concat(parts), count };
}

export class DataNormalizer {
  readonly #mode: BareLineFeedMode;
  readonly #maxHeaderSize: number;
  #prevCR = false;
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
    let last = EMPTY;
    if (this.#prevCR) {
      // the stream ended on a CR: it was bare
      this.#note('bareCR');
      this.#prevCR = false;
      last = LF_BUF;
    }
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
    let c = input;
    if (c.indexOf(NUL) !== -1) {
      const { data, count } = removeNul(c);
      this.#note('NUL', count);
      c = data;
      if (c.length === 0) return EMPTY;
    }
    // positions before which a CR goes (bare LF), and before which an LF goes (after a bare CR)
    const addCR: number[] = [];
    const addLF: number[] = [];
    if (this.#prevCR && c[0] !== LF) addLF.push(0);
    for (let i = c.indexOf(LF); i !== -1; i = c.indexOf(LF, i + 1)) {
      if (i === 0 ? !this.#prevCR : c[i - 1] !== CR) addCR.push(i);
    }
    for (let i = c.indexOf(CR); i !== -1 && i < c.length - 1; i = c.indexOf(CR, i + 1)) {
      if (c[i + 1] !== LF) addLF.push(i + 1);
    }
    this.#prevCR = c[c.length - 1] === CR;
    if (addLF.length > 0) this.#note('bareCR', addLF.length);
    if (addCR.length > 0) this.#note('bareLF', addCR.length);
    if (addCR.length === 0 && addLF.length === 0) return c;
    // merge the two sorted lists; a position never appears in both (see the tests)
    const parts: Buffer[] = [];
    let from = 0;
    let a = 0;
    let b = 0;
    while (a < addCR.length || b < addLF.length) {
      const takeCR = b >= addLF.length || (a < addCR.length && (addCR[a] as number) < (addLF[b] as number));
      const pos = takeCR ? (addCR[a++] as number) : (addLF[b++] as number);
      if (pos > from) parts.push(c.subarray(from, pos));
      parts.push(takeCR ? CR_BUF : LF_BUF);
      from = pos;
    }
    if (from < c.length) parts.push(c.subarray(from));
    return Buffer.concat(parts);
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

// PROXY protocol reader (HAProxy spec, v1 text and v2 binary) for sockets the relay accepts
// itself: reads the header a load balancer puts before the SMTP stream and returns the original
// endpoints plus any bytes read past the header (`rest`), which the caller must
// `socket.unshift(rest)` before the SMTP engine starts reading.
//
// Trust: the header is a claim by whoever opened the connection. Call this only for peers the
// caller has matched against its trusted-proxy list; from anyone else it is a spoofing tool and
// must not be read (the SMTP engine then rejects "PROXY" as a bad command). Parsing is strict:
// v1 at most 107 bytes, addresses of the stated family (relay/common/addresses.ts, client
// grammar without zone IDs), plain decimal ports; v2 capped at 536 bytes, TCP over IPv4/IPv6
// or AF_UNSPEC only, TLVs skipped unread.
//
// Failure modes: never throws or rejects; failures are results with a stable camelCase reason.
// Bad input fails as soon as the bytes prove it (plain "EHLO" on its first byte), a silent peer
// with 'timeout' (default 5 s), a hang-up with 'closed'. The caller closes the socket on failure.
import type { Socket } from 'node:net';
import { WORDS, formatAddress, parseClientAddress, readAddressBytes } from '../common/addresses.ts';
import { buildListenerIndex } from './range-index-build.ts';
import { selectConnector } from './range-index-lookup.ts';

export interface ProxyEndpoint {
  address: string;
  port: number;
}

/**
 * A parsed header. `source`/`destination` are absent for v1 UNKNOWN, v2 LOCAL and v2 AF_UNSPEC:
 * the caller then uses the socket's own endpoints. IPv4-mapped IPv6 addresses come back as IPv4;
 * other IPv6 addresses in RFC 5952 form, whichever version carried them.
 */
export interface ProxyHeader {
  version: 1 | 2;
  command: 'PROXY' | 'LOCAL';
  source?: ProxyEndpoint;
  destination?: ProxyEndpoint;
}

/** Why the bytes are not a header we accept. */
export type ProxyParseFailure =
  | 'invalidSignature' // neither "PROXY " nor the v2 signature
  | 'headerTooLong' // v1 line over 107 bytes, or v2 header over PROXY_V2_MAX_LENGTH
  | 'malformedHeader' // v1: control or non-ASCII byte, bare CR/LF, wrong field count
  | 'unsupportedFamily' // v1 not TCP4/TCP6/UNKNOWN; v2 AF_UNIX or an undefined family byte
  | 'unsupportedTransport' // v2 DGRAM
  | 'unsupportedVersion' // v2 version nibble other than 2
  | 'unsupportedCommand' // v2 command other than LOCAL/PROXY
  | 'invalidLength' // v2 length shorter than the family's address block
  | 'invalidAddress' // v1 address not an IP of the stated family (or with a zone ID)
  | 'invalidPort'; // v1 port not 0-65535 in plain decimal

export type ProxyReadFailure = ProxyParseFailure | 'timeout' | 'closed' | 'socketError';

export type ProxyParseResult =
  | { state: 'incomplete' }
  | { state: 'done'; header: ProxyHeader; consumed: number }
  | { state: 'invalid'; reason: ProxyParseFailure };

export type ProxyHeaderResult =
  | (ProxyHeader & { ok: true; rest: Buffer })
  | { ok: false; reason: ProxyReadFailure };

export interface ReadProxyHeaderOptions {
  /** Whole-header deadline from the call; default DEFAULT_PROXY_TIMEOUT_MS. */
  timeoutMs?: number;
}

export const DEFAULT_PROXY_TIMEOUT_MS = 5000;
/** Spec maximum for a v1 line, "PROXY" through CRLF. */
export const PROXY_V1_MAX_LENGTH = 107;
/** Our cap on a v2 header (16 fixed bytes + addresses + TLVs); the spec's suggested buffer size. */
export const PROXY_V2_MAX_LENGTH = 536;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED_LENGTH = 16;
const CR = 0x0d;
const LF = 0x0a;
const PORT_SYNTAX = /^(?:0|[1-9][0-9]{0,4})$/;

const INCOMPLETE: ProxyParseResult = Object.freeze({ state: 'incomplete' });

function invalid(reason: ProxyParseFailure): ProxyParseResult {
  return { state: 'invalid', reason };
}

/** True when the first min(buffer, expected) bytes agree. */
function matchesPrefix(buffer: Buffer, expected: Buffer): boolean {
  const n = Math.min(buffer.length, expected.length);
  return buffer.subarray(0, n).equals(expected.subarray(0, n));
}

/**
 * Pure, incremental parser: call it with everything received so far. 'incomplete' means more
 * bytes could still make a valid header; 'invalid' is final (a longer buffer gives the same
 * answer); 'done' reports how many leading bytes the header took. Never throws.
 */
export function parseProxyHeader(buffer: Buffer): ProxyParseResult {
  if (buffer.length === 0) return INCOMPLETE;
  if (buffer[0] === V1_PREFIX[0]) {
    if (!matchesPrefix(buffer, V1_PREFIX)) return invalid('invalidSignature');
    return parseV1(buffer);
  }
  if (buffer[0] === V2_SIGNATURE[0]) {
    if (!matchesPrefix(buffer, V2_SIGNATURE)) return invalid('invalidSignature');
    return parseV2(buffer);
  }
  return invalid('invalidSignature');
}

// ---------------------------------------------------------------------------------------------
// v1: "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n" or "PROXY UNKNOWN[ anything]\r\n"

function parseV1(buffer: Buffer): ProxyParseResult {
  const limit = Math.min(buffer.length, PROXY_V1_MAX_LENGTH);
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const byte = buffer[i] as number;
    if (byte === CR) {
      if (i + 1 >= PROXY_V1_MAX_LENGTH) return invalid('headerTooLong');
      if (i + 1 >= buffer.length) return INCOMPLETE;
      if (buffer[i + 1] !== LF) return invalid('malformedHeader');
      return parseV1Line(buffer.toString('latin1', 0, i), i + 2);
    }
    if (byte < 0x20 || byte > 0x7e) return invalid('malformedHeader');
  }
  return buffer.length >= PROXY_V1_MAX_LENGTH ? invalid('headerTooLong') : INCOMPLETE;
}

function parseV1Line(line: string, consumed: number): ProxyParseResult {
  // The spec has the receiver ignore whatever follows UNKNOWN.
  if (line === 'PROXY UNKNOWN' || line.startsWith('PROXY UNKNOWN ')) {
    return { state: 'done', header: { version: 1, command: 'PROXY' }, consumed };
  }
  const fields = line.split(' ');
  const protocol = fields[1];
  if (protocol !== 'TCP4' && protocol !== 'TCP6') return invalid('unsupportedFamily');
  if (fields.length !== 6) return invalid('malformedHeader');
  const [, , srcText, dstText, sportText, dportText] = fields as [string, string, string, string, string, string];
  const src = parseV1Address(srcText, protocol);
  const dst = parseV1Address(dstText, protocol);
  if (src === undefined || dst === undefined) return invalid('invalidAddress');
  const sport = parseV1Port(sportText);
  const dport = parseV1Port(dportText);
  if (sport === undefined || dport === undefined) return invalid('invalidPort');
  return {
    state: 'done',
    header: { version: 1, command: 'PROXY', source: { address: src, port: sport }, destination: { address: dst, port: dport } },
    consumed,
  };
}

const addressScratch = new Uint32Array(WORDS);

function parseV1Address(text: string, protocol: 'TCP4' | 'TCP6'): string | undefined {
  // A "%zone" suffix means nothing off the proxy's own host.
  if (text.includes('%')) return undefined;
  // TCP4 takes dotted-quad IPv4 only; TCP6 any IPv6 text, an IPv4-mapped one coming back as IPv4.
  if (protocol === 'TCP4' ? text.includes(':') : !text.includes(':')) return undefined;
  const family = parseClientAddress(text, addressScratch);
  return family === 0 ? undefined : formatAddress(family, addressScratch);
}

function parseV1Port(text: string): number | undefined {
  if (!PORT_SYNTAX.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

// ---------------------------------------------------------------------------------------------
// v2: signature(12) ver_cmd(1) fam(1) len(2, big-endian) addresses+TLVs(len)

function parseV2(buffer: Buffer): ProxyParseResult {
  if (buffer.length < V2_FIXED_LENGTH) return INCOMPLETE;
  const versionCommand = buffer[12] as number;
  const family = buffer[13] as number;
  const length = buffer.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) return invalid('unsupportedVersion');
  const command = versionCommand & 0x0f;
  if (command !== 0 && command !== 1) return invalid('unsupportedCommand');
  const total = V2_FIXED_LENGTH + length;
  if (total > PROXY_V2_MAX_LENGTH) return invalid('headerTooLong');

  // LOCAL (health checks from the proxy itself): the family and addresses are to be ignored.
  if (command === 0) {
    if (buffer.length < total) return INCOMPLETE;
    return { state: 'done', header: { version: 2, command: 'LOCAL' }, consumed: total };
  }

  let addressLength: number;
  switch (family) {
    case 0x00: // AF_UNSPEC: the proxy has no addresses to give; use the socket's own.
      addressLength = 0;
      break;
    case 0x11: // TCP over IPv4
      addressLength = 12;
      break;
    case 0x21: // TCP over IPv6
      addressLength = 36;
      break;
    case 0x12: // UDP over IPv4/IPv6
    case 0x22:
      return invalid('unsupportedTransport');
    default: // AF_UNIX (0x31, 0x32) and values the spec leaves undefined
      return invalid('unsupportedFamily');
  }
  if (length < addressLength) return invalid('invalidLength');
  if (buffer.length < total) return INCOMPLETE;

  const header: ProxyHeader = { version: 2, command: 'PROXY' };
  const at = V2_FIXED_LENGTH;
  if (family === 0x11) {
    header.source = { address: addressAt(buffer, at, 4), port: buffer.readUInt16BE(at + 8) };
    header.destination = { address: addressAt(buffer, at + 4, 4), port: buffer.readUInt16BE(at + 10) };
  } else if (family === 0x21) {
    header.source = { address: addressAt(buffer, at, 16), port: buffer.readUInt16BE(at + 32) };
    header.destination = { address: addressAt(buffer, at + 16, 16), port: buffer.readUInt16BE(at + 34) };
  }
  // Bytes between the addresses and `total` are TLVs (ALPN, authority, SSL, ...): skipped.
  return { state: 'done', header, consumed: total };
}

function addressAt(buffer: Buffer, at: number, length: 4 | 16): string {
  return formatAddress(readAddressBytes(buffer, at, length, addressScratch), addressScratch);
}

// ---------------------------------------------------------------------------------------------
// Socket side

/**
 * Reads one PROXY header from a freshly accepted socket that nothing else reads yet (paused, no
 * 'data' listener, no encoding set). Resolves with the header and the bytes already read past it
 * (`rest`, often the client's first SMTP line) or with a failure; never rejects. On success the
 * socket is back in its initial non-flowing state; the caller does `socket.unshift(rest)` and
 * hands it on. On failure the socket is left as is, for the caller to destroy.
 */
export function readProxyHeader(socket: Socket, options: ReadProxyHeaderOptions = {}): Promise<ProxyHeaderResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROXY_TIMEOUT_MS;
  if (socket.destroyed || socket.readableEnded) return Promise.resolve({ ok: false, reason: 'closed' });

  return new Promise<ProxyHeaderResult>((resolve) => {
    let received: Buffer = Buffer.alloc(0);
    let settled = false;

    const finish = (result: ProxyHeaderResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('readable', pump);
      socket.off('end', onClosed);
      socket.off('close', onClosed);
      socket.off('error', onError);
      resolve(result);
    };
    const onClosed = (): void => finish({ ok: false, reason: 'closed' });
    const onError = (): void => finish({ ok: false, reason: 'socketError' });

    function pump(): void {
      while (!settled) {
        const chunk: unknown = socket.read();
        if (chunk === null) return;
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : (chunk as Buffer);
        received = received.length === 0 ? bytes : Buffer.concat([received, bytes]);
        const parsed = parseProxyHeader(received);
        if (parsed.state === 'invalid') finish({ ok: false, reason: parsed.reason });
        else if (parsed.state === 'done') finish({ ok: true, ...parsed.header, rest: received.subarray(parsed.consumed) });
      }
    }

    const timer = setTimeout(() => finish({ ok: false, reason: 'timeout' }), timeoutMs);
    socket.on('readable', pump);
    socket.once('end', onClosed);
    socket.once('close', onClosed);
    socket.on('error', onError);
    // Bytes may have arrived before we listened; 'readable' would not fire again for them.
    pump();
  });
}

/**
 * trustedProxyMatcher - is a peer one of the hub's trustedProxies (addresses, ranges or CIDR
 * blocks, in the remoteIPRanges grammar)? An IPv4-mapped peer is its IPv4 address. The entries
 * are one connector's to the range index, so they may overlap. Throws RangeSyntaxError.
 */
export function trustedProxyMatcher(entries: readonly string[]): (address: string) => boolean {
  if (entries.length === 0) return () => false;
  const { index } = buildListenerIndex([{ id: 'trustedProxies', createdAt: '', ranges: [...entries] }]);
  return (address) => selectConnector(index, address).ok;
}

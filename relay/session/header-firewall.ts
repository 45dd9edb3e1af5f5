/*
 * relay/session/header-firewall - the inbound header firewall, hop counting and our Received.
 *
 * Job: drop incoming Received:/Resent-* fields unless the session holds AcceptRoutingHeaders,
 * and X-Relay-Organization-* (plus X-Relay-Antispam, our own verdict header, so nobody can
 * forge a verdict or leak one past a BypassAntiSpam session) unless it holds
 * AcceptOrganizationHeaders. Field names compare case-insensitively, tolerate the obsolete
 * "Name :" form, and continuation lines (leading SP/HT) go with their field.
 * Trust: the header block is raw client input; it is scanned as bytes (latin1 for names only)
 * and never re-encoded: kept fields are copied verbatim. Values put into our Received header
 * (HELO name, recipient, id) are reduced to safe characters so no client can inject a line.
 * Failure modes: none thrown. A line without a colon is kept as is (it is not ours to fix); the
 * blank separator line and anything after it are kept unchanged.
 * A first line starting with SP/HT (issue 17 item 9) continues no field of the client's; put
 * after our Received and X-Relay-Antispam it would fold onto ours and forge the verdict. Like
 * Postfix's cleanup (mime_state: a non-header line in the primary header section ends it, and
 * one blank line is output before it), the header section is then empty: filterHeaders returns
 * CRLF + the client's bytes unchanged, so everything the client sent is body text, nothing is
 * stripped (nothing of it is a header) and no Received in it counts as a hop.
 */
import { canonicalAddress } from '../common/addresses.ts';
import type { Right } from '../config/schema.ts';
import { memoizeByAddress } from './address-memo.ts';

export interface HeaderFirewallResult {
  headers: Buffer;
  /** Names of the stripped fields, as they appeared (for the log). */
  stripped: string[];
  /** The block began with SP/HT: it was made body text behind an empty header section. */
  leadingWhitespace: boolean;
}

interface Field {
  start: number;
  end: number;
  /** Raw name as written (trailing WSP removed); '' when the line has no colon. */
  name: string;
}

const LF = 0x0a;
const COLON = 0x3a;

const CRLF = Buffer.from('\r\n');

/** The first line starts with SP/HT: no header section at all (see the manual above). */
export function startsWithWhitespace(block: Buffer): boolean {
  return block[0] === 0x20 || block[0] === 0x09;
}

function isBlankLine(block: Buffer, start: number, end: number): boolean {
  const len = end - start;
  return (len === 1 && block[start] === LF) || (len === 2 && block[start] === 0x0d && block[start + 1] === LF);
}

/** Splits a header block into fields, up to the blank separator line (if any). */
function parseFields(block: Buffer): Field[] {
  const fields: Field[] = [];
  if (startsWithWhitespace(block)) return fields;
  let pos = 0;
  while (pos < block.length) {
    const nl = block.indexOf(LF, pos);
    const end = nl < 0 ? block.length : nl + 1;
    if (isBlankLine(block, pos, end)) return fields;
    const first = block[pos];
    const last = fields[fields.length - 1];
    if ((first === 0x20 || first === 0x09) && last) {
      last.end = end;
    } else {
      fields.push({ start: pos, end, name: fieldName(block, pos, end) });
    }
    pos = end;
  }
  return fields;
}

/**
 * The name of the field on the line [start, end): up to its colon, trailing SP/HT removed; ''
 * without a colon. Linear in the line (issue 17 item 6): the colon is looked for in this line
 * only (searching the block from here made every colon-less line scan to the next colon, and a
 * block of them took seconds per MiB), and the trailing blanks are dropped by a loop over bytes
 * already scanned, not by /[ \t]+$/, which backtracks over a run of blanks once per start
 * position (a 256 KiB name of spaces took 26 s).
 */
function fieldName(block: Buffer, start: number, end: number): string {
  const colon = block.subarray(start, end).indexOf(COLON);
  if (colon < 0) return '';
  let nameEnd = start + colon;
  while (nameEnd > start && (block[nameEnd - 1] === 0x20 || block[nameEnd - 1] === 0x09)) nameEnd--;
  return block.toString('latin1', start, nameEnd);
}

function requiredRight(name: string): Right | null {
  const lower = name.toLowerCase();
  if (lower === 'received' || lower.startsWith('resent-')) return 'AcceptRoutingHeaders';
  if (lower.startsWith('x-relay-organization-') || lower === 'x-relay-antispam') return 'AcceptOrganizationHeaders';
  return null;
}

export function filterHeaders(block: Buffer, rights: ReadonlySet<Right>): HeaderFirewallResult {
  if (startsWithWhitespace(block)) return { headers: Buffer.concat([CRLF, block]), stripped: [], leadingWhitespace: true };
  const fields = parseFields(block);
  const kept: Buffer[] = [];
  const stripped: string[] = [];
  let copyFrom = 0;
  for (const field of fields) {
    const right = requiredRight(field.name);
    if (right === null || rights.has(right)) continue;
    if (field.start > copyFrom) kept.push(block.subarray(copyFrom, field.start));
    copyFrom = field.end;
    stripped.push(field.name);
  }
  if (stripped.length === 0) return { headers: block, stripped, leadingWhitespace: false };
  if (copyFrom < block.length) kept.push(block.subarray(copyFrom));
  return { headers: Buffer.concat(kept), stripped, leadingWhitespace: false };
}

/** Received fields in the block, for limits.maxHopCount. */
export function countReceivedHeaders(block: Buffer): number {
  let count = 0;
  for (const field of parseFields(block)) if (field.name.toLowerCase() === 'received') count++;
  return count;
}

export type ReceivedProtocol = 'SMTP' | 'ESMTP' | 'ESMTPS' | 'ESMTPA' | 'ESMTPSA';

/** The RFC 3848 `with` keyword for a session. */
export function receivedProtocol(s: { esmtp: boolean; secure: boolean; authenticated: boolean }): ReceivedProtocol {
  if (!s.esmtp) return 'SMTP';
  if (s.secure) return s.authenticated ? 'ESMTPSA' : 'ESMTPS';
  return s.authenticated ? 'ESMTPA' : 'ESMTP';
}

export interface ReceivedHeaderInput {
  fromHelo: string;
  clientAddress: string;
  byFqdn: string;
  withProtocol: ReceivedProtocol;
  id: string;
  /** Only when the message has exactly one recipient (others would leak through it). */
  forRecipient?: string;
  date: Date;
}

const clean = (value: string, allowed: RegExp, max: number): string => value.replace(allowed, '?').slice(0, max);

/** `[192.0.2.1]` or `[IPv6:2001:db8::1]`; IPv4-mapped IPv6 is shown as IPv4 (memoized per address). */
export const addressLiteral = memoizeByAddress((address: string): string => {
  const canonical = canonicalAddress(address);
  if (canonical === null) return `[${clean(address, /[^0-9a-fA-F:.]/g, 64)}]`;
  return canonical.includes(':') ? `[IPv6:${canonical}]` : `[${canonical}]`;
});

const lastDate = { second: Number.NaN, text: '' };

/** RFC 5322 date-time in UTC: `Tue, 01 Jan 2030 00:00:00 +0000` (computed once per second). */
export function rfc5322Date(date: Date): string {
  const second = Math.floor(date.getTime() / 1000);
  if (second !== lastDate.second) {
    lastDate.text = date.toUTCString().replace(/GMT$/, '+0000');
    lastDate.second = second;
  }
  return lastDate.text;
}

/**
 * missingOriginFields - `Message-ID:` and `Date:` fields for a message whose header section has
 * none (RFC 5322 section 3.6 requires Date and recommends Message-ID), as Exchange and Postfix's
 * cleanup add them: a client library that omits them otherwise gets its mail scored as spam or
 * threaded wrongly downstream. The id is ours (the queue's message id) at our FQDN, so it is
 * unique; both are put with our Received, ahead of the client's fields.
 */
export function missingOriginFields(block: Buffer, origin: { id: string; fqdn: string; date: Date }): string[] {
  let hasMessageId = false;
  let hasDate = false;
  for (const field of parseFields(block)) {
    const name = field.name.toLowerCase();
    if (name === 'message-id') hasMessageId = true;
    else if (name === 'date') hasDate = true;
  }
  const out: string[] = [];
  if (!hasMessageId) out.push(`Message-ID: <${clean(origin.id, /[^A-Za-z0-9._-]/g, 64)}@${clean(origin.fqdn, /[^A-Za-z0-9.-]/g, 255)}>\r\n`);
  if (!hasDate) out.push(`Date: ${rfc5322Date(origin.date)}\r\n`);
  return out;
}

/** Our Received field, folded, ending in CRLF: prepend it to the filtered header block. */
export function buildReceivedHeader(input: ReceivedHeaderInput): string {
  const helo = clean(input.fromHelo, /[^A-Za-z0-9.\-_:[\]]/g, 255) || 'unknown';
  const by = clean(input.byFqdn, /[^A-Za-z0-9.-]/g, 255);
  const id = clean(input.id, /[^A-Za-z0-9._-]/g, 64);
  let text = `Received: from ${helo} (${addressLiteral(input.clientAddress)})\r\n\tby ${by} with ${input.withProtocol} id ${id}`;
  if (input.forRecipient !== undefined) {
    // UTF-8 stays (an SMTPUTF8 recipient, written as UTF-8 by the caller); C0/C1 controls,
    // DEL, lone surrogates and the Unicode line/paragraph separators never do (issue 17)
    text += `\r\n\tfor <${clean(input.forRecipient, /[\p{Cc}\p{Cs}\p{Zl}\p{Zp}\s<>]/gu, 320)}>`;
  }
  return `${text}; ${rfc5322Date(input.date)}\r\n`;
}

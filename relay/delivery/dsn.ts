/*
 * relay/delivery/dsn - delivery status notifications (RFC 3464, with RFC 3461 and 3463).
 *
 * JOB       Decide who gets told (dsnRecipientsFor) and build the report (buildDsn): a
 *           multipart/report; report-type=delivery-status from postmaster@<default accepted
 *           domain>, sent with the null sender so that it can never bounce in turn.
 * RULES     Never for a message with the null sender (never bounce a bounce). Per recipient,
 *           NOTIFY decides: failures unless NOTIFY=NEVER or a NOTIFY without FAILURE; delays
 *           likewise with DELAY (no NOTIFY: both); delivered/relayed only with SUCCESS.
 *           A report with a failure is "Undeliverable"; RET=HDRS returns the header section,
 *           RET=FULL (or no RET) the whole message as message/rfc822, headers only past
 *           MAX_RETURN_BYTES. Delay and success reports return headers only whatever RET says
 *           (RET applies to failure DSNs only, RFC 3461 4.3). A delay report ("Delivery
 *           delayed") carries Will-Retry-Until per recipient (RFC 3464 2.3.9) and says that the
 *           hub keeps trying until then and the sender need not resend. ENVID becomes
 *           Original-Envelope-Id, ORCPT Original-Recipient (xtext decoded).
 * TRUST     Addresses, ENVID, ORCPT, the original Subject and remote replies are hostile. The
 *           DSN is encoded as UTF-8, never latin1 (issue 17: latin1 keeps the low byte of each
 *           code unit, so U+010D U+010A in an SMTPUTF8 sender became CR LF and wrote the
 *           attacker's own fields into a DSN from postmaster). On top of that every value is
 *           checked for the place it goes: an address enters To only as a valid RFC 5322/6532
 *           mailbox (specials quoted; otherwise `undisclosed-recipients:;`); report fields are
 *           printable ASCII, or for a non-ASCII address the RFC 6533 `utf-8` type with every
 *           control, line separator, `+`, `=` and `\` escaped as \x{HEX}; the Subject is ASCII or
 *           RFC 2047 encoded words. Nothing written by us holds C0/C1 controls, U+2028/U+2029.
 *           A non-ASCII address or header makes the report RFC 6533: text/plain; charset=utf-8,
 *           message/global-delivery-status, message/global(-headers) for the returned part.
 * OUTPUT    Canonical CRLF bytes; the caller commits them to the spool like any message.
 */
import { randomBytes } from 'node:crypto';
import type { MessageEnvelope } from './envelope.ts';
import { canonicalBody } from '../common/line-endings.ts';
import { decodeXtext, headerSection, headerValue } from './message-headers.ts';

export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed';

export interface DsnRecipientReport {
  /** Index into the original envelope's rcptTo. */
  index: number;
  action: DsnAction;
  /** RFC 3463 status. */
  status: string;
  /** SMTP reply (`550 5.1.1 ...`) or our reason in words. */
  diagnostic?: string;
  remoteMta?: string;
  lastAttemptAt?: string;
  /** For `delayed`: when the hub gives up (ISO time; receivedAt + maxAge). */
  willRetryUntil?: string;
}

export interface DsnInput {
  queueId: string;
  envelope: MessageEnvelope;
  body: Buffer;
  recipients: DsnRecipientReport[];
  /** The hub FQDN (Reporting-MTA). */
  reportingMta: string;
  /** postmaster@<default accepted domain>. */
  postmaster: string;
  now: Date;
}

export const MAX_RETURN_BYTES = 10 * 1024 * 1024;

/** wantsDsn - RFC 3461 NOTIFY for one recipient and one action (null sender: never). */
export function wantsDsn(envelope: MessageEnvelope, index: number, action: DsnAction): boolean {
  if (envelope.mailFrom === '') return false;
  const notify = envelope.rcptTo[index]?.notify;
  if (notify === undefined) return action === 'failed' || action === 'delayed';
  if (notify.includes('NEVER')) return false;
  if (action === 'failed') return notify.includes('FAILURE');
  if (action === 'delayed') return notify.includes('DELAY');
  return notify.includes('SUCCESS');
}

/** rfc5322Date - `Tue, 01 Jan 2025 00:00:00 +0000`. */
export function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

/** fieldText - printable ASCII on one line, bounded (for report fields built from replies). */
function fieldText(value: string, max = 900): string {
  return value.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').slice(0, max).trim();
}

/**
 * Characters never written anywhere in a DSN as they are: C0 and C1 controls, DEL, lone
 * surrogates, the Unicode line and paragraph separators (some parsers break lines on them) and
 * the invisible ones smtp-server also refuses in addresses.
 */
const UNSAFE = /[\p{Cc}\p{Cs}\u2028\u2029\u200b\u2060\ufeff]/u;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'gu');

/** displayText - one line of human-readable text (UTF-8 allowed), bounded, nothing unsafe. */
function displayText(value: string, max = 900): string {
  return [...value.replace(/[\r\n\t]+/g, ' ').replace(UNSAFE_ALL, '?')].slice(0, max).join('').trim();
}

const isAscii = (value: string): boolean => /^[\x20-\x7e]*$/.test(value);

// RFC 5322 atext plus RFC 6532 UTF8-non-ascii (anything past U+007F that is not UNSAFE)
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\\u0080-\\u{10FFFF}]";
const DOT_ATOM = new RegExp(`^${ATEXT}+(?:\\.${ATEXT}+)*$`, 'u');
const QUOTED_LOCAL = /^"(?:[^"\\]|\\.)*"$/u;
const DOMAIN = /^(?:[\p{L}\p{N}\p{M}_](?:[\p{L}\p{N}\p{M}_-]*[\p{L}\p{N}\p{M}_])?)(?:\.[\p{L}\p{N}\p{M}_](?:[\p{L}\p{N}\p{M}_-]*[\p{L}\p{N}\p{M}_])?)*$/u;
const DOMAIN_LITERAL = /^\[(?:IPv6:[0-9A-Fa-f:.]+|[0-9.]+)\]$/;

/**
 * headerMailbox - `address` as an RFC 5322 (RFC 6532 when not ASCII) addr-spec fit for a
 * header, or null. A local part that is not a dot-atom is quoted (the same mailbox in SMTP's
 * eyes, RFC 5321 4.1.2); a domain must be labels or an address literal.
 */
export function headerMailbox(address: string): string | null {
  if (address.length > 320 || UNSAFE.test(address) || /\s/u.test(address)) return null;
  const at = address.lastIndexOf('@');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (at < 1 || !(DOMAIN.test(domain) || DOMAIN_LITERAL.test(domain))) return null;
  if (DOT_ATOM.test(local) || QUOTED_LOCAL.test(local)) return `${local}@${domain}`;
  if (local.includes('@')) return null;
  return `"${local.replace(/["\\]/g, '\\$&')}"@${domain}`;
}

/** RFC 6533 utf-8-addr-unitext: UTF-8 as is, `+ = \\`, controls and separators as \\x{HEX}. */
function unitext(value: string, max = 320): string {
  let out = '';
  for (const ch of [...value].slice(0, max)) {
    const cp = ch.codePointAt(0) ?? 0;
    out += cp < 0x21 || cp === 0x2b || cp === 0x3d || cp === 0x5c || cp === 0x7f || UNSAFE.test(ch) ? `\\x{${cp.toString(16).toUpperCase()}}` : ch;
  }
  return out;
}

/** A report address field: `rfc822; a@b` for ASCII, else RFC 6533 `utf-8; ...` (flags `global`). */
function reportAddress(address: string, global: { used: boolean }): string {
  if (isAscii(address)) return `rfc822; ${fieldText(address, 320)}`;
  global.used = true;
  return `utf-8; ${unitext(address)}`;
}

/** xtext (RFC 3461) decoded to bytes, read as UTF-8: `+C3+A9` is one é. */
function decodeXtextUtf8(value: string): string {
  // latin1 here is a byte-for-byte view of the UTF-8 (reading, never writing)
  return Buffer.from(decodeXtext(Buffer.from(value, 'utf8').toString('latin1')), 'latin1').toString('utf8');
}

/** Subject text: ASCII as is, otherwise RFC 2047 B encoded words of at most 75 characters, folded. */
function encodeSubject(text: string): string {
  if (isAscii(text)) return text;
  const words: string[] = [];
  let chunk = '';
  // 39 bytes of UTF-8 make 52 base64 characters: with =?UTF-8?B? and ?= a word is 64 long and
  // even the first line ("Subject: " + word) stays within RFC 2047's 76; a character is never
  // split across words (RFC 2047 5)
  for (const ch of text) {
    if (Buffer.byteLength(chunk + ch) > 39) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join('\r\n ');
}

function diagnosticCode(diagnostic: string): string {
  return /^[245]\d\d[ -]/.test(diagnostic) ? `smtp; ${fieldText(diagnostic)}` : `X-Relay; ${fieldText(diagnostic)}`;
}

function originalRecipient(orcpt: string | undefined, global: { used: boolean }): string | null {
  if (!orcpt) return null;
  const semi = orcpt.indexOf(';');
  if (semi < 1) return null;
  const type = fieldText(orcpt.slice(0, semi), 20);
  const address = decodeXtextUtf8(orcpt.slice(semi + 1));
  if (isAscii(address)) return `${type}; ${fieldText(address, 320)}`;
  // RFC 6533 3: a non-ASCII original address is carried as the utf-8 type
  global.used = true;
  return `utf-8; ${unitext(address)}`;
}

function recipientFields(input: DsnInput, r: DsnRecipientReport, global: { used: boolean }): string[] {
  const rcpt = input.envelope.rcptTo[r.index];
  const fields: string[] = [];
  const orig = originalRecipient(rcpt?.orcpt, global);
  if (orig) fields.push(`Original-Recipient: ${orig}`);
  fields.push(`Final-Recipient: ${reportAddress(rcpt?.address ?? '', global)}`, `Action: ${r.action}`, `Status: ${fieldText(r.status, 20)}`);
  if (r.remoteMta) fields.push(`Remote-MTA: dns; ${fieldText(r.remoteMta, 255)}`);
  if (r.diagnostic) fields.push(`Diagnostic-Code: ${diagnosticCode(r.diagnostic)}`);
  if (r.lastAttemptAt) fields.push(`Last-Attempt-Date: ${rfc5322Date(new Date(r.lastAttemptAt))}`);
  if (r.willRetryUntil) fields.push(`Will-Retry-Until: ${rfc5322Date(new Date(r.willRetryUntil))}`);
  return fields;
}

/** What a report is about as a whole: a failure outweighs a delay, which outweighs success. */
type DsnKind = 'failure' | 'delay' | 'success';

function dsnKind(recipients: readonly DsnRecipientReport[]): DsnKind {
  if (recipients.some((r) => r.action === 'failed')) return 'failure';
  return recipients.some((r) => r.action === 'delayed') ? 'delay' : 'success';
}

function delayText(input: DsnInput): string[] {
  const until = input.recipients.flatMap((r) => (r.willRetryUntil ? [Date.parse(r.willRetryUntil)] : []));
  return [
    'Your message has not been delivered yet to one or more recipients.',
    'The mail system is still trying to deliver it.',
    until.length > 0 ? `It will keep trying until ${rfc5322Date(new Date(Math.max(...until)))}.` : 'It will keep trying.',
    'You do not need to send it again.',
  ];
}

const INTRO: Record<Exclude<DsnKind, 'delay'>, string[]> = {
  failure: ['Your message could not be delivered to one or more recipients.', 'It has been returned with this report.'],
  success: ['Your message was delivered or passed on as requested.'],
};

function humanText(input: DsnInput, kind: DsnKind): string[] {
  const intro = kind === 'delay' ? delayText(input) : INTRO[kind];
  const lines = [`This is the mail system at host ${fieldText(input.reportingMta, 255)}.`, '', ...intro, ''];
  for (const r of input.recipients) {
    const address = displayText(input.envelope.rcptTo[r.index]?.address ?? '', 320);
    lines.push(`<${address}>: ${r.action}${r.diagnostic ? `: ${fieldText(r.diagnostic, 400)}` : ''}`);
  }
  return lines;
}

/** buildDsn - the DSN for the given recipient reports, ready for Spool.commitMessage. */
export function buildDsn(input: DsnInput): { envelope: MessageEnvelope; body: Buffer } {
  const kind = dsnKind(input.recipients);
  const mta = fieldText(input.reportingMta, 255);
  const queueId = fieldText(input.queueId, 64).replace(/[^A-Za-z0-9._-]/g, '-');
  const boundary = `${queueId}/${randomBytes(8).toString('hex')}`;
  // the header is read byte for byte (latin1) and its bytes taken as UTF-8 when they are
  const rawSubject = Buffer.from(headerValue(input.body, 'subject') ?? '', 'latin1').toString('utf8');
  const subject = displayText(rawSubject, 200);
  const verb = kind === 'failure' ? 'Undeliverable' : kind === 'delay' ? 'Delivery delayed'
    : input.recipients.every((r) => r.action === 'delivered') ? 'Delivered' : 'Relayed';
  const full = kind === 'failure' && input.envelope.dsnRet !== 'HDRS' && input.body.length <= MAX_RETURN_BYTES;
  const original = canonicalBody(input.body);
  const returned = full ? original : headerSection(original);
  const global = { used: false };
  const perMessage = [`Reporting-MTA: dns; ${mta}`, `X-Relay-Queue-ID: ${queueId}`];
  if (input.envelope.dsnEnvid) perMessage.push(`Original-Envelope-Id: ${fieldText(decodeXtext(input.envelope.dsnEnvid), 100)}`);
  perMessage.push(`Arrival-Date: ${rfc5322Date(new Date(input.envelope.receivedAt))}`);
  const perRecipient = input.recipients.flatMap((r) => ['', ...recipientFields(input, r, global)]);
  const human = humanText(input, kind);
  const humanAscii = human.every(isAscii);
  const to = headerMailbox(input.envelope.mailFrom);
  const returnedHeaders8bit = headerSection(original).some((b) => b > 0x7f);
  const returnedType = full ? (returnedHeaders8bit ? 'message/global' : 'message/rfc822') : returnedHeaders8bit ? 'message/global-headers' : 'text/rfc822-headers';
  const head = [
    `From: Mail Delivery System <${headerMailbox(input.postmaster) ?? `postmaster@${mta}`}>`,
    to === null ? 'To: undisclosed-recipients:;' : `To: <${to}>`,
    `Subject: ${encodeSubject(`${verb}: ${subject || '(no subject)'}`)}`,
    `Date: ${rfc5322Date(input.now)}`,
    `Message-ID: <dsn.${queueId}.${randomBytes(4).toString('hex')}@${mta}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=${global.used ? 'global-delivery-status' : 'delivery-status'}; boundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    `Content-Type: text/plain; charset=${humanAscii ? 'us-ascii' : 'utf-8'}`,
    ...(humanAscii ? [] : ['Content-Transfer-Encoding: 8bit']),
    '',
    ...human,
    '',
    `--${boundary}`,
    // RFC 6533 6.4: UTF-8 in the report fields needs the global type
    `Content-Type: ${global.used ? 'message/global-delivery-status' : 'message/delivery-status'}`,
    ...(global.used ? ['Content-Transfer-Encoding: 8bit'] : []),
    '',
    ...perMessage,
    ...perRecipient,
    '',
    `--${boundary}`,
    `Content-Type: ${returnedType}`,
    ...(returned.some((b) => b > 0x7f) ? ['Content-Transfer-Encoding: 8bit'] : []),
    '',
    '',
  ].join('\r\n');
  const tail = `${returned.length > 0 && !returned.subarray(-2).equals(Buffer.from('\r\n')) ? '\r\n' : ''}--${boundary}--\r\n`;
  // UTF-8, never latin1: see TRUST above
  const body = Buffer.concat([Buffer.from(head, 'utf8'), returned, Buffer.from(tail, 'utf8')]);
  const envelope: MessageEnvelope = {
    mailFrom: '',
    rcptTo: [{ address: input.envelope.mailFrom }],
    receivedAt: input.now.toISOString(),
    connectorId: 'dsn',
    sessionId: input.queueId,
    clientAddress: '',
    size: body.length,
  };
  return { envelope, body };
}

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
 * OUTPUT    Canonical CRLF text; the caller commits it to the spool like any message.
 */
import { randomBytes } from 'node:crypto';
import type { SpoolEnvelope } from '../spool/spool.ts';
import { canonicalBody } from './canonical-body.ts';
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
  envelope: SpoolEnvelope;
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
export function wantsDsn(envelope: SpoolEnvelope, index: number, action: DsnAction): boolean {
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

function diagnosticCode(diagnostic: string): string {
  return /^[245]\d\d[ -]/.test(diagnostic) ? `smtp; ${fieldText(diagnostic)}` : `X-Relay; ${fieldText(diagnostic)}`;
}

function originalRecipient(orcpt: string | undefined): string | null {
  if (!orcpt) return null;
  const semi = orcpt.indexOf(';');
  if (semi < 1) return null;
  return `${fieldText(orcpt.slice(0, semi), 20)}; ${fieldText(decodeXtext(orcpt.slice(semi + 1)))}`;
}

function recipientFields(input: DsnInput, r: DsnRecipientReport): string[] {
  const rcpt = input.envelope.rcptTo[r.index];
  const fields: string[] = [];
  const orig = originalRecipient(rcpt?.orcpt);
  if (orig) fields.push(`Original-Recipient: ${orig}`);
  fields.push(`Final-Recipient: rfc822; ${fieldText(rcpt?.address ?? '')}`, `Action: ${r.action}`, `Status: ${r.status}`);
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
  const lines = [`This is the mail system at host ${input.reportingMta}.`, '', ...intro, ''];
  for (const r of input.recipients) {
    const address = fieldText(input.envelope.rcptTo[r.index]?.address ?? '');
    lines.push(`<${address}>: ${r.action}${r.diagnostic ? `: ${fieldText(r.diagnostic, 400)}` : ''}`);
  }
  return lines;
}

/** buildDsn - the DSN for the given recipient reports, ready for Spool.commitMessage. */
export function buildDsn(input: DsnInput): { envelope: SpoolEnvelope; body: Buffer } {
  const kind = dsnKind(input.recipients);
  const boundary = `${input.queueId}/${randomBytes(8).toString('hex')}`;
  const subject = fieldText(headerValue(input.body, 'subject') ?? '', 200);
  const verb = kind === 'failure' ? 'Undeliverable' : kind === 'delay' ? 'Delivery delayed'
    : input.recipients.every((r) => r.action === 'delivered') ? 'Delivered' : 'Relayed';
  const full = kind === 'failure' && input.envelope.dsnRet !== 'HDRS' && input.body.length <= MAX_RETURN_BYTES;
  const original = canonicalBody(input.body);
  const returned = full ? original : headerSection(original);
  const perMessage = [`Reporting-MTA: dns; ${input.reportingMta}`, `X-Relay-Queue-ID: ${input.queueId}`];
  if (input.envelope.dsnEnvid) perMessage.push(`Original-Envelope-Id: ${fieldText(decodeXtext(input.envelope.dsnEnvid), 100)}`);
  perMessage.push(`Arrival-Date: ${rfc5322Date(new Date(input.envelope.receivedAt))}`);
  const head = [
    `From: Mail Delivery System <${input.postmaster}>`,
    `To: <${input.envelope.mailFrom}>`,
    `Subject: ${verb}: ${subject || '(no subject)'}`,
    `Date: ${rfc5322Date(input.now)}`,
    `Message-ID: <dsn.${input.queueId}.${randomBytes(4).toString('hex')}@${input.reportingMta}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    ...humanText(input, kind),
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    ...perMessage,
    ...input.recipients.flatMap((r) => ['', ...recipientFields(input, r)]),
    '',
    `--${boundary}`,
    full ? 'Content-Type: message/rfc822' : 'Content-Type: text/rfc822-headers',
    ...(returned.some((b) => b > 0x7f) ? ['Content-Transfer-Encoding: 8bit'] : []),
    '',
    '',
  ].join('\r\n');
  const tail = `${returned.length > 0 && !returned.subarray(-2).equals(Buffer.from('\r\n')) ? '\r\n' : ''}--${boundary}--\r\n`;
  const body = Buffer.concat([Buffer.from(head, 'latin1'), returned, Buffer.from(tail, 'latin1')]);
  const envelope: SpoolEnvelope = {
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

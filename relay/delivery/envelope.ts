/*
 * relay/delivery/envelope - the one envelope shape, from DATA to delivery, and its one validator.
 *
 * The session builds it at the end of DATA; the spool stores it with the body, and checks it
 * at the door (commitMessage) and on every read (recovery, readMessage), so a file that
 * decodes has an envelope the queue manager can trust; the queue manager hands it to the
 * delivery agent as it is (job.ts), which builds SMTP transactions, drop files and DSNs from
 * it. It lives here, in the lowest room that reads it, so every room above imports it downward.
 * Addresses and DSN strings may not hold control characters: they are written back into
 * SMTP commands by the delivery agent, so a stray CR/LF here would be command injection.
 */

export const DSN_NOTIFY = ['NEVER', 'SUCCESS', 'FAILURE', 'DELAY'] as const;
export type DsnNotify = (typeof DSN_NOTIFY)[number];
export const DSN_RET = ['FULL', 'HDRS'] as const;
export type DsnRet = (typeof DSN_RET)[number];

export interface EnvelopeRecipient {
  /** Recipient address as accepted in RCPT TO, without angle brackets. */
  address: string;
  /** RFC 3461 NOTIFY; absent means the default (FAILURE,DELAY at the delivery side). */
  notify?: DsnNotify[];
  /** RFC 3461 ORCPT, as `addr-type;xtext` (for example `rfc822;a@example.com`). */
  orcpt?: string;
}

export interface MessageEnvelope {
  /** Reverse path without angle brackets; '' is the null sender. */
  mailFrom: string;
  rcptTo: EnvelopeRecipient[];
  /** ISO 8601 time at which the end of DATA was received. */
  receivedAt: string;
  connectorId: string;
  sessionId: string;
  /** Client IP address as seen by the session (after a trusted PROXY header). */
  clientAddress: string;
  /** SASL user, when the session authenticated. */
  authUser?: string;
  /** Body size in bytes; must equal the bytes handed to commitMessage. */
  size: number;
  /** RFC 3461 RET. */
  dsnRet?: DsnRet;
  /** RFC 3461 ENVID (xtext). */
  dsnEnvid?: string;
}

export type EnvelopeCheck = { ok: true; envelope: MessageEnvelope } | { ok: false; reason: string };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function cleanString(value: unknown): value is string {
  return typeof value === 'string' && !CONTROL.test(value);
}

function checkRecipient(value: unknown, index: number): { ok: true; rcpt: EnvelopeRecipient } | { ok: false; reason: string } {
  if (!isRecord(value)) return { ok: false, reason: `rcptTo[${index}] is not an object` };
  if (!cleanString(value.address) || value.address === '') {
    return { ok: false, reason: `rcptTo[${index}].address must be a non-empty string without control characters` };
  }
  const rcpt: EnvelopeRecipient = { address: value.address };
  if (value.notify !== undefined) {
    const notify = value.notify;
    const valid =
      Array.isArray(notify) &&
      notify.length > 0 &&
      notify.every((n) => (DSN_NOTIFY as readonly unknown[]).includes(n)) &&
      new Set(notify).size === notify.length &&
      (!notify.includes('NEVER') || notify.length === 1);
    if (!valid) return { ok: false, reason: `rcptTo[${index}].notify must be NEVER alone or a set of SUCCESS, FAILURE, DELAY` };
    rcpt.notify = [...(notify as DsnNotify[])];
  }
  if (value.orcpt !== undefined) {
    if (!cleanString(value.orcpt)) return { ok: false, reason: `rcptTo[${index}].orcpt must be a string without control characters` };
    rcpt.orcpt = value.orcpt;
  }
  return { ok: true, rcpt };
}

/**
 * checkEnvelope - validate an untrusted value and return a normalised copy holding
 * only the known fields (so nothing a caller tacked on is persisted).
 */
export function checkEnvelope(value: unknown): EnvelopeCheck {
  if (!isRecord(value)) return { ok: false, reason: 'envelope is not an object' };
  if (!cleanString(value.mailFrom)) return { ok: false, reason: 'mailFrom must be a string without control characters' };
  if (!Array.isArray(value.rcptTo) || value.rcptTo.length === 0) return { ok: false, reason: 'rcptTo must be a non-empty array' };
  const rcptTo: EnvelopeRecipient[] = [];
  for (const [i, r] of (value.rcptTo as unknown[]).entries()) {
    const checked = checkRecipient(r, i);
    if (!checked.ok) return checked;
    rcptTo.push(checked.rcpt);
  }
  if (typeof value.receivedAt !== 'string' || Number.isNaN(Date.parse(value.receivedAt))) {
    return { ok: false, reason: 'receivedAt must be an ISO 8601 time' };
  }
  for (const key of ['connectorId', 'sessionId', 'clientAddress'] as const) {
    if (!cleanString(value[key])) return { ok: false, reason: `${key} must be a string without control characters` };
  }
  if (!Number.isSafeInteger(value.size) || (value.size as number) < 0) {
    return { ok: false, reason: 'size must be a non-negative integer' };
  }
  const envelope: MessageEnvelope = {
    mailFrom: value.mailFrom,
    rcptTo,
    receivedAt: value.receivedAt,
    connectorId: value.connectorId as string,
    sessionId: value.sessionId as string,
    clientAddress: value.clientAddress as string,
    size: value.size as number,
  };
  if (value.authUser !== undefined) {
    if (!cleanString(value.authUser)) return { ok: false, reason: 'authUser must be a string without control characters' };
    envelope.authUser = value.authUser;
  }
  if (value.dsnRet !== undefined) {
    if (!(DSN_RET as readonly unknown[]).includes(value.dsnRet)) return { ok: false, reason: 'dsnRet must be FULL or HDRS' };
    envelope.dsnRet = value.dsnRet as DsnRet;
  }
  if (value.dsnEnvid !== undefined) {
    if (!cleanString(value.dsnEnvid)) return { ok: false, reason: 'dsnEnvid must be a string without control characters' };
    envelope.dsnEnvid = value.dsnEnvid;
  }
  return { ok: true, envelope };
}

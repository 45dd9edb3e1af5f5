/*
 * relay/session/policy - the verb decisions of a session: HELO, AUTH, MAIL FROM, RCPT TO, DATA.
 *
 * Job: pure functions from (connector, rights, accepted domains, session facts) to either
 * `{ ok: true, reason }` or a refusal with the exact reply of api.md "What an SMTP client sees"
 * and a stable camelCase reason shared by the protocol log and `explain`.
 * Trust: the connector and accepted domains are rendered config; everything else (HELO name,
 * addresses, SIZE=) is client input and is parsed defensively (domains.ts).
 * Failure modes: none thrown. Order of checks is fixed and documented per function, so a client
 * that breaks two rules always sees the same reply. Limits of 0 mean "no limit".
 * Replies go out as `code` plus text `${enhanced} ${message}` (see replyText): smtp-server adds
 * no enhanced code itself as long as hideENHANCEDSTATUSCODES stays at its default (true).
 */
import type { AcceptedDomainConfig, ConnectorConfig, Right } from '../config/schema.ts';
import { matchAcceptedDomain, normalizeDomain, parseEnvelopeAddress, sameAddress } from './domains.ts';

export interface Refusal {
  ok: false;
  code: number;
  enhanced: string;
  message: string;
  reason: string;
}
export type Decision = { ok: true; reason: string } | Refusal;

export interface PolicyContext {
  connector: ConnectorConfig;
  rights: ReadonlySet<Right>;
  acceptedDomains: readonly AcceptedDomainConfig[];
  /** TLS is active on the session (STARTTLS done, or implicit TLS). */
  secure: boolean;
  authenticatedUser?: string;
  /** The addresses the authenticated user may send as (users file). */
  userAddresses?: readonly string[];
}

const refuse = (code: number, enhanced: string, message: string, reason: string): Refusal => ({
  ok: false,
  code,
  enhanced,
  message,
  reason,
});
const allow = (reason: string): Decision => ({ ok: true, reason });

/** The canonical refusals; tests and the composition root may compare against these. */
export const REPLIES = {
  tlsRequired: refuse(530, '5.7.0', 'Must issue a STARTTLS command first', 'tlsRequired'),
  noSubmitRight: refuse(530, '5.7.1', 'Client was not authenticated', 'noSubmitRight'),
  messageTooLarge: refuse(552, '5.3.4', 'Message size exceeds fixed maximum message size', 'messageTooLarge'),
  authoritativeDomainSender: refuse(
    550,
    '5.7.1',
    'Client does not have permissions to send as this sender',
    'authoritativeDomainSender',
  ),
  senderNotAllowedForUser: refuse(
    550,
    '5.7.1',
    'Client does not have permissions to send as this sender',
    'senderNotAllowedForUser',
  ),
  relayDenied: refuse(550, '5.7.54', 'Unable to relay recipient in non-accepted domain', 'relayDenied'),
  tooManyRecipients: refuse(452, '4.5.3', 'Too many recipients', 'tooManyRecipients'),
  authNotEnabled: refuse(503, '5.5.1', 'Authentication not enabled', 'authNotEnabled'),
  authRequiresTls: refuse(538, '5.7.11', 'Encryption required for requested authentication mechanism', 'authRequiresTls'),
  authNoSubmitRight: refuse(530, '5.7.1', 'Client was not authenticated', 'authNoSubmitRight'),
  invalidHeloDomain: refuse(501, '5.5.4', 'Invalid domain name', 'invalidHeloDomain'),
  hopCountExceeded: refuse(554, '5.4.6', 'Hop count exceeded - possible mail loop', 'hopCountExceeded'),
  bareLineFeedRejected: refuse(550, '5.6.11', 'Bare line feed or carriage return not allowed', 'bareLineFeedRejected'),
  headerTooLarge: refuse(552, '5.3.4', 'Message header size exceeds fixed maximum size', 'headerTooLarge'),
} as const satisfies Record<string, Refusal>;

/** `5.7.54 Unable to relay ...`: the text to hand smtp-server along with `responseCode = code`. */
export function replyText(refusal: Refusal): string {
  return `${refusal.enhanced} ${refusal.message}`;
}

/** `550 5.7.54 Unable to relay ...`: the whole reply line, for logs and explain. */
export function replyLine(decision: Decision): string {
  return decision.ok ? `ok ${decision.reason}` : `${decision.code} ${replyText(decision)}`;
}

// An address literal: [IPv4] or [IPv6:...] (RFC 5321 4.1.3).
const ADDRESS_LITERAL = /^\[(?:\d{1,3}(?:\.\d{1,3}){3}|IPv6:[0-9a-f:.]+)\]$/i;

/** HELO/EHLO argument. Only checked when the connector sets requireEHLODomain. */
export function decideHelo(ctx: { connector: ConnectorConfig; helo: string }): Decision {
  if (!ctx.connector.requireEHLODomain) return allow('heloNotChecked');
  const helo = ctx.helo.trim();
  if (ADDRESS_LITERAL.test(helo)) return allow('heloAddressLiteral');
  // a domain needs at least one dot: `localhost` or a bare word is not a domain
  if (helo.includes('.') && !helo.endsWith('.') && normalizeDomain(helo) !== null) return allow('heloDomain');
  return REPLIES.invalidHeloDomain;
}

function sizeExceeded(ctx: PolicyContext, size: number): boolean {
  const limit = ctx.connector.limits.maxMessageSize;
  return limit > 0 && size > limit && !ctx.rights.has('BypassMessageSizeLimit');
}

/**
 * AUTH. Call with the rights of the identity the client is authenticating as (resolve them
 * for `{ kind: 'Authenticated', user }` before checking the password). Order: requireTLS,
 * BasicAuth offered, BasicAuthRequireTLS, Submit.
 */
export function decideAuth(ctx: PolicyContext): Decision {
  const mechanisms = ctx.connector.authMechanisms;
  if (ctx.connector.tls.requireTLS && !ctx.secure) return REPLIES.tlsRequired;
  if (!mechanisms.includes('BasicAuth')) return REPLIES.authNotEnabled;
  if (mechanisms.includes('BasicAuthRequireTLS') && !ctx.secure) return REPLIES.authRequiresTls;
  if (!ctx.rights.has('Submit')) return REPLIES.authNoSubmitRight;
  return allow('authAllowed');
}

/**
 * MAIL FROM. Order: requireTLS, Submit, declared SIZE, then the sender checks (skipped for
 * the null sender): an authenticated user may always send as a listed address; other addresses
 * need AcceptAnySender. An address in an Authoritative accepted domain needs
 * AcceptAuthoritativeDomainSender unless it is one of the user's listed addresses.
 */
export function decideMailFrom(ctx: PolicyContext & { mailFrom: string; declaredSize?: number }): Decision {
  if (ctx.connector.tls.requireTLS && !ctx.secure) return REPLIES.tlsRequired;
  if (!ctx.rights.has('Submit')) return REPLIES.noSubmitRight;
  if (ctx.declaredSize !== undefined && sizeExceeded(ctx, ctx.declaredSize)) return REPLIES.messageTooLarge;
  if (ctx.mailFrom === '') return allow('nullSender');

  const user = ctx.authenticatedUser;
  if (user !== undefined) {
    const listed = (ctx.userAddresses ?? []).some((a) => sameAddress(a, ctx.mailFrom));
    if (listed) return allow('senderListedForUser');
    if (!ctx.rights.has('AcceptAnySender')) return REPLIES.senderNotAllowedForUser;
  }
  const sender = parseEnvelopeAddress(ctx.mailFrom);
  const domain = matchAcceptedDomain(sender.domain, ctx.acceptedDomains);
  if (domain?.type === 'Authoritative' && !ctx.rights.has('AcceptAuthoritativeDomainSender')) {
    return REPLIES.authoritativeDomainSender;
  }
  return allow(user !== undefined ? 'acceptAnySender' : 'senderAccepted');
}

/**
 * RCPT TO. Order: recipient count (recipientCount = recipients accepted so far), then the
 * relay rule: accepted domains need no right, everything else (including routing tricks,
 * IP literals and domainless addresses) needs AcceptAnyRecipient.
 */
export function decideRcptTo(ctx: PolicyContext & { rcptTo: string; recipientCount: number }): Decision {
  const max = ctx.connector.limits.maxRecipientsPerMessage;
  if (max > 0 && ctx.recipientCount >= max) return REPLIES.tooManyRecipients;
  const rcpt = parseEnvelopeAddress(ctx.rcptTo);
  if (!rcpt.routing && matchAcceptedDomain(rcpt.domain, ctx.acceptedDomains)) return allow('acceptedDomain');
  if (ctx.rights.has('AcceptAnyRecipient')) return allow('acceptAnyRecipient');
  return REPLIES.relayDenied;
}

/** Size at the end of DATA (bytes received), or any other size to check against the limit. */
export function decideDataSize(ctx: PolicyContext & { size: number }): Decision {
  if (sizeExceeded(ctx, ctx.size)) return REPLIES.messageTooLarge;
  return allow(ctx.rights.has('BypassMessageSizeLimit') ? 'bypassMessageSizeLimit' : 'sizeWithinLimit');
}

/** Received headers already on the message (before ours) against limits.maxHopCount. */
export function decideHopCount(ctx: { connector: ConnectorConfig; receivedCount: number }): Decision {
  const max = ctx.connector.limits.maxHopCount;
  if (max > 0 && ctx.receivedCount >= max) return REPLIES.hopCountExceeded;
  return allow('hopCountWithinLimit');
}

/**
 * End of DATA, after the final dot (the stream was read to its end). Order: stray CR/LF/NUL
 * in Reject mode, header block size, message size (bytes received), hop count (Received
 * fields counted on the client's header block before the header firewall strips any).
 */
export function decideDataEnd(
  ctx: PolicyContext & { bareLineFeedRejected: boolean; headerSizeExceeded: boolean; size: number; receivedCount: number },
): Decision {
  if (ctx.bareLineFeedRejected) return REPLIES.bareLineFeedRejected;
  if (ctx.headerSizeExceeded) return REPLIES.headerTooLarge;
  const size = decideDataSize(ctx);
  if (!size.ok) return size;
  const hops = decideHopCount(ctx);
  return hops.ok ? allow('dataAccepted') : hops;
}

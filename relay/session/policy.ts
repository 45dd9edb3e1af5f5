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
 * The replies themselves are the table of replies.ts.
 */
import type { AcceptedDomainConfig, ConnectorConfig, Right } from '../config/schema.ts';
import { matchAcceptedDomain, normalizeDomain, parseEnvelopeAddress, sameAddress } from './domains.ts';
import { headerSenders } from './sender-headers.ts';
import { REPLIES, refusalLine, type Refusal } from './replies.ts';

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

const allow = (reason: string): Decision => ({ ok: true, reason });

/** `550 5.7.54 Unable to relay ...`: the whole reply line, for logs and explain. */
export function replyLine(decision: Decision): string {
  return decision.ok ? `ok ${decision.reason}` : refusalLine(decision);
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
 * Whether this session may name `address` as its sender (envelope or header): null, or which
 * rule it breaks. An authenticated user may always use a listed address; any other needs
 * AcceptAnySender. An address in an Authoritative accepted domain also needs
 * AcceptAuthoritativeDomainSender unless it is one of the user's listed addresses.
 */
function senderRule(ctx: PolicyContext, address: string): 'notAllowedForUser' | 'authoritativeDomain' | null {
  if (ctx.authenticatedUser !== undefined) {
    if ((ctx.userAddresses ?? []).some((a) => sameAddress(a, address))) return null;
    if (!ctx.rights.has('AcceptAnySender')) return 'notAllowedForUser';
  }
  const domain = matchAcceptedDomain(parseEnvelopeAddress(address).domain, ctx.acceptedDomains);
  if (domain?.type === 'Authoritative' && !ctx.rights.has('AcceptAuthoritativeDomainSender')) return 'authoritativeDomain';
  return null;
}

/**
 * MAIL FROM. Order: requireTLS, Submit, declared SIZE, then the sender checks. The null
 * sender (bounces, RFC 5321 4.5.5) is accepted from sessions without a user; a session
 * authenticated as a user needs AcceptAnySender for it (Send-As: `<>` is no listed address,
 * and would let the user send with no sender the check could refuse). Other addresses: see
 * senderRule.
 */
export function decideMailFrom(ctx: PolicyContext & { mailFrom: string; declaredSize?: number }): Decision {
  if (ctx.connector.tls.requireTLS && !ctx.secure) return REPLIES.tlsRequired;
  if (!ctx.rights.has('Submit')) return REPLIES.noSubmitRight;
  if (ctx.declaredSize !== undefined && sizeExceeded(ctx, ctx.declaredSize)) return REPLIES.messageTooLarge;
  const user = ctx.authenticatedUser;
  if (ctx.mailFrom === '') {
    if (user !== undefined && !ctx.rights.has('AcceptAnySender')) return REPLIES.nullSenderNotAllowedForUser;
    return allow('nullSender');
  }
  const rule = senderRule(ctx, ctx.mailFrom);
  if (rule === 'notAllowedForUser') return REPLIES.senderNotAllowedForUser;
  if (rule === 'authoritativeDomain') return REPLIES.authoritativeDomainSender;
  if (user === undefined) return allow('senderAccepted');
  return allow((ctx.userAddresses ?? []).some((a) => sameAddress(a, ctx.mailFrom)) ? 'senderListedForUser' : 'acceptAnySender');
}

/**
 * The From and Sender header fields at the end of DATA (`headers`: the client's header block),
 * checked with the rules of MAIL FROM (senderRule) for sessions authenticated as a user unless
 * the connector sets `senderCheck.headerFrom: Off`. Without it a user limited to its own
 * addresses could still show any author to the recipients. Not checked: sessions without a
 * user (a relay cannot know who wrote mail from elsewhere), and sessions that hold both
 * AcceptAnySender and AcceptAuthoritativeDomainSender (nothing could be refused). A field
 * that cannot be read with certainty, or an address with routing syntax, is refused: a
 * reader might show an address the check never saw.
 */
export function decideHeaderSenders(ctx: PolicyContext & { headers: Buffer | string }): Decision {
  if (ctx.authenticatedUser === undefined) return allow('headerSenderNotChecked');
  if ((ctx.connector.senderCheck?.headerFrom ?? 'Enforce') === 'Off') return allow('headerSenderCheckOff');
  if (ctx.rights.has('AcceptAnySender') && ctx.rights.has('AcceptAuthoritativeDomainSender')) return allow('headerSenderAnySender');
  const found = headerSenders(ctx.headers);
  if (found.unreadable > 0) return REPLIES.headerSenderUnreadable;
  for (const address of found.addresses) {
    if (parseEnvelopeAddress(address).routing) return REPLIES.headerSenderUnreadable;
    const rule = senderRule(ctx, address);
    if (rule === 'notAllowedForUser') return REPLIES.headerSenderNotAllowedForUser;
    if (rule === 'authoritativeDomain') return REPLIES.headerAuthoritativeDomainSender;
  }
  return allow('headerSenderAllowed');
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
 * fields counted on the client's header block before the header firewall strips any), then
 * the header senders (decideHeaderSenders, on the same block).
 */
export function decideDataEnd(
  ctx: PolicyContext & { bareLineFeedRejected: boolean; headerSizeExceeded: boolean; size: number; receivedCount: number; headers: Buffer | string },
): Decision {
  if (ctx.bareLineFeedRejected) return REPLIES.bareLineFeedRejected;
  if (ctx.headerSizeExceeded) return REPLIES.headerTooLarge;
  const size = decideDataSize(ctx);
  if (!size.ok) return size;
  const hops = decideHopCount(ctx);
  if (!hops.ok) return hops;
  const senders = decideHeaderSenders(ctx);
  return senders.ok ? allow('dataAccepted') : senders;
}

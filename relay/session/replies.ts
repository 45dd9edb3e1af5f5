/*
 * relay/session/replies - every refusal the relay answers an SMTP client with, in one table.
 *
 * Job: the code, enhanced status code and text of each reply of api.md "What an SMTP client
 * sees", with the stable camelCase reason the protocol log, metrics and `explain` use. The
 * listener (connection refusals), rate limits, the verb policy, the connector server (logon,
 * storage, errors) and the smtp-server patch (replies the library makes itself) all read it
 * here, so a reply's wording is changed in one place.
 * Replies go out as `code` plus text `${enhanced} ${message}` (see replyText): smtp-server adds
 * no enhanced code itself as long as hideENHANCEDSTATUSCODES stays at its default (true).
 * A reason with a qualifier (messageRateLimit:IPAddress, logonLockout:user) is the entry's
 * reason with `:qualifier` added by the caller; the reply itself never says which.
 */

export interface Refusal {
  ok: false;
  code: number;
  enhanced: string;
  message: string;
  reason: string;
}

const refuse = (code: number, enhanced: string, message: string, reason: string): Refusal => ({
  ok: false,
  code,
  enhanced,
  message,
  reason,
});

const SEND_AS_DENIED = 'Client does not have permissions to send as this sender';
const TOO_MANY_FROM_IP = 'Too many connections from your IP';
const INSUFFICIENT_STORAGE = 'Insufficient system storage';
const WRITE_FAILED = 'Temporary failure writing the message, try again';

/** The refusals of the verb policy (policy.ts decides each; its golden table covers them all). */
export const VERB_POLICY_REPLIES = {
  tlsRequired: refuse(530, '5.7.0', 'Must issue a STARTTLS command first', 'tlsRequired'),
  noSubmitRight: refuse(530, '5.7.1', 'Client was not authenticated', 'noSubmitRight'),
  messageTooLarge: refuse(552, '5.3.4', 'Message size exceeds fixed maximum message size', 'messageTooLarge'),
  authoritativeDomainSender: refuse(550, '5.7.1', SEND_AS_DENIED, 'authoritativeDomainSender'),
  senderNotAllowedForUser: refuse(550, '5.7.1', SEND_AS_DENIED, 'senderNotAllowedForUser'),
  // Send-As (Exchange: no ms-Exch-SMTP-Accept-Any-Sender): the null sender is no address of
  // the user's, so an authenticated user needs AcceptAnySender for it too
  nullSenderNotAllowedForUser: refuse(550, '5.7.1', SEND_AS_DENIED, 'nullSenderNotAllowedForUser'),
  // The same check on the header From and Sender at the end of DATA (Exchange rejects a
  // spoofed header sender at end of data with the reply of MAIL FROM)
  headerSenderNotAllowedForUser: refuse(550, '5.7.1', SEND_AS_DENIED, 'headerSenderNotAllowedForUser'),
  headerAuthoritativeDomainSender: refuse(550, '5.7.1', SEND_AS_DENIED, 'headerAuthoritativeDomainSender'),
  headerSenderUnreadable: refuse(550, '5.7.1', SEND_AS_DENIED, 'headerSenderUnreadable'),
  relayDenied: refuse(550, '5.7.54', 'Unable to relay recipient in non-accepted domain', 'relayDenied'),
  tooManyRecipients: refuse(452, '4.5.3', 'Too many recipients', 'tooManyRecipients'),
  authNotEnabled: refuse(503, '5.5.1', 'Authentication not enabled', 'authNotEnabled'),
  // "STARTTLS first" says what to do; the code and the rest are RFC 4954's
  authRequiresTls: refuse(538, '5.7.11', 'Encryption required for requested authentication mechanism, STARTTLS first', 'authRequiresTls'),
  authNoSubmitRight: refuse(530, '5.7.1', 'Client was not authenticated', 'authNoSubmitRight'),
  invalidHeloDomain: refuse(501, '5.5.4', 'Invalid domain name', 'invalidHeloDomain'),
  hopCountExceeded: refuse(554, '5.4.6', 'Hop count exceeded - possible mail loop', 'hopCountExceeded'),
  bareLineFeedRejected: refuse(550, '5.6.11', 'Bare line feed or carriage return not allowed', 'bareLineFeedRejected'),
  headerTooLarge: refuse(552, '5.3.4', 'Message header size exceeds fixed maximum size', 'headerTooLarge'),
} as const satisfies Record<string, Refusal>;

/** Refusals before a session exists: the listener and the connection limits (rate-limits.ts). */
const CONNECTION_REPLIES = {
  shuttingDown: refuse(421, '4.3.2', 'Service shutting down', 'shuttingDown'),
  connectorNotLoaded: refuse(421, '4.3.0', 'Connector not loaded, try again later', 'connectorNotLoaded'),
  maxInboundConnections: refuse(421, '4.7.0', 'Too many connections, try again later', 'maxInboundConnections'),
  maxInboundConnectionsPerSource: refuse(421, '4.7.0', TOO_MANY_FROM_IP, 'maxInboundConnectionsPerSource'),
  maxInboundConnectionPercentagePerSource: refuse(421, '4.7.0', TOO_MANY_FROM_IP, 'maxInboundConnectionPercentagePerSource'),
} as const satisfies Record<string, Refusal>;

/** Refusals of the session itself: errors, time, logon, message rate, storage (session-handlers.ts, accept-message.ts). */
const SESSION_REPLIES = {
  maxProtocolErrors: refuse(421, '4.7.0', 'Too many errors on this connection, closing transmission channel', 'maxProtocolErrors'),
  connectionTimeout: refuse(421, '4.4.2', 'Connection timeout, closing transmission channel', 'connectionTimeout'),
  maxLogonFailures: refuse(421, '4.7.0', 'Too many failed logon attempts', 'maxLogonFailures'),
  authenticationFailed: refuse(535, '5.7.8', 'Authentication credentials invalid', 'authenticationFailed'),
  passwordCheckBusy: refuse(454, '4.7.0', 'Temporary authentication failure', 'passwordCheckBusy'),
  // 454, not 535: the credentials were not looked at (rate-limits.ts, LogonLockout)
  logonLockout: refuse(454, '4.7.0', 'Temporary authentication failure, try again later', 'logonLockout'),
  messageRateLimit: refuse(451, '4.7.0', 'Message rate limit exceeded', 'messageRateLimit'),
  messageTooBigForSpool: refuse(552, '5.3.4', 'Message size exceeds fixed maximum message size', 'messageTooBigForSpool'),
  dataMemoryFull: refuse(451, '4.3.1', 'Insufficient system resources, try again later', 'dataMemoryFull'),
  spoolFull: refuse(452, '4.3.1', INSUFFICIENT_STORAGE, 'spoolFull'),
  spoolError: refuse(451, '4.3.0', WRITE_FAILED, 'spoolError'),
} as const satisfies Record<string, Refusal>;

/** The whole table. */
export const REPLIES = { ...VERB_POLICY_REPLIES, ...CONNECTION_REPLIES, ...SESSION_REPLIES } as const;

/** qualifiedRefusal - a table entry whose reason carries a qualifier (`messageRateLimit:User`). */
export function qualifiedRefusal(refusal: Refusal, qualifier: string): Refusal {
  return { ...refusal, reason: `${refusal.reason}:${qualifier}` };
}

/** `5.7.54 Unable to relay ...`: the text to hand smtp-server along with `responseCode = code`. */
export function replyText(refusal: Pick<Refusal, 'enhanced' | 'message'>): string {
  return `${refusal.enhanced} ${refusal.message}`;
}

/** `550 5.7.54 Unable to relay ...`: the whole reply line, as sent and logged. */
export function refusalLine(refusal: Pick<Refusal, 'code' | 'enhanced' | 'message'>): string {
  return `${refusal.code} ${replyText(refusal)}`;
}

/**
 * noConnectorReply - the one reply built from the connection (554 5.7.1, reason from the range
 * index): the hub, listener and client are named so a misrouted client's admin sees why.
 */
export function noConnectorReply(hubFqdn: string, listenerEndpoint: string, clientAddress: string): string {
  return `554 5.7.1 ${hubFqdn} Access denied: no receive connector on ${listenerEndpoint} accepts ${clientAddress}`;
}

/*
 * relay/delivery/failure-policy - what a failed SMTP step means for a recipient: the one
 * place where 4xx/5xx x final/non-final host becomes deferred, failed (bounce) or next host.
 *
 * After Postfix's smtp_trouble.c:
 *   soft error (4xx, 421, 503, no reply: refused, timed out, dropped), non-final host
 *       -> nextHost: try the recipient at the next MX / smart host;
 *   soft error, final host -> deferred: keep it queued, retry with backoff;
 *   hard error (5xx) to MAIL, RCPT or DATA -> failed (bounce), whichever host said it;
 *   hard error in the greeting or EHLO -> nextHost, or failed from the final host;
 *   TLS and AUTH failures are ours or the peer's configuration, never the message's ->
 *       nextHost or deferred, never failed (Postfix smtp_sasl_auth_soft_bounce).
 * Every decision carries a stable camelCase reason (for logs and tests) and the RFC 3463
 * status for DSNs: the enhanced code from the reply when it agrees with the reply class,
 * else a default per phase. Pure; table-tested in failure-policy.test.ts.
 */

import type { RecipientResult } from './job.ts';

export const SMTP_PHASES = ['connect', 'tls', 'auth', 'mail', 'rcpt', 'data'] as const;
export type SmtpPhase = (typeof SMTP_PHASES)[number];

/** nextHost: try the recipient at the next host; else the recipient's result (job.ts words). */
export type FailureAction = 'nextHost' | Exclude<RecipientResult, 'delivered'>;

export interface SmtpFailure {
  phase: SmtpPhase;
  /** SMTP reply code; null when there was no reply (connection refused, reset, timeout). */
  code: number | null;
  /** The reply text as received (for the enhanced status code). */
  reply?: string;
  /** True when no other host is left to try for this recipient. */
  finalHost: boolean;
}

export interface FailureDecision {
  action: FailureAction;
  reason: string;
  /** RFC 3463 status, class 4 for nextHost/deferred and 5 for failed. */
  dsnStatus: string;
}

const DEFAULT_STATUS: Record<SmtpPhase, { soft: string; hard: string }> = {
  connect: { soft: '4.4.1', hard: '5.4.0' },
  tls: { soft: '4.7.5', hard: '4.7.5' },
  auth: { soft: '4.7.8', hard: '4.7.8' },
  mail: { soft: '4.1.0', hard: '5.1.0' },
  rcpt: { soft: '4.2.0', hard: '5.1.1' },
  data: { soft: '4.3.0', hard: '5.6.0' },
};

const REASON: Record<SmtpPhase, { soft: string; hard: string }> = {
  connect: { soft: 'hostUnavailable', hard: 'hostRejectedSession' },
  tls: { soft: 'tlsFailed', hard: 'tlsFailed' },
  auth: { soft: 'authFailed', hard: 'authFailed' },
  mail: { soft: 'senderDeferred', hard: 'senderRejected' },
  rcpt: { soft: 'recipientDeferred', hard: 'recipientRejected' },
  data: { soft: 'messageDeferred', hard: 'messageRejected' },
};

/** isPermanentCode - 5xx except 503 (bad sequence: a session problem, not the message's). */
export function isPermanentCode(code: number | null): boolean {
  return code !== null && code >= 500 && code < 600 && code !== 503;
}

/** enhancedStatus - the `x.y.z` code at the start of a reply's text, or ''. */
export function enhancedStatus(reply: string | undefined): string {
  const match = /^\d{3}[ -]([245])\.(\d{1,3})\.(\d{1,3})\b/.exec(reply?.trim() ?? '');
  return match ? `${match[1]}.${match[2]}.${match[3]}` : '';
}

function statusFor(failure: SmtpFailure, hard: boolean): string {
  const wantClass = hard ? '5' : '4';
  const fromReply = enhancedStatus(failure.reply);
  if (fromReply) return `${wantClass}${fromReply.slice(1)}`;
  return DEFAULT_STATUS[failure.phase][hard ? 'hard' : 'soft'];
}

/** decideFailure - the policy table above as a function. */
export function decideFailure(failure: SmtpFailure): FailureDecision {
  const permanent = isPermanentCode(failure.code);
  const configProblem = failure.phase === 'tls' || failure.phase === 'auth';
  const messageStep = failure.phase === 'mail' || failure.phase === 'rcpt' || failure.phase === 'data';
  const bounceNow = permanent && messageStep;
  const bounceAtEnd = permanent && !configProblem && failure.phase === 'connect';
  const reason = REASON[failure.phase][permanent ? 'hard' : 'soft'];
  if (bounceNow) return { action: 'failed', reason, dsnStatus: statusFor(failure, true) };
  if (!failure.finalHost) return { action: 'nextHost', reason, dsnStatus: statusFor(failure, false) };
  if (bounceAtEnd) return { action: 'failed', reason, dsnStatus: statusFor(failure, true) };
  return { action: 'deferred', reason, dsnStatus: statusFor(failure, false) };
}

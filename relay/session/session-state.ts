/*
 * relay/session/session-state - what one SMTP session of a connector carries from verb to verb.
 *
 * Job: the per-session state the handlers share (log, rights, user, counters, the timers and
 * the anti-spam checks in flight), the error smtp-server turns into a reply, and the tarpit
 * that ends when the session closes.
 * Failure modes: none; a session closed while tarpitted stops waiting at once.
 */
import type { SessionLog } from '../log/protocol-log.ts';
import type { AntiSpamResult } from './antispam.ts';
import { tarpit } from './rate-limits.ts';
import { replyText, type Refusal } from './replies.ts';
import type { SessionRights } from './rights.ts';
import type { RelayUser } from './users.ts';

export interface SessionState {
  log: SessionLog;
  sessionId: string;
  rights: SessionRights;
  user: RelayUser | undefined;
  mutualTls: boolean;
  protocolErrors: number;
  logonFailures: number;
  messages: number;
  release: () => void;
  /** Set when the session closes. */
  closed: boolean;
  /** Aborted when the session closes, to end a tarpit early; made by the first tarpit. */
  closing: AbortController | null;
  /** The connectionTimeout timer, cleared when the session closes. */
  lifetime: NodeJS.Timeout | undefined;
  /** Anti-spam checks of the current transaction, started at MAIL FROM (see antispam.ts). */
  antispam: Promise<AntiSpamResult> | null;
}

/** An error smtp-server answers with: `responseCode` and the reply text. */
export type SmtpError = Error & { responseCode?: number };

export function smtpError(refusal: Pick<Refusal, 'code' | 'enhanced' | 'message'>): SmtpError {
  return Object.assign(new Error(replyText(refusal)), { responseCode: refusal.code });
}

/**
 * The reason a session's `closing` signal is aborted with: one object for every session, so
 * closing does not build a DOMException (and its stack trace) as abort() without a reason
 * does. tarpit() only checks that the sleep ended with an AbortError.
 */
export const SESSION_CLOSED = new DOMException('session closed', 'AbortError');

/** tarpitSession - tarpit(ms), ended early when the session closes. */
export function tarpitSession(state: SessionState, ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  if (!state.closing) {
    // Only sessions that get tarpitted pay for an AbortController (and its abort event at close).
    state.closing = new AbortController();
    if (state.closed) state.closing.abort(SESSION_CLOSED);
  }
  return tarpit(ms, state.closing.signal);
}

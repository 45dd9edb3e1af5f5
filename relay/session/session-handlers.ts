/*
 * relay/session/session-handlers - smtp-server's handlers for the sessions of one connector.
 *
 * Job: each verb of a session, in order: connect (state, rights, the connectionTimeout),
 * STARTTLS (mutual TLS raises the rights), AUTH (policy, hub-wide lockout, the password check
 * off the event loop, maxLogonFailures), MAIL FROM (message rate, policy, anti-spam started),
 * RCPT TO (policy), DATA (accept-message.ts), close (lease released, outcome counted).
 * Every decision is a pure policy module's; refusals go through the connector's refuse.
 * Trust: everything from the client is hostile: addresses keep the client's form, AUTH names
 * are looked up, never trusted.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SessionLog } from '../log/protocol-log.ts';
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerDataStream, SMTPServerOptions } from 'smtp-server';
import { receiveMessage } from './accept-message.ts';
import { clientFormOfAddress } from '../delivery/address-canonical.ts';
import type { AcceptedConnection, ConnectorContext } from './connector-context.ts';
import { decideAuth, decideMailFrom, decideRcptTo } from './policy.ts';
import { logonFailureDecision, sourceKey } from './rate-limits.ts';
import { REPLIES, replyText } from './replies.ts';
import { resolveSessionRights } from './rights.ts';
import { SESSION_CLOSED, smtpError, tarpitSession, type SessionState } from './session-state.ts';
import { closeSession, socketOfSession } from './smtp-server-patch.ts';
import { verifyLogon } from './users.ts';

export type SessionHandlers = Required<Pick<SMTPServerOptions, 'onConnect' | 'onSecure' | 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData' | 'onClose'>>;

/**
 * sessionHandlers - the handlers of one connector's smtp-server; acceptedBySocket holds what
 * the listener handed over with each socket (its log, session id and lease).
 */
export function sessionHandlers(context: ConnectorContext, acceptedBySocket: WeakMap<Socket, AcceptedConnection>): SessionHandlers {
  const { connector, runtime, labels } = context;
  const { users, metrics } = runtime;
  const mechanisms = new Set(connector.authMechanisms);
  const sessionOutcomeLabels = {
    accepted: { ...labels, outcome: 'accepted' },
    refused: { ...labels, outcome: 'refused' },
    noMessage: { ...labels, outcome: 'noMessage' },
  } as const;

  return {
  onConnect(session, callback) {
    const socket = socketOfSession(session);
    const handedOver = socket ? acceptedBySocket.get(socket) : undefined;
    const log = handedOver?.log ?? new SessionLog({ 'connector-id': connector.id, 'session-id': session.id, 'local-endpoint': '', 'remote-endpoint': session.remoteAddress }, connector.protocolLogging === 'Verbose', runtime.logSink);
    const state: SessionState = {
      log,
      sessionId: handedOver?.sessionId ?? session.id,
      rights: { rights: new Set(), sources: new Map() },
      user: undefined,
      mutualTls: false,
      protocolErrors: 0,
      logonFailures: 0,
      messages: 0,
      release: handedOver?.release ?? (() => undefined),
      closed: false,
      closing: null,
      lifetime: undefined,
      antispam: null,
    };
    context.addSession(session, state);
    context.setRights(state);
    state.lifetime = setTimeout(() => {
      log.write('*', 'connection timeout', 'connectionTimeout', true);
      closeSession(session, replyText(REPLIES.connectionTimeout));
    }, connector.limits.connectionTimeoutMs);
    state.lifetime.unref();
    callback();
  },

  onSecure(socket, session, callback) {
    const state = context.stateOf(session);
    const tlsSocket = socket as TLSSocket;
    state.log.write('*', `TLS ${tlsSocket.getProtocol?.() ?? ''} ${tlsSocket.getCipher?.()?.name ?? ''}`, 'STARTTLS');
    if (mechanisms.has('MutualTLS') && tlsSocket.authorized && tlsSocket.getPeerCertificate?.()) {
      state.mutualTls = true;
      context.setRights(state);
    }
    callback();
  },

  onAuth(auth: SMTPServerAuthentication, session, callback) {
    const state = context.stateOf(session);
    const name = auth.username ?? '';
    const probe = resolveSessionRights(connector, { kind: 'Authenticated', user: name });
    const allowed = decideAuth({ ...context.policyContext(session, state), rights: probe.rights });
    if (!allowed.ok) {
      void context.refuse(session, allowed, 'AUTH', (err) => callback(err));
      return;
    }
    // Hub-wide lockout first, so a locked source or name costs no bcrypt and learns nothing;
    // the check itself runs in the password pool, off the event loop (password-worker.ts).
    const locked = runtime.logonLockout?.check(session.remoteAddress, name) ?? null;
    const low = runtime.logonLockout?.hasRecentFailures(session.remoteAddress) ?? false;
    const checked = locked ? Promise.resolve(null) : verifyLogon(users, name, auth.password ?? '', sourceKey(session.remoteAddress), { low });
    void checked.then(async (check) => {
      if (check?.ok) {
        runtime.logonLockout?.recordSuccess(session.remoteAddress, name);
        state.user = check.user;
        state.log.write('*', `AUTH ${auth.method} ${name}`, 'authenticated');
        context.setRights(state);
        callback(null, { user: name });
        return;
      }
      const temporary = locked ?? (check?.reason === 'busy' ? REPLIES.passwordCheckBusy : null);
      if (!temporary) runtime.logonLockout?.recordFailure(session.remoteAddress, name);
      state.logonFailures++;
      const reason = temporary?.reason ?? REPLIES.authenticationFailed.reason;
      metrics.refusals.inc({ ...labels, reason });
      state.log.write('*', `AUTH ${auth.method} ${name} failed`, reason, true);
      const decision = logonFailureDecision(state.logonFailures, connector.limits);
      await tarpitSession(state, decision.tarpitMs);
      if (decision.disconnect) {
        callback(smtpError(decision.disconnect));
        return;
      }
      callback(smtpError(temporary ?? REPLIES.authenticationFailed));
    });
  },

  onMailFrom(address: SMTPServerAddress, session, callback) {
    // smtp-server decoded xn-- labels: keep the client's form in the envelope (address-canonical.ts)
    address.address = clientFormOfAddress(address.address, session.envelope.smtpUtf8 === true);
    const state = context.stateOf(session);
    state.log.write('<', `MAIL FROM:<${address.address}>`, '');
    const rate = runtime.limiter.checkMessage({ clientAddress: session.remoteAddress, mailFrom: address.address, ...(state.user ? { user: state.user.name } : {}) });
    if (!rate.ok) return context.decide(session, { ...rate }, 'MAIL', callback);
    const declared = address.args && typeof address.args.SIZE === 'string' ? Number(address.args.SIZE) : undefined;
    const decision = decideMailFrom({ ...context.policyContext(session, state), mailFrom: address.address, ...(declared !== undefined && Number.isFinite(declared) ? { declaredSize: declared } : {}) });
    // Started here so the DNS lookups overlap RCPT and DATA; awaited in acceptMessage (accept-message.ts).
    state.antispam = decision.ok ? context.startAntiSpam(session, state, address.address) : null;
    context.decide(session, decision, 'MAIL', callback);
  },

  onRcptTo(address: SMTPServerAddress, session, callback) {
    address.address = clientFormOfAddress(address.address, session.envelope.smtpUtf8 === true);
    const state = context.stateOf(session);
    state.log.write('<', `RCPT TO:<${address.address}>`, '');
    context.decide(session, decideRcptTo({ ...context.policyContext(session, state), rcptTo: address.address, recipientCount: session.envelope.rcptTo.length }), 'RCPT', callback);
  },

  onData(stream: SMTPServerDataStream, session, callback) {
    receiveMessage(context, stream, session, context.stateOf(session), callback);
  },

  onClose(session) {
    const state = context.sessionState(session);
    if (!state) return;
    clearTimeout(state.lifetime);
    state.closed = true;
    state.closing?.abort(SESSION_CLOSED);
    state.release();
    metrics.sessions.inc(sessionOutcomeLabels[state.messages > 0 ? 'accepted' : state.protocolErrors > 0 ? 'refused' : 'noMessage']);
    state.log.write('-', '', 'Local');
  },
  };
}

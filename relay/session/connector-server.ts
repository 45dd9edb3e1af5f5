/*
 * relay/session/connector-server - one smtp-server instance per connector, enforcing it.
 *
 * The listener picks the connector for a connection and hands the socket to this server with
 * one call, handOver (it never listens itself). Every verb asks the pure policy modules (rights, policy, rate
 * limits, header firewall, data normalizer) and logs refusals with their reason. DATA is
 * canonicalised to CRLF, the Received and X-Relay-Antispam headers are added, and only after
 * the spool has the message on disk with fsync does the client get 250.
 * Trust: everything from the client is hostile; the config is trusted.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerAddress, type SMTPServerAuthentication, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { AcceptedDomainConfig, ConnectorConfig, HubSettings } from '../config/schema.ts';
import type { Spool } from '../spool/spool.ts';
import type { DsnNotify } from '../spool/envelope.ts';
import { SessionLog, type LogSink } from '../log/protocol-log.ts';
import { runAntiSpamChecks, startAntiSpamChecks, type AntiSpamInput, type AntiSpamResult, type DnsResolver } from './antispam.ts';
import type { DnsCache } from './dns-cache.ts';
import { DataNormalizer } from './data-normalizer.ts';
import { DataSink, dataMemoryBudget, DEFAULT_MAX_DATA_MEMORY_BYTES } from './data-sink.ts';
import { MAX_SPOOL_BODY_BYTES } from '../spool/record-format.ts';
import { buildReceivedHeader, countReceivedHeaders, filterHeaders, receivedProtocol } from './header-firewall.ts';
import { decideAuth, decideDataEnd, decideHelo, decideMailFrom, decideRcptTo, type Decision, type PolicyContext } from './policy.ts';
import { REPLIES, replyText, type Refusal } from './replies.ts';
import { logonFailureDecision, sourceKey, tarpit, type ConnectorRateLimiter, type LogonLockout } from './rate-limits.ts';
import { orderedRights, resolveSessionRights, sessionIdentityFor, type SessionRights } from './rights.ts';
import { verifyLogon, type RelayUser, type UserDirectory } from './users.ts';
import { clientFormOfAddress } from './address-canonical.ts';
import type { HubMetrics } from '../metrics.ts';
import { closeSession, setGreeting, socketOfSession } from './smtp-server-patch.ts';

export interface ConnectorRuntime {
  connector: ConnectorConfig;
  hub: HubSettings;
  acceptedDomains: AcceptedDomainConfig[];
  spool: Spool;
  users: UserDirectory;
  limiter: ConnectorRateLimiter;
  /** The hub's logon lockout, shared by every connector (rate-limits.ts); absent = per-session MaxLogonFailures only. */
  logonLockout?: LogonLockout;
  tls: { key: Buffer; cert: Buffer } | null;
  clientCA: Buffer | null;
  metrics: HubMetrics;
  logSink?: LogSink;
  resolver?: DnsResolver;
  /** The hub's DNS answer cache for the anti-spam checks (shared by every connector). */
  dnsCache?: DnsCache;
}

/** What the listener knows about a connection when it hands the socket over. */
export interface AcceptedConnection {
  log: SessionLog;
  /** The protocol log's session-id, also stored in the spooled envelope. */
  sessionId: string;
  /** Called once when the session ends (the connection lease of the listener). */
  release: () => void;
  /** The client as the session sees it (after PROXY), and the listener's address. */
  clientAddress: string;
  clientPort: number;
  localAddress: string;
  localPort: number;
}

/** The server of one connector, as the listener uses it. */
export interface ConnectorServer {
  readonly runtime: ConnectorRuntime;
  /** handOver - the session takes this accepted socket from here on: greeting, every verb, the end. */
  handOver(socket: Socket, connection: AcceptedConnection): void;
}

interface SessionState {
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

type SmtpError = Error & { responseCode?: number };

/** A session without a size limit still stops at what a queue file holds, less room for the headers the hub adds. */
const MAX_UNLIMITED_MESSAGE_BYTES = MAX_SPOOL_BODY_BYTES - 1024 * 1024;

function smtpError(refusal: Pick<Refusal, 'code' | 'enhanced' | 'message'>): SmtpError {
  return Object.assign(new Error(replyText(refusal)), { responseCode: refusal.code });
}

/**
 * The reason a session's `closing` signal is aborted with: one object for every session, so
 * closing does not build a DOMException (and its stack trace) as abort() without a reason
 * does. tarpit() only checks that the sleep ended with an AbortError.
 */
const SESSION_CLOSED = new DOMException('session closed', 'AbortError');

/** tarpitSession - tarpit(ms), ended early when the session closes. */
function tarpitSession(state: SessionState, ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  if (!state.closing) {
    // Only sessions that get tarpitted pay for an AbortController (and its abort event at close).
    state.closing = new AbortController();
    if (state.closed) state.closing.abort(SESSION_CLOSED);
  }
  return tarpit(ms, state.closing.signal);
}

/** The connection handed over by the listener, found again by its socket. */
const accepted = new WeakMap<Socket, AcceptedConnection>();

/** createConnectorServer - the smtp-server that runs every session of one connector. */
export function createConnectorServer(runtime: ConnectorRuntime): ConnectorServer {
  const { connector, hub, acceptedDomains, spool, users, metrics } = runtime;
  const dataMemory = dataMemoryBudget(spool);
  const mechanisms = new Set(connector.authMechanisms);
  const offersTLS = mechanisms.has('TLS') && runtime.tls !== null;
  const offersAuth = mechanisms.has('BasicAuth');
  const authNeedsTls = mechanisms.has('BasicAuthRequireTLS') || connector.tls.requireTLS;
  const sessions = new WeakMap<SMTPServerSession, SessionState>();
  const labels = { connector: connector.id };
  const sessionOutcomeLabels = {
    accepted: { ...labels, outcome: 'accepted' },
    refused: { ...labels, outcome: 'refused' },
    noMessage: { ...labels, outcome: 'noMessage' },
  } as const;
  // SIZE is advertised with the limit unless some session of this connector may bypass it
  // (Exchange's EnabledWithoutValue): smtp-server then refuses a larger declared SIZE at MAIL.
  const mayBypassSize = connector.permissionGroups.includes('TrustedServers') || connector.permissions.some((p) => p.allow.includes('BypassMessageSizeLimit'));
  const advertisedSize = !mayBypassSize && connector.limits.maxMessageSize > 0 ? connector.limits.maxMessageSize : 0;

  const stateOf = (session: SMTPServerSession): SessionState => {
    const state = sessions.get(session);
    if (!state) throw new Error(`session ${session.id} has no state`);
    return state;
  };
  const policyContext = (session: SMTPServerSession, state: SessionState): PolicyContext => ({
    connector,
    rights: state.rights.rights,
    acceptedDomains,
    secure: session.secure,
    ...(state.user ? { authenticatedUser: state.user.name, userAddresses: state.user.addresses } : {}),
  });
  // The rights of an identity without a user name (every session at connect: Anonymous, or
  // TrustedServers on ExternalAuthoritative) are the same for every session of this connector
  // (this server is rebuilt on reload), so they are resolved once, with their log line.
  // Shared between sessions: nothing may change a SessionRights after resolveSessionRights.
  const rightsByKind = new Map<string, { rights: SessionRights; data: string; context: string }>();
  const setRights = (state: SessionState): void => {
    const identity = sessionIdentityFor(connector, { mutualTlsVerified: state.mutualTls, ...(state.user ? { authenticatedUser: state.user.name } : {}) });
    let resolved = identity.user === undefined ? rightsByKind.get(identity.kind) : undefined;
    if (!resolved) {
      const rights = resolveSessionRights(connector, identity);
      resolved = { rights, data: orderedRights(rights.rights).join(' '), context: `Set Session Permissions (${identity.kind}${identity.user ? ` ${identity.user}` : ''})` };
      if (identity.user === undefined) rightsByKind.set(identity.kind, resolved);
    }
    state.rights = resolved.rights;
    state.log.write('*', resolved.data, resolved.context);
  };
  /** refuse - tarpit, count the protocol error, log the reason, answer (421 closes). */
  const refuse = async (session: SMTPServerSession, refusal: Refusal, verb: string, callback: (err: SmtpError) => void): Promise<void> => {
    const state = stateOf(session);
    state.protocolErrors++;
    metrics.refusals.inc({ ...labels, reason: refusal.reason });
    state.log.write('*', `${verb} refused: ${refusal.code} ${refusal.enhanced} ${refusal.message}`, refusal.reason, true);
    await tarpitSession(state, connector.limits.tarpitIntervalMs);
    if (connector.limits.maxProtocolErrors > 0 && state.protocolErrors > connector.limits.maxProtocolErrors) {
      metrics.refusals.inc({ ...labels, reason: 'maxProtocolErrors' });
      state.log.write('*', 'too many errors, closing', 'maxProtocolErrors', true);
      callback(smtpError(REPLIES.maxProtocolErrors));
      return;
    }
    callback(smtpError(refusal));
  };
  const decide = (session: SMTPServerSession, decision: Decision, verb: string, callback: (err?: SmtpError | null) => void): void => {
    if (decision.ok) {
      callback();
      return;
    }
    void refuse(session, decision, verb, callback);
  };

  const antiSpamInput = (session: SMTPServerSession, mailFrom: string): AntiSpamInput => ({
    clientAddress: session.remoteAddress,
    helo: session.hostNameAppearsAs || '',
    mailFrom,
    hubFqdn: hub.fqdn,
    spf: hub.antiSpam.spf,
    dnsbl: hub.antiSpam.dnsbl,
    timeoutMs: connector.limits.dnsLookupTimeoutMs,
    ...(runtime.dnsCache ? { dnsCache: runtime.dnsCache } : runtime.resolver ? { resolver: runtime.resolver } : {}),
  });
  /** The checks of a transaction whose MAIL FROM was accepted, or null when none will run. */
  const startAntiSpam = (session: SMTPServerSession, state: SessionState, mailFrom: string): Promise<AntiSpamResult> | null =>
    state.rights.rights.has('BypassAntiSpam') || (!hub.antiSpam.spf && hub.antiSpam.dnsbl.length === 0) ? null : startAntiSpamChecks(antiSpamInput(session, mailFrom));

  const server = new SMTPServer({
    name: connector.fqdn,
    disableReverseLookup: true,
    logger: false,
    ...(advertisedSize > 0 ? { size: advertisedSize, hideSize: false } : { hideSize: true }),
    authOptional: true,
    // BasicAuthRequireTLS or requireTLS: smtp-server itself answers AUTH before STARTTLS with
    // 538, before it prompts for a password, so no credentials cross the wire in cleartext;
    // EHLO offers AUTH only after STARTTLS then (smtp-server-patch.ts).
    allowInsecureAuth: !authNeedsTls,
    authMethods: ['PLAIN', 'LOGIN'],
    maxAllowedUnauthenticatedCommands: false,
    // The DSN extension (RFC 3461): NOTIFY/ORCPT per recipient, RET/ENVID per message, kept in
    // the spooled envelope so delivery honours them.
    hideDSN: false,
    // AUTH that needs TLS where no certificate is loaded can never succeed: not offered at all
    disabledCommands: [...(offersTLS ? [] : ['STARTTLS']), ...(offersAuth && (offersTLS || !authNeedsTls) ? [] : ['AUTH'])],
    socketTimeout: connector.limits.connectionInactivityTimeoutMs,
    closeTimeout: 5000,
    ...(runtime.tls ? { key: runtime.tls.key, cert: runtime.tls.cert } : {}),
    ...(mechanisms.has('MutualTLS') && runtime.clientCA ? { requestCert: true, rejectUnauthorized: false, ca: runtime.clientCA } : {}),

    onConnect(session, callback) {
      const socket = socketOfSession(session);
      const handedOver = socket ? accepted.get(socket) : undefined;
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
      sessions.set(session, state);
      setRights(state);
      state.lifetime = setTimeout(() => {
        log.write('*', 'connection timeout', 'connectionTimeout', true);
        closeSession(session, replyText(REPLIES.connectionTimeout));
      }, connector.limits.connectionTimeoutMs);
      state.lifetime.unref();
      callback();
    },

    onSecure(socket, session, callback) {
      const state = stateOf(session);
      const tlsSocket = socket as TLSSocket;
      state.log.write('*', `TLS ${tlsSocket.getProtocol?.() ?? ''} ${tlsSocket.getCipher?.()?.name ?? ''}`, 'STARTTLS');
      if (mechanisms.has('MutualTLS') && tlsSocket.authorized && tlsSocket.getPeerCertificate?.()) {
        state.mutualTls = true;
        setRights(state);
      }
      callback();
    },

    onAuth(auth: SMTPServerAuthentication, session, callback) {
      const state = stateOf(session);
      const name = auth.username ?? '';
      const probe = resolveSessionRights(connector, { kind: 'Authenticated', user: name });
      const allowed = decideAuth({ ...policyContext(session, state), rights: probe.rights });
      if (!allowed.ok) {
        void refuse(session, allowed, 'AUTH', (err) => callback(err));
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
          setRights(state);
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
      const state = stateOf(session);
      state.log.write('<', `MAIL FROM:<${address.address}>`, '');
      const rate = runtime.limiter.checkMessage({ clientAddress: session.remoteAddress, mailFrom: address.address, ...(state.user ? { user: state.user.name } : {}) });
      if (!rate.ok) return decide(session, { ...rate }, 'MAIL', callback);
      const declared = address.args && typeof address.args.SIZE === 'string' ? Number(address.args.SIZE) : undefined;
      const decision = decideMailFrom({ ...policyContext(session, state), mailFrom: address.address, ...(declared !== undefined && Number.isFinite(declared) ? { declaredSize: declared } : {}) });
      // Started here so the DNS lookups overlap RCPT and DATA; awaited in finishData.
      state.antispam = decision.ok ? startAntiSpam(session, state, address.address) : null;
      decide(session, decision, 'MAIL', callback);
    },

    onRcptTo(address: SMTPServerAddress, session, callback) {
      address.address = clientFormOfAddress(address.address, session.envelope.smtpUtf8 === true);
      const state = stateOf(session);
      state.log.write('<', `RCPT TO:<${address.address}>`, '');
      decide(session, decideRcptTo({ ...policyContext(session, state), rcptTo: address.address, recipientCount: session.envelope.rcptTo.length }), 'RCPT', callback);
    },

    onData(stream: SMTPServerDataStream, session, callback) {
      const state = stateOf(session);
      const normalizer = new DataNormalizer({ bareLineFeeds: connector.bareLineFeeds, maxHeaderSize: connector.limits.maxHeaderSize });
      // no size limit still has one: what a queue file can hold (its length field), less room for our headers
      const unlimited = state.rights.rights.has('BypassMessageSizeLimit') || connector.limits.maxMessageSize === 0;
      const limit = unlimited ? MAX_UNLIMITED_MESSAGE_BYTES : connector.limits.maxMessageSize;
      // the body is never held whole: past a small threshold it goes to a spill file in the
      // spool as it arrives, and every byte held in memory counts in the hub's budget (data-sink.ts)
      const sink = new DataSink({ spool, budget: dataMemory, maxMemoryBytes: hub.spool?.maxDataMemoryBytes ?? DEFAULT_MAX_DATA_MEMORY_BYTES });
      let headers: Buffer | null = null;
      let ended = false;
      const take = (out: { headers: Buffer | null; body: Buffer | null }): Promise<void> | null => {
        if (out.headers) headers = out.headers;
        sink.headerBytes(headers ? headers.length : normalizer.headerBytesHeld);
        if (normalizer.bytesIn > limit) {
          sink.drop(); // refused at the final dot (552); what follows is only counted
          return null;
        }
        return out.body ? sink.write(out.body) : null;
      };
      stream.on('data', (chunk: Buffer) => {
        const wait = take(normalizer.push(chunk));
        if (wait === null) return;
        // the spill is slower than the socket: stop reading (smtp-server then stops reading
        // the socket) until the batch is written, so nothing piles up in memory
        stream.pause();
        void wait.then(() => stream.resume());
      });
      // the client went away before the final dot: smtp-server destroys the stream
      stream.once('close', () => {
        if (!ended) void sink.release();
      });
      stream.once('error', () => undefined);
      stream.once('end', () => {
        ended = true;
        void take(normalizer.end()); // finishData waits for the spill writes (sink.finish)
        void finishData(session, state, normalizer, headers ?? Buffer.alloc(0), sink, unlimited)
          .finally(() => sink.release())
          .then(
            (reply) => callback(null, reply),
            (error: SmtpError) => callback(error),
          );
      });
    },

    onClose(session) {
      const state = sessions.get(session);
      if (!state) return;
      clearTimeout(state.lifetime);
      state.closed = true;
      state.closing?.abort(SESSION_CLOSED);
      state.release();
      metrics.sessions.inc(sessionOutcomeLabels[state.messages > 0 ? 'accepted' : state.protocolErrors > 0 ? 'refused' : 'noMessage']);
      state.log.write('-', '', 'Local');
    },
  });

  async function finishData(session: SMTPServerSession, state: SessionState, normalizer: DataNormalizer, rawHeaders: Buffer, sink: DataSink, unlimited: boolean): Promise<string> {
    const context = policyContext(session, state);
    const decision: Decision = unlimited && normalizer.bytesIn > MAX_UNLIMITED_MESSAGE_BYTES
      ? REPLIES.messageTooBigForSpool
      : decideDataEnd({
        ...context,
        bareLineFeedRejected: normalizer.rejected,
        headerSizeExceeded: normalizer.headerSizeExceeded,
        size: normalizer.bytesIn,
        receivedCount: countReceivedHeaders(rawHeaders),
        headers: rawHeaders, // the From/Sender (Send-As) check
      });
    if (!decision.ok) {
      return new Promise((_resolve, reject) => void refuse(session, decision, 'DATA', reject));
    }
    const sunk = await sink.finish();
    const failure = sink.failure;
    if (failure) {
      const full = failure.kind === 'spool' && (failure.error as { code?: string }).code === 'RELAY_ERR_SPOOL_FULL';
      const refusal = failure.kind === 'memory' ? REPLIES.dataMemoryFull : full ? REPLIES.spoolFull : REPLIES.spoolError;
      const reason = refusal.reason;
      metrics.refusals.inc({ ...labels, reason });
      if (failure.kind === 'memory') {
        state.log.write('*', `DATA refused: ${refusal.code} ${refusal.enhanced} hub DATA memory limit reached (${failure.heldBytes} of ${failure.limitBytes} bytes held)`, reason, true);
        throw smtpError(refusal);
      }
      state.log.write('*', `spool ${full ? 'full' : 'error'} while receiving: ${failure.error.message}`, reason, true);
      throw smtpError(refusal);
    }
    const violations = Object.entries(normalizer.violations).filter(([, count]) => count > 0);
    if (violations.length > 0) {
      state.log.write('*', `normalized ${violations.map(([kind, count]) => `${kind} x${count}`).join(', ')} to CRLF (SMTP smuggling defence)`, 'bareLineFeedNormalized', true);
    }
    const filtered = filterHeaders(rawHeaders, state.rights.rights);
    if (filtered.stripped.length > 0) state.log.write('*', `stripped ${filtered.stripped.join(', ')}`, 'headerFirewall');
    if (filtered.leadingWhitespace) state.log.write('*', 'header section starts with whitespace: stored as body, after our own headers (as Postfix)', 'headerFirewall');
    const id = randomUUID();
    const recipients = session.envelope.rcptTo.map((r) => r.address);
    const added: string[] = [
      buildReceivedHeader({
        fromHelo: session.hostNameAppearsAs || '',
        clientAddress: session.remoteAddress,
        byFqdn: connector.fqdn,
        withProtocol: receivedProtocol({ esmtp: session.openingCommand === 'EHLO', secure: session.secure, authenticated: state.user !== undefined }),
        id,
        ...(recipients.length === 1 && recipients[0] ? { forRecipient: recipients[0] } : {}),
        date: new Date(),
      }),
    ];
    if (!state.rights.rights.has('BypassAntiSpam') && !hub.antiSpam.spf && hub.antiSpam.dnsbl.length === 0) {
      // No check configured: what runAntiSpamChecks would conclude, without its promises.
      added.push(`X-Relay-Antispam: checks=none client-ip=${session.remoteAddress}\r\n`);
    } else if (!state.rights.rights.has('BypassAntiSpam')) {
      const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      const result = await (state.antispam ?? runAntiSpamChecks(antiSpamInput(session, mailFrom)));
      state.antispam = null;
      added.push(...result.headers);
      if (result.headers.length === 0) added.push(`X-Relay-Antispam: checks=none client-ip=${session.remoteAddress}\r\n`);
    }
    const parts = [Buffer.from(added.join('')), filtered.headers, ...sunk.memory];
    const size = parts.reduce((n, p) => n + p.length, 0) + (sunk.spill?.bytes ?? 0);
    const started = performance.now();
    try {
      const queued = await spool.commitMessage(
        {
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => ({
            address: r.address,
            ...(r.dsn?.notify && r.dsn.notify.length > 0 ? { notify: r.dsn.notify as DsnNotify[] } : {}),
            ...(r.dsn?.orcpt ? { orcpt: r.dsn.orcpt } : {}),
          })),
          ...(session.envelope.dsn?.ret === 'FULL' || session.envelope.dsn?.ret === 'HDRS' ? { dsnRet: session.envelope.dsn.ret } : {}),
          ...(session.envelope.dsn?.envid ? { dsnEnvid: session.envelope.dsn.envid } : {}),
          receivedAt: new Date().toISOString(),
          connectorId: connector.id,
          sessionId: state.sessionId,
          clientAddress: session.remoteAddress,
          ...(state.user ? { authUser: state.user.name } : {}),
          size,
        },
        parts,
        sunk.spill ? { spill: sunk.spill } : {},
      );
      metrics.fsyncSeconds.observe((performance.now() - started) / 1000);
      state.messages++;
      metrics.messages.inc(labels);
      metrics.bytes.inc(labels, size);
      state.log.write('>', `250 2.6.0 <${id}> Queued mail for delivery`, `queued ${queued} size ${size} recipients ${recipients.length}`);
      return `2.6.0 <${id}> Queued mail for delivery as ${queued}`;
    } catch (error) {
      const code = (error as { code?: string }).code;
      const full = code === 'RELAY_ERR_SPOOL_FULL';
      const refusal = full ? REPLIES.spoolFull : REPLIES.spoolError;
      metrics.refusals.inc({ ...labels, reason: refusal.reason });
      state.log.write('*', `spool ${full ? 'full' : 'error'}: ${(error as Error).message}`, refusal.reason, true);
      throw smtpError(refusal);
    }
  }

  // smtp-server re-emits every connection error (TLS alerts, resets) on the server object;
  // one client's broken connection must never take the hub down.
  server.on('error', (error: Error & { code?: string }) => {
    metrics.refusals.inc({ ...labels, reason: `connectionError:${error.code ?? 'unknown'}` });
  });

  const handOver = (socket: Socket, connection: AcceptedConnection): void => {
    const refusedByLibrary = (reply: string, reason: string): void => {
      metrics.refusals.inc({ ...labels, reason });
      connection.log.write('*', reply, reason, true);
    };
    setGreeting(socket, {
      greetDelayMs: connector.limits.greetDelayMs,
      banner: connector.banner,
      onEarlyTalker: () => refusedByLibrary('421 client talked before the greeting', 'earlyTalker'),
      onIdleTimeout: () => refusedByLibrary('421 idle longer than connectionInactivityTimeout, closing', 'connectionInactivityTimeout'),
      onLibraryRefusal: refusedByLibrary,
      checkHelo: (hostname) => {
        const decision = decideHelo({ connector, helo: hostname });
        return decision.ok ? null : { code: decision.code, text: `${decision.enhanced} ${decision.message}`, reason: decision.reason };
      },
    });
    accepted.set(socket, connection);
    // id: smtp-server's session.id is our session id (it would otherwise draw 10 random bytes
    // per connection for an id nothing here uses).
    server.connect(socket, { id: connection.sessionId, remoteAddress: connection.clientAddress, remotePort: connection.clientPort, localAddress: connection.localAddress, localPort: connection.localPort });
  };

  return { runtime, handOver };
}


/*
 * relay/session/connector-context - what every session handler of one connector shares.
 *
 * Job: the connector's runtime (config, spool, users, limits, metrics), the state of each of
 * its sessions, and the steps every handler takes the same way: the policy context of a
 * session, its rights (resolved once per identity kind), a refusal (tarpit, count, log,
 * answer; 421 past maxProtocolErrors) and the anti-spam checks of a transaction. Built once per
 * connector server, so rebuilt on reload with the new config.
 * Trust: the runtime is trusted config; sessions are client-driven.
 */
import type { SMTPServerSession } from 'smtp-server';
import type { AcceptedDomainConfig, ConnectorConfig, HubSettings } from '../config/schema.ts';
import type { Spool } from '../spool/spool.ts';
import type { LogSink, SessionLog } from '../log/protocol-log.ts';
import type { HubMetrics } from '../log/hub-metrics.ts';
import { startAntiSpamChecks, type AntiSpamInput, type AntiSpamResult, type DnsResolver } from './antispam.ts';
import type { DnsCache } from './dns-cache.ts';
import { dataMemoryBudget, type DataMemoryBudget } from './data-sink.ts';
import type { Decision, PolicyContext } from './policy.ts';
import type { ConnectorRateLimiter, LogonLockout } from './rate-limits.ts';
import { REPLIES, type Refusal } from './replies.ts';
import { orderedRights, resolveSessionRights, sessionIdentityFor, type SessionRights } from './rights.ts';
import { smtpError, tarpitSession, type SessionState, type SmtpError } from './session-state.ts';
import type { UserDirectory } from './users.ts';

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

export class ConnectorContext {
  readonly runtime: ConnectorRuntime;
  readonly connector: ConnectorConfig;
  /** Metric labels of this connector. */
  readonly labels: { connector: string };
  /** The hub's budget for DATA held in memory (data-sink.ts). */
  readonly dataMemory: DataMemoryBudget;
  readonly #sessions = new WeakMap<SMTPServerSession, SessionState>();
  // The rights of an identity without a user name (every session at connect: Anonymous, or
  // TrustedServers on ExternalAuthoritative) are the same for every session of this connector
  // (this context is rebuilt on reload), so they are resolved once, with their log line.
  // Shared between sessions: nothing may change a SessionRights after resolveSessionRights.
  readonly #rightsByKind = new Map<string, { rights: SessionRights; data: string; context: string }>();

  constructor(runtime: ConnectorRuntime) {
    this.runtime = runtime;
    this.connector = runtime.connector;
    this.labels = { connector: runtime.connector.id };
    this.dataMemory = dataMemoryBudget(runtime.spool);
  }

  /** addSession - the state of a session that just connected. */
  addSession(session: SMTPServerSession, state: SessionState): void {
    this.#sessions.set(session, state);
  }

  /** sessionState - the state of a session, or undefined when it never connected (onClose). */
  sessionState(session: SMTPServerSession): SessionState | undefined {
    return this.#sessions.get(session);
  }

  stateOf(session: SMTPServerSession): SessionState {
    const state = this.#sessions.get(session);
    if (!state) throw new Error(`session ${session.id} has no state`);
    return state;
  }

  policyContext(session: SMTPServerSession, state: SessionState): PolicyContext {
    return {
      connector: this.connector,
      rights: state.rights.rights,
      acceptedDomains: this.runtime.acceptedDomains,
      secure: session.secure,
      ...(state.user ? { authenticatedUser: state.user.name, userAddresses: state.user.addresses } : {}),
    };
  }

  /** setRights - the session's rights for who it is now (connect, mutual TLS, AUTH), logged. */
  setRights(state: SessionState): void {
    const connector = this.connector;
    const identity = sessionIdentityFor(connector, { mutualTlsVerified: state.mutualTls, ...(state.user ? { authenticatedUser: state.user.name } : {}) });
    let resolved = identity.user === undefined ? this.#rightsByKind.get(identity.kind) : undefined;
    if (!resolved) {
      const rights = resolveSessionRights(connector, identity);
      resolved = { rights, data: orderedRights(rights.rights).join(' '), context: `Set Session Permissions (${identity.kind}${identity.user ? ` ${identity.user}` : ''})` };
      if (identity.user === undefined) this.#rightsByKind.set(identity.kind, resolved);
    }
    state.rights = resolved.rights;
    state.log.write('*', resolved.data, resolved.context);
  }

  /** refuse - tarpit, count the protocol error, log the reason, answer (421 closes). */
  async refuse(session: SMTPServerSession, refusal: Refusal, verb: string, callback: (err: SmtpError) => void): Promise<void> {
    const { connector, labels } = this;
    const metrics = this.runtime.metrics;
    const state = this.stateOf(session);
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
  }

  /** decide - go on when the decision allows, else refuse. */
  decide(session: SMTPServerSession, decision: Decision, verb: string, callback: (err?: SmtpError | null) => void): void {
    if (decision.ok) {
      callback();
      return;
    }
    void this.refuse(session, decision, verb, callback);
  }

  antiSpamInput(session: SMTPServerSession, mailFrom: string): AntiSpamInput {
    const { hub, dnsCache, resolver } = this.runtime;
    return {
      clientAddress: session.remoteAddress,
      helo: session.hostNameAppearsAs || '',
      mailFrom,
      hubFqdn: hub.fqdn,
      spf: hub.antiSpam.spf,
      dnsbl: hub.antiSpam.dnsbl,
      timeoutMs: this.connector.limits.dnsLookupTimeoutMs,
      ...(dnsCache ? { dnsCache } : resolver ? { resolver } : {}),
    };
  }

  /** The checks of a transaction whose MAIL FROM was accepted, or null when none will run. */
  startAntiSpam(session: SMTPServerSession, state: SessionState, mailFrom: string): Promise<AntiSpamResult> | null {
    const hub = this.runtime.hub;
    return state.rights.rights.has('BypassAntiSpam') || (!hub.antiSpam.spf && hub.antiSpam.dnsbl.length === 0) ? null : startAntiSpamChecks(this.antiSpamInput(session, mailFrom));
  }
}

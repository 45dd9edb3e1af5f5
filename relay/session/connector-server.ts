/*
 * relay/session/connector-server - one smtp-server instance per connector, enforcing it.
 *
 * The listener picks the connector for a connection and hands the socket to this server with
 * one call, handOver (it never listens itself). The server's options follow from the connector
 * (SIZE, STARTTLS, AUTH, mutual TLS, timeouts); each verb is a handler of session-handlers.ts
 * asking the pure policy modules (rights, policy, rate limits, header firewall, data
 * normalizer) and logging refusals with their reason; DATA is accept-message.ts: canonicalised
 * to CRLF, the Received and X-Relay-Antispam headers added, and only after the spool has the
 * message on disk with fsync does the client get 250.
 * Trust: everything from the client is hostile; the config is trusted.
 */
import type { Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { ConnectorContext, type AcceptedConnection, type ConnectorRuntime } from './connector-context.ts';
import { decideHelo } from './policy.ts';
import { replyText } from './replies.ts';
import { sessionHandlers } from './session-handlers.ts';
import { setGreeting } from './smtp-server-patch.ts';

/** The server of one connector, as the listener uses it. */
export interface ConnectorServer {
  readonly runtime: ConnectorRuntime;
  /** handOver - the session takes this accepted socket from here on: greeting, every verb, the end. */
  handOver(socket: Socket, connection: AcceptedConnection): void;
}

/** createConnectorServer - the smtp-server that runs every session of one connector. */
export function createConnectorServer(runtime: ConnectorRuntime): ConnectorServer {
  const context = new ConnectorContext(runtime);
  const { connector, labels } = context;
  const metrics = runtime.metrics;
  const mechanisms = new Set(connector.authMechanisms);
  const offersTLS = mechanisms.has('TLS') && runtime.tls !== null;
  const offersAuth = mechanisms.has('BasicAuth');
  const authNeedsTls = mechanisms.has('BasicAuthRequireTLS') || connector.tls.requireTLS;
  // SIZE is advertised with the limit unless some session of this connector may bypass it
  // (Exchange's EnabledWithoutValue): smtp-server then refuses a larger declared SIZE at MAIL.
  const mayBypassSize = connector.permissionGroups.includes('TrustedServers') || connector.permissions.some((p) => p.allow.includes('BypassMessageSizeLimit'));
  const advertisedSize = !mayBypassSize && connector.limits.maxMessageSize > 0 ? connector.limits.maxMessageSize : 0;
  /** The connection handed over by the listener, found again by its socket at onConnect. */
  const accepted = new WeakMap<Socket, AcceptedConnection>();

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
    ...sessionHandlers(context, accepted),
  });

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
        return decision.ok ? null : { code: decision.code, text: replyText(decision), reason: decision.reason };
      },
    });
    accepted.set(socket, connection);
    // id: smtp-server's session.id is our session id (it would otherwise draw 10 random bytes
    // per connection for an id nothing here uses).
    server.connect(socket, { id: connection.sessionId, remoteAddress: connection.clientAddress, remotePort: connection.clientPort, localAddress: connection.localAddress, localPort: connection.localPort });
  };

  return { runtime, handOver };
}

/*
 * relay/listener/listener - one TCP listener per (address, port) of the hub.
 *
 * Accepts connections itself (no-delay on), reads a PROXY v1/v2 header only from trusted
 * proxies, picks the connector whose remoteIPRanges entry containing the client is the
 * smallest, applies the connector's connection limits, and hands the socket to that
 * connector's server with one call (ConnectorServer.handOver in relay/session). The route (index + connector servers) is swapped whole on reload:
 * a connection keeps the route it was accepted under until it ends.
 * A wildcard listener may carry dedicated listeners of its port (shared-port.ts): a connection
 * is then served by the one of the local address it reached.
 * Refusals here: 554 5.7.1 (no connector for the client), 421 4.7.0 (connection limits),
 * 421 4.3.2 (shutting down), PROXY header from an untrusted peer or malformed (closed).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { ListenerConfig } from '../config/schema.ts';
import { SessionLog, appLog, type LogSink } from '../log/protocol-log.ts';
import type { HubMetrics } from '../log/hub-metrics.ts';
import type { ConnectorServer } from '../session/connector-server.ts';
import { noConnectorReply, REPLIES, refusalLine } from '../session/replies.ts';
import { selectConnector, type ListenerRangeIndex } from './range-index-lookup.ts';
import { readProxyHeader } from './proxy-protocol.ts';
import { tenantFor, type PlannedListener } from './shared-port.ts';

export interface ListenerRoute {
  index: ListenerRangeIndex;
  connectors: Map<string, ConnectorServer>;
  isTrustedProxy: (address: string) => boolean;
  hubFqdn: string;
  /**
   * Dedicated listeners riding on this (wildcard) socket, by local address (shared-port.ts):
   * a connection that reached one of these addresses is served by that listener's route.
   */
  tenants?: ReadonlyMap<string, PlannedListener>;
}

const unmapped = (address: string): string => (address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address);
const endpoint = (address: string, port: number): string => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);

/** How long a refused client may take to read the refusal and close before it is closed. */
const REFUSED_LINGER_MS = 2_000;

let sessionCounter = 0;
const sessionPrefix = randomBytes(3).toString('hex');
function newSessionId(): string {
  sessionCounter = (sessionCounter + 1) % 0x100000000;
  return `${sessionPrefix}${Date.now().toString(36)}${sessionCounter.toString(36)}`;
}

export class Listener {
  readonly config: ListenerConfig;
  #route: ListenerRoute;
  #server: Server | null = null;
  /** `address:port` of a listener bound to one address (every connection's local endpoint); null when bound to a wildcard. */
  #localEndpoint: string | null = null;
  #sockets = new Set<Socket>();
  /** Connections refused before a session, until they close (not waited for at shutdown). */
  #refused = new Set<Socket>();
  #draining = false;
  readonly #metrics: HubMetrics;
  readonly #logSink: LogSink | undefined;

  constructor(config: ListenerConfig, route: ListenerRoute, metrics: HubMetrics, logSink?: LogSink) {
    this.config = config;
    this.#route = route;
    this.#metrics = metrics;
    this.#logSink = logSink;
  }

  get activeConnections(): number {
    return this.#sockets.size;
  }

  /** setRoute - connections accepted from now on use this route; open ones keep theirs. */
  setRoute(route: ListenerRoute): void {
    this.#route = route;
  }

  async start(): Promise<void> {
    const server = createServer({ noDelay: true, pauseOnConnect: false }, (socket) => void this.#accept(socket));
    const listen = (host: string): Promise<void> => new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: this.config.port, backlog: 1024 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    try {
      await listen(this.config.bindAddress);
    } catch (error) {
      // A pod (or host) with IPv6 turned off cannot open '::': serve IPv4 there.
      if (this.config.bindAddress !== '::' || (error as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw error;
      appLog('warn', `listener ${this.config.endpoint}: no IPv6 here, listening on 0.0.0.0:${this.config.port}`, {}, this.#logSink);
      await listen('0.0.0.0');
    }
    server.on('error', (error) => appLog('error', `listener ${this.config.endpoint}: ${error.message}`, {}, this.#logSink));
    const bound = server.address();
    this.#localEndpoint = bound !== null && typeof bound === 'object' && bound.address !== '0.0.0.0' && bound.address !== '::' ? endpoint(unmapped(bound.address), bound.port) : null;
    this.#server = server;
  }

  /**
   * unbind - give the port back now while sessions in flight go on (a later close() ends
   * them): a reload that moves a port to another address of the same host cannot bind the new
   * one while this one holds it. start() binds again (a reload whose new listener still failed
   * puts the old one back).
   */
  async unbind(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    // close()'s callback waits for every connection to end; the listening socket itself is
    // released at once, which is all a new bind needs (one turn of the loop for the handle).
    server?.close();
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** drain - stop accepting: new connections get 421 4.3.2 until close(). */
  drain(): void {
    this.#draining = true;
  }

  /**
   * close - the end of a drain: while sessions are in flight (up to graceMs) the socket stays
   * open and every new connection hears 421 4.3.2, which a client treats as "try another host
   * now", where a closed port would look like a dead host; then stop listening and end what is
   * left.
   */
  async close(graceMs = 0): Promise<void> {
    this.#draining = true;
    const deadline = Date.now() + graceMs;
    while (this.#sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const server = this.#server;
    this.#server = null;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const socket of [...this.#sockets, ...this.#refused]) socket.destroy();
    await closed;
  }

  async #accept(socket: Socket): Promise<void> {
    this.#sockets.add(socket);
    // smtp-server removes every listener of the raw socket at STARTTLS, so the session's end
    // is also reported through the connection's release (onClose) below.
    const forget = (): void => void this.#sockets.delete(socket);
    let onSocketClose: () => void = forget;
    socket.once('close', () => onSocketClose());
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    const tenant = tenantFor(this.#route, socket.localAddress);
    const route = tenant?.route ?? this.#route;
    const config = tenant?.config ?? this.config;
    let clientAddress = unmapped(socket.remoteAddress ?? '');
    let clientPort = socket.remotePort ?? 0;
    // A getsockname per connection only when the listener is bound to a wildcard address.
    const local = this.#localEndpoint ?? endpoint(unmapped(socket.localAddress ?? ''), socket.localPort ?? 0);
    const refuse = (connectorId: string, reply: string, reason: string): void => {
      this.#metrics.refusals.inc({ connector: connectorId, reason });
      new SessionLog({ 'connector-id': connectorId, 'session-id': newSessionId(), 'local-endpoint': local, 'remote-endpoint': endpoint(clientAddress, clientPort) }, false, this.#logSink)
        .write('*', reply, reason, true);
      // A client refused here often answers the 554/421 with QUIT and waits for a reply that
      // never comes; read and drop what it sends (so the close is a FIN, not an RST that could
      // swallow our reply) and close after REFUSED_LINGER_MS whatever it does. Left to the
      // client, such a socket stayed open for ever: a file descriptor lost per refusal, and a
      // shutdown that waited its whole grace period for it (issue 12 item 6).
      this.#sockets.delete(socket);
      this.#refused.add(socket);
      onSocketClose = () => void this.#refused.delete(socket);
      socket.resume();
      const linger = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
      linger.unref();
      socket.once('close', () => clearTimeout(linger));
      socket.end(`${reply}\r\n`);
    };
    if (this.#draining) return refuse('-', refusalLine(REPLIES.shuttingDown), REPLIES.shuttingDown.reason);

    if (route.isTrustedProxy(clientAddress)) {
      const header = await readProxyHeader(socket);
      if (!header.ok) {
        this.#metrics.refusals.inc({ connector: '-', reason: `proxy:${header.reason}` });
        socket.destroy();
        return;
      }
      if (header.rest.length > 0) socket.unshift(header.rest);
      if (header.command === 'PROXY' && header.source) {
        clientAddress = unmapped(header.source.address);
        clientPort = header.source.port;
      }
    }

    const selection = selectConnector(route.index, clientAddress);
    if (!selection.ok) {
      this.#metrics.connections.inc({ connector: 'none', listener: config.endpoint });
      return refuse('-', noConnectorReply(route.hubFqdn, config.endpoint, clientAddress), selection.reason);
    }
    const target = route.connectors.get(selection.connectorId);
    if (!target) return refuse(selection.connectorId, refusalLine(REPLIES.connectorNotLoaded), REPLIES.connectorNotLoaded.reason);
    const { runtime } = target;
    this.#metrics.connections.inc({ connector: runtime.connector.id, listener: config.endpoint });
    const lease = runtime.limiter.openConnection(clientAddress);
    if (!lease.ok) return refuse(runtime.connector.id, refusalLine(lease), lease.reason);

    const sessionId = newSessionId();
    const log = new SessionLog(
      { 'connector-id': runtime.connector.id, 'session-id': sessionId, 'local-endpoint': local, 'remote-endpoint': endpoint(clientAddress, clientPort) },
      runtime.connector.protocolLogging === 'Verbose',
      this.#logSink,
    );
    log.write('+', '', `matched ${selection.entry}`);
    // The lease is released once, when the session ends (onClose) or, for a connection that
    // never became a session (early talker, hang-up during the greet delay), when it closes.
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      lease.release();
      forget();
    };
    onSocketClose = release;
    target.handOver(socket, { log, sessionId, release, clientAddress, clientPort, localAddress: config.bindAddress, localPort: config.port });
  }
}

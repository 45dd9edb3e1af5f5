/*
 * relay/listener/smtp-server-patch - two behaviours smtp-server hard-codes, made per connector.
 *
 * smtp-server (3.21) waits a fixed 100 ms before the 220 greeting (its early-talker check) and
 * builds the greeting as "220 NAME ESMTP BANNER". Exchange makes the pause a per-connector
 * setting (greetDelay, default 0 here) and sends the connector's banner as written. Rather
 * than fork the library, this module replaces SMTPConnection.prototype.init and _sendGreeting
 * once, at import, with versions that read the connector of the connection from a WeakMap
 * filled by the listener before it hands the socket over. Connections without an entry keep
 * the library's behaviour. The upstream-style change (an `earlyTalkerDelay` option and a
 * full-line `greeting` option) is described in docs/smtp-server-patch.md; the test
 * relay/listener/smtp-server-patch.test.ts fails if the library's internals move.
 */
import type { Socket } from 'node:net';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

export interface GreetingSettings {
  greetDelayMs: number;
  /** The whole greeting line, starting "220 ". */
  banner: string;
}

const greetings = new WeakMap<Socket, GreetingSettings>();
const connectionsBySession = new WeakMap<object, PatchedConnection>();

/** socketOfSession - the socket the session started on (before any STARTTLS). */
export function socketOfSession(session: object): Socket | undefined {
  return connectionsBySession.get(session)?._socket;
}

/** closeSession - answer 421 with this text and close (a session past its connectionTimeout). */
export function closeSession(session: object, message: string): void {
  connectionsBySession.get(session)?.send(421, message);
}

/** setGreeting - the greeting settings of the connection that will be made on this socket. */
export function setGreeting(socket: Socket, settings: GreetingSettings): void {
  greetings.set(socket, settings);
}

interface PatchedConnection {
  _socket: Socket;
  session: object;
  _server: { options: { maxClients?: number }; connections: Set<unknown> };
  _closing: boolean;
  _closed: boolean;
  name: string;
  _setListeners(callback: () => void): void;
  connectionReady(): void;
  send(code: number, message: string, addToCount?: boolean): void;
}

interface ConnectionPrototype {
  init: (this: PatchedConnection) => void;
  _sendGreeting: (this: PatchedConnection) => void;
  _relayPatched?: boolean;
}

const prototype = (SMTPConnection as unknown as { prototype: ConnectionPrototype }).prototype;

if (typeof prototype.init !== 'function' || typeof prototype._sendGreeting !== 'function') {
  throw new Error('smtp-server internals changed: SMTPConnection.init/_sendGreeting not found; update relay/listener/smtp-server-patch.ts');
}

if (!prototype._relayPatched) {
  const originalInit = prototype.init;
  const originalGreeting = prototype._sendGreeting;
  prototype.init = function init(this: PatchedConnection): void {
    connectionsBySession.set(this.session, this);
    const settings = greetings.get(this._socket);
    if (!settings) return originalInit.call(this);
    this._setListeners(() => {
      if (this._server.options.maxClients && this._server.connections.size > this._server.options.maxClients) {
        return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
      }
      if (settings.greetDelayMs <= 0) return this.connectionReady();
      setTimeout(() => this.connectionReady(), settings.greetDelayMs).unref();
    });
  };
  prototype._sendGreeting = function sendGreeting(this: PatchedConnection): void {
    const settings = greetings.get(this._socket);
    if (!settings) return originalGreeting.call(this);
    this.send(220, settings.banner.replace(/^220[ -]?/, ''), false);
  };
  prototype._relayPatched = true;
}

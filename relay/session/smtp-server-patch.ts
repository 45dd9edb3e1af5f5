/*
 * relay/session/smtp-server-patch - two behaviours smtp-server hard-codes, made per connector.
 *
 * smtp-server (3.21) waits a fixed 100 ms before the 220 greeting (its early-talker check) and
 * builds the greeting as "220 NAME ESMTP BANNER". Exchange makes the pause a per-connector
 * setting (greetDelay, default 0 here) and sends the connector's banner as written. Rather
 * than fork the library, installSmtpServerPatch (called once by the hub at start) replaces
 * SMTPConnection.prototype.init and _sendGreeting with versions that read the connector of the
 * connection from a WeakMap filled by the connector server when the listener hands the socket
 * over (ConnectorServer.handOver). Connections without an entry keep the library's behaviour. The
 * upstream-style change (an `earlyTalkerDelay` option and a full-line `greeting` option) is
 * described in docs/smtp-server-patch.md; the test relay/session/smtp-server-patch.test.ts
 * fails if the library's internals move.
 * Also: SMTPStream.continue() clears its pending callback only after running it, and running
 * it can set the next one (the next message ended inside the pipelined bytes): a client that
 * pipelines a second message behind a first got its 250 and then no reply to anything; it now
 * clears first. And: EHLO does not offer AUTH where the library would answer it with 538 (before STARTTLS
 * with allowInsecureAuth false; every connection), and that 538 carries the contract's
 * 5.7.11 text and is logged (marked connections).
 */
import type { Socket } from 'node:net';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { REPLIES, replyText } from './replies.ts';

export interface GreetingSettings {
  greetDelayMs: number;
  /** The whole greeting line, starting "220 ". */
  banner: string;
  /** A client talked before the greeting (smtp-server answers 421 itself). */
  onEarlyTalker?: () => void;
  /** The inactivity timeout closed the session (smtp-server answers 421 itself). */
  onIdleTimeout?: () => void;
  /** smtp-server refused on its own (declared SIZE over the advertised limit). */
  onLibraryRefusal?: (reply: string, reason: string) => void;
  /** The connector's check of the EHLO/HELO argument (requireEHLODomain): a refusal or null. */
  checkHelo?: (hostname: string) => { code: number; text: string; reason: string } | null;
}

const greetings = new WeakMap<Socket, GreetingSettings>();
const settingsByConnection = new WeakMap<object, GreetingSettings>();
const connectionsBySession = new WeakMap<object, PatchedConnection>();

/** socketOfSession - the socket the session started on (before any STARTTLS). */
export function socketOfSession(session: object): Socket | undefined {
  return connectionsBySession.get(session)?._socket;
}

/** closeSession - answer 421 with this text and close (a session past its connectionTimeout). */
export function closeSession(session: object, message: string): void {
  connectionsBySession.get(session)?.send(421, message);
}

/** setGreeting - the settings of the connection that will be made on this socket. */
export function setGreeting(socket: Socket, settings: GreetingSettings): void {
  greetings.set(socket, settings);
}

/**
 * The protocol-log reason of a refusal smtp-server sends itself ("Error: Bad recipient address
 * syntax" -> badRecipientAddressSyntax): its fixed wording, camel-cased. The texts that name a
 * client's parameter are one reason, so the set of reasons (a metric label) stays fixed.
 */
export function libraryRefusalReason(message: string): string {
  if (/ parameter/.test(message)) return 'badCommandParameter';
  const words = message.slice('Error: '.length).split(':', 1)[0]?.match(/[A-Za-z]+/g) ?? [];
  const reason = words.slice(0, 6).map((w, i) => (i === 0 ? w.toLowerCase() : w[0]?.toUpperCase() + w.slice(1).toLowerCase())).join('');
  return reason.length > 0 ? reason : 'libraryRefusal';
}

interface PatchedConnection {
  _socket: Socket;
  session: object;
  _server: { options: { maxClients?: number; allowInsecureAuth?: boolean; hideSTARTTLS?: boolean }; connections: Set<unknown> };
  _closing: boolean;
  _closed: boolean;
  _ready: boolean;
  name: string;
  secure: boolean;
  _setListeners(callback: () => void): void;
  _isSupported(command: string): boolean;
  /** Set while handler_EHLO runs when its reply must not offer AUTH (below). */
  _relayHideAuth?: boolean;
  /** The verb of the command being answered, for the protocol log of library refusals. */
  _relayCommand?: string;
  connectionReady(): void;
  send(code: number, message: string | string[], context?: string | boolean): void;
}

type CommandHandler = (this: PatchedConnection, command: Buffer | string, callback: () => void) => void;

interface ConnectionPrototype {
  init: (this: PatchedConnection) => void;
  handler_EHLO: CommandHandler;
  handler_HELO: CommandHandler;
  _sendGreeting: (this: PatchedConnection) => void;
  _onTimeout: (this: PatchedConnection) => void;
  send: (this: PatchedConnection, code: number, message: string | string[], context?: string | boolean) => void;
  _isSupported: (this: PatchedConnection, command: string) => boolean;
  _onCommand: CommandHandler;
  _relayPatched?: boolean;
}

/**
 * installSmtpServerPatch - replace the methods once per process (the hub calls it at start; a
 * second call does nothing). Throws when smtp-server's internals moved.
 */
export function installSmtpServerPatch(): void {
  const prototype = (SMTPConnection as unknown as { prototype: ConnectionPrototype }).prototype;
  if (prototype._relayPatched) return;
  for (const method of ['init', '_sendGreeting', '_onTimeout', 'send', 'handler_EHLO', 'handler_HELO', '_isSupported', '_onCommand'] as const) {
    if (typeof prototype[method] !== 'function') {
      throw new Error(`smtp-server internals changed: SMTPConnection.${method} not found; update relay/session/smtp-server-patch.ts`);
    }
  }
  const originalInit = prototype.init;
  const originalGreeting = prototype._sendGreeting;
  const originalTimeout = prototype._onTimeout;
  const originalSend = prototype.send;
  const originalOnCommand = prototype._onCommand;
  prototype.init = function init(this: PatchedConnection): void {
    connectionsBySession.set(this.session, this);
    const settings = greetings.get(this._socket);
    if (!settings) return originalInit.call(this);
    settingsByConnection.set(this, settings);
    this._setListeners(() => {
      if (this._server.options.maxClients && this._server.connections.size > this._server.options.maxClients) {
        return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
      }
      if (settings.greetDelayMs <= 0) return this.connectionReady();
      const early = (): void => {
        if (!this._ready) settings.onEarlyTalker?.();
      };
      this._socket.once('data', early);
      setTimeout(() => {
        this._socket.off('data', early);
        this.connectionReady();
      }, settings.greetDelayMs).unref();
    });
  };
  prototype._sendGreeting = function sendGreeting(this: PatchedConnection): void {
    const settings = settingsByConnection.get(this);
    if (!settings) return originalGreeting.call(this);
    this.send(220, settings.banner.replace(/^220[ -]?/, ''), false);
  };
  prototype._onTimeout = function onTimeout(this: PatchedConnection): void {
    if (!this._closing) settingsByConnection.get(this)?.onIdleTimeout?.();
    originalTimeout.call(this);
  };
  prototype.send = function send(this: PatchedConnection, code: number, message: string | string[], context?: string | boolean): void {
    const settings = settingsByConnection.get(this);
    if (this._relayHideAuth && code === 250 && Array.isArray(message)) {
      message = message.filter((line) => !/^AUTH /i.test(line));
    }
    if (settings && code === 538) {
      // handler_AUTH before STARTTLS where insecure AUTH is off: the contract's reply, logged
      const text = replyText(REPLIES.authRequiresTls);
      settings.onLibraryRefusal?.(`AUTH refused: 538 ${text}`, REPLIES.authRequiresTls.reason);
      return originalSend.call(this, code, text, context);
    }
    if (settings && code === 552 && context === 'MESSAGE_TOO_BIG') {
      const text = replyText(REPLIES.messageTooLarge);
      settings.onLibraryRefusal?.(`MAIL refused: 552 ${text}`, REPLIES.messageTooLarge.reason);
      return originalSend.call(this, code, text, false);
    }
    if (settings && code >= 400 && typeof message === 'string' && message.startsWith('Error: ')) {
      // the library's own refusals (syntax, sequence, unknown commands) never reach our handlers:
      // log them too, so every refusal a client gets is in the protocol log with a reason
      settings.onLibraryRefusal?.(`${this._relayCommand ?? 'command'} refused: ${code} ${message}`, libraryRefusalReason(message));
    }
    originalSend.call(this, code, message, context);
  };
  prototype._onCommand = function onCommand(this: PatchedConnection, command: Buffer | string, callback: () => void): void {
    this._relayCommand = (command || '').toString().split(' ', 1)[0]?.toUpperCase().slice(0, 16);
    originalOnCommand.call(this, command, callback);
  };
  // requireEHLODomain answers at EHLO/HELO itself, as Exchange does, not at the next MAIL
  for (const verb of ['handler_EHLO', 'handler_HELO'] as const) {
    const original = prototype[verb];
    prototype[verb] = function heloHandler(this: PatchedConnection, command: Buffer | string, callback: () => void): void {
      const settings = settingsByConnection.get(this);
      const parts = command.toString().trim().split(/\s+/);
      const refusal = settings?.checkHelo && parts.length === 2 ? settings.checkHelo(parts[1] ?? '') : null;
      if (!refusal) {
        // smtp-server offers AUTH in EHLO even where its handler_AUTH then answers 538 (no TLS
        // yet, allowInsecureAuth false): clients took the offer and sent the password in
        // cleartext before the 538. Offer AUTH only where that same test lets it through.
        this._relayHideAuth = !this.secure && !this._server.options.allowInsecureAuth && this._isSupported('STARTTLS') && !this._server.options.hideSTARTTLS;
        try {
          return original.call(this, command, callback);
        } finally {
          this._relayHideAuth = false;
        }
      }
      settings?.onLibraryRefusal?.(`${verb.slice(-4)} refused: ${refusal.code} ${refusal.text}`, refusal.reason);
      this.send(refusal.code, refusal.text, false);
      callback();
    };
  }
  prototype._relayPatched = true;
  patchStreamContinue();
}

interface StreamPrototype {
  continue: (this: { _continueCallback: (() => void) | boolean }) => void;
  _relayPatched?: boolean;
}

function patchStreamContinue(): void {
  const streamPrototype = (SMTPStream as unknown as { prototype: StreamPrototype }).prototype;
  if (typeof streamPrototype.continue !== 'function') {
    throw new Error('smtp-server internals changed: SMTPStream.continue not found; update relay/session/smtp-server-patch.ts');
  }
  if (streamPrototype._relayPatched) return;
  // smtp-server 3.21.6 lib/smtp-stream.js continue(), with the callback cleared before it runs
  streamPrototype.continue = function continueAfterData(this: { _continueCallback: (() => void) | boolean }): void {
    const pending = this._continueCallback;
    if (typeof pending === 'function') {
      this._continueCallback = false;
      pending();
    } else {
      // continue() before the stream ended: run the callback once _endDataMode sets it
      this._continueCallback = true;
    }
  };
  streamPrototype._relayPatched = true;
}

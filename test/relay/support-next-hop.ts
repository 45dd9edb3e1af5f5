/*
 * test/relay/support-next-hop - a hub relaying to one smart host, for the failure suites
 * (outage-minutes, spool-disk-full) and the tests that had the same manifests inline.
 *
 * - smartHostManifests(): the YAML of one namespace: a RelayHub (retry schedule given), the
 *   anonymous relay connector of test/support/hub-process.ts, and a SendConnector sending
 *   everything to one smart host without TLS.
 * - startSwitchableSink(): a real SMTP server (smtp-server) on a fixed address and port that
 *   counts each message by the token in its body, and can go down (listener closed, open
 *   sessions cut: the port refuses, as a stopped server does) and come back on the same port.
 * - tokenMail()/tokenOf(): a message that carries a token, and the token read back.
 * Trust: test-only; nothing in the relay imports this file.
 */
import type { Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { anonymousRelayConnector } from '../support/hub-process.ts';

export interface SmartHostManifestOptions {
  namespace: string;
  hub: string;
  /** The connector's binding, `IP:port`. */
  binding: string;
  /** The smart host, `IP:port`. */
  smartHost: string;
  retry: { minBackoff: string; maxBackoff: string; maxAge: string };
  /** More RelayHub spec.queue fields (minFreeSpace, ...). */
  queue?: Record<string, string>;
}

/** smartHostManifests - hub, anonymous relay connector, one smart-host SendConnector. */
export function smartHostManifests(o: SmartHostManifestOptions): string {
  const queue = Object.entries(o.queue ?? {}).map(([k, v]) => `, ${k}: ${v}`).join('');
  return `apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: ${o.hub}, namespace: ${o.namespace}}
spec:
  fqdn: ${o.hub}.relay.test
  antiSpam: {spf: false}
  queue: {retry: {minBackoff: ${o.retry.minBackoff}, maxBackoff: ${o.retry.maxBackoff}, maxAge: ${o.retry.maxAge}}${queue}}
---
${anonymousRelayConnector({ namespace: o.namespace, hub: o.hub, binding: o.binding })}---
apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata: {name: smart-host, namespace: ${o.namespace}}
spec:
  addressSpaces: [{domain: "*", cost: 1}]
  smartHosts: ["${o.smartHost}"]
  tls: {mode: None}
`;
}

/** tokenMail - a message whose body carries `token` (and `filler` bytes of body text). */
export function tokenMail(token: string, filler = 0): { from: string; to: string; subject: string; text: string } {
  return { from: 'app@apps.test', to: 'rcpt@remote.test', subject: `token ${token}`, text: `next-hop-token-${token}\n${'x'.repeat(filler)}\n` };
}

/** tokenOf - the token of a tokenMail, read from any bytes holding it. */
export function tokenOf(data: Buffer | string): string | undefined {
  return /next-hop-token-([\w-]+)/.exec(typeof data === 'string' ? data : data.toString('latin1'))?.[1];
}

export interface SwitchableSink {
  readonly host: string;
  readonly port: number;
  /** Messages received per token. */
  readonly received: Map<string, number>;
  /** When each token first arrived (Date.now()). */
  readonly firstArrival: Map<string, number>;
  readonly isUp: boolean;
  /** Close the listener and cut every open session: the port refuses connections. */
  down(): Promise<void>;
  /** Listen again on the same address and port. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

/** startSwitchableSink - see the manual above; listens on host:port at once. */
export async function startSwitchableSink(host: string, port: number): Promise<SwitchableSink> {
  const received = new Map<string, number>();
  const firstArrival = new Map<string, number>();
  let server: SMTPServer | null = null;
  const sockets = new Set<Socket>();

  const listen = async (): Promise<void> => {
    const s = new SMTPServer({
      disableReverseLookup: true,
      logger: false,
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      onData(stream, _session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const token = tokenOf(Buffer.concat(chunks));
          if (token !== undefined) {
            received.set(token, (received.get(token) ?? 0) + 1);
            if (!firstArrival.has(token)) firstArrival.set(token, Date.now());
          }
          callback();
        });
      },
    });
    // a session cut by down() is reported here; it is what the test does, not a failure
    s.on('error', () => undefined);
    s.server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.listen(port, host, () => resolve());
    });
    server = s;
  };

  const close = async (): Promise<void> => {
    const s = server;
    server = null;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };

  await listen();
  return {
    host,
    port,
    received,
    firstArrival,
    get isUp() {
      return server !== null;
    },
    down: close,
    up: listen,
    stop: close,
  };
}

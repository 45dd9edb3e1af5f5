/*
 * operator/cli/pod-port-forward - `kubectl port-forward pod/NAME PORT` in-process: a listener on
 * an ephemeral port of 127.0.0.1 whose every connection is carried to the pod's PORT by the
 * API server's pods/portforward (client-node's PortForward, over WebSocket).
 *
 * One WebSocket carries one TCP connection (the protocol's data and error streams of one port),
 * so each accepted socket opens its own. Why the wiring below: client-node writes the pod's
 * bytes into the socket and reads the socket into the WebSocket, but closes neither side when
 * the other goes; a refused upgrade (403 without pods/portforward) only rejects its promise,
 * and the kubelet's complaint (nothing listens on PORT) comes on the error stream. Each of
 * those ends the local socket here and is kept as `lastError` for the caller's message.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { PortForward, type KubeConfig } from '@kubernetes/client-node';

export interface PodTunnel {
  pod: string;
  /** http://127.0.0.1:PORT/ */
  url: string;
  /** The last failure of a forwarded connection (refused upgrade, kubelet error), or null. */
  lastError(): string | null;
  close(): Promise<void>;
}

interface Closable {
  close(): void;
  on?(event: 'close', listener: () => void): unknown;
}

function describe(error: unknown): string {
  const message = (error as { message?: string } | null)?.message ?? String(error);
  if (/\b403\b/.test(message)) return `${message}: the user needs "get" and "create" on pods/portforward (docs/operations.md, RBAC)`;
  return message;
}

/** openPodTunnel - a local listener forwarding to `port` of pod `namespace/pod`. */
export async function openPodTunnel(kc: KubeConfig, namespace: string, pod: string, port: number): Promise<PodTunnel> {
  const forward = new PortForward(kc, true);
  const sockets = new Set<Socket>();
  const webSocketOf = new Map<Socket, Closable>();
  let lastError: string | null = null;

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      sockets.delete(socket);
      webSocketOf.get(socket)?.close();
      webSocketOf.delete(socket);
    });
    const errors = new Writable({
      write(chunk: Buffer, _encoding, done) {
        const text = chunk.toString('utf8').trim();
        if (text !== '') {
          lastError = `pod ${namespace}/${pod} port ${port}: ${text}`;
          socket.destroy();
        }
        done();
      },
    });
    forward.portForward(namespace, pod, [port], socket, errors, socket).then((ws) => {
      const closable = ws as unknown as Closable;
      if (socket.destroyed) {
        closable.close();
        return;
      }
      webSocketOf.set(socket, closable);
      closable.on?.('close', () => socket.end());
    }, (error: unknown) => {
      lastError = `port-forward to pod ${namespace}/${pod}: ${describe(error)}`;
      socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const localPort = typeof address === 'object' && address ? address.port : 0;
  return {
    pod,
    url: `http://127.0.0.1:${localPort}/`,
    lastError: () => lastError,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      for (const ws of webSocketOf.values()) ws.close();
      server.close(() => resolve());
    }),
  };
}

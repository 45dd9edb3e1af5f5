/*
 * Issue 12 item 6: a client refused at connect (554, no connector for its address) that says
 * QUIT and waits for the reply kept its connection, and the hub its file descriptor, for ever;
 * after one, SIGTERM waited the whole grace period. The hub closes such connections itself
 * and does not wait for them at shutdown.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { readdirSync } from 'node:fs';
import { freePort } from '../controlplane/controlplane.ts';
import { startHubProcess, removeHubDir, type HubProcess } from '../support/hub-process.ts';

const IP = '127.0.0.152';
const STRANGER = '127.0.0.153';
let hub: HubProcess | undefined;
const clients: Socket[] = [];
after(async () => {
  for (const c of clients) c.destroy();
  await hub?.stop();
  if (hub) removeHubDir(hub);
});

const openFiles = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/** A client that reads the refusal, answers QUIT and keeps its end open (half-open, as many do). */
function refusedClient(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: IP, port, localAddress: STRANGER, allowHalfOpen: true });
    clients.push(socket);
    socket.on('error', reject);
    socket.once('data', (chunk: Buffer) => {
      socket.write('QUIT\r\n');
      resolve(chunk.toString('latin1'));
    });
  });
}

test('refused at connect, the client says QUIT and waits: the hub closes it, and a SIGTERM does not wait the grace period for it', async () => {
  const port = await freePort(IP);
  hub = await startHubProcess({
    hub: 'refuse',
    manifests: `
apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: refuse, namespace: refuse}
spec: {fqdn: refuse.relay.test, antiSpam: {spf: false}}
---
apiVersion: relayoperator.io/v1alpha1
kind: ReceiveConnector
metadata: {name: apps, namespace: refuse}
spec:
  hubs: [refuse]
  bindings: ["${IP}:${port}"]
  remoteIPRanges: [${IP}]
  permissionGroups: [AnonymousUsers]
`,
  });
  const pid = hub.child.pid ?? 0;
  const before = openFiles(pid);
  const replies = await Promise.all(Array.from({ length: 20 }, () => refusedClient(port)));
  for (const reply of replies) assert.match(reply, /^554 /);
  // the refusals are closed within a few seconds, whatever the clients do
  const deadline = Date.now() + 6000;
  while (openFiles(pid) > before + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.ok(openFiles(pid) <= before + 2, `hub holds ${openFiles(pid) - before} more file descriptors than before the 20 refusals`);

  // and new refused clients do not hold up a shutdown (grace period 5 s)
  await Promise.all(Array.from({ length: 5 }, () => refusedClient(port)));
  const started = Date.now();
  const status = await hub.stop();
  assert.equal(status, 0);
  assert.ok(Date.now() - started < 3500, `stop took ${Date.now() - started} ms`);
});

/*
 * test/relay/tls-robustness - clients that misbehave around TLS must not hurt anybody else.
 *
 * Each test starts its own hub (a failure here can stop the process) and checks what every
 * other client would notice: the hub is still up and answers the next client with 220, and a
 * SIGTERM after TLS sessions stops it without waiting out the grace period.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { freePort } from '../controlplane/controlplane.ts';
import { removeHubDir, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { makeTestCerts, opensslStartTls, tlsRelayManifests, type TestCerts } from './support-certs.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const NS = 'tls-robustness';
const HUB = 'hub-robust';
const FQDN = 'hub-robust.relay.test';
const IP = '127.0.0.22';

let certs: TestCerts | undefined;
const certsOnce = (): TestCerts => (certs ??= makeTestCerts({ fqdn: FQDN, ips: [IP] }));
process.on('exit', () => certs?.remove());

async function hubFor(t: TestContext): Promise<{ hub: HubProcess; port: number; certs: TestCerts }> {
  const c = certsOnce();
  const port = await freePort();
  const hub = await startHubProcess({
    hub: HUB,
    manifests: tlsRelayManifests({ namespace: NS, hub: HUB, fqdn: FQDN, binding: `${IP}:${port}`, certs: c }),
  });
  t.after(async () => {
    await hub.kill();
    removeHubDir(hub);
  });
  return { hub, port, certs: c };
}

/** stillServing - the hub process is alive and greets a new client. */
async function assertStillServing(hub: HubProcess, port: number): Promise<void> {
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(hub.child.exitCode, null, 'the hub process is still running');
  const next = await SmtpClient.connect({ host: IP, port });
  assert.equal(next.greeting.code, 220, 'the next client is greeted');
  assert.equal((await next.send('EHLO next.relay.test')).code, 250);
  await next.quit();
}

test('a client that rejects the certificate and aborts the STARTTLS handshake does not stop the hub', {
  timeout: 30_000,
}, async (t) => {
  const { hub, port, certs: c } = await hubFor(t);
  const refused = opensslStartTls({ host: IP, port, caFile: c.ca.certFile, verifyHost: 'somebody-else.example.test' });
  assert.equal(refused.verifyOk, false, 'openssl refuses a certificate for another name');
  await assertStillServing(hub, port);
});

test('a client that resets its TCP connection in the middle of a transaction does not stop the hub', {
  timeout: 30_000,
}, async (t) => {
  const { hub, port } = await hubFor(t);
  const socket = netConnect({ host: IP, port });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('EHLO flaky.relay.test\r\nMAIL FROM:<app@contoso.test>\r\nRCPT TO:<someone@fabrikam.test>\r\n');
  await new Promise((r) => setTimeout(r, 300));
  socket.resetAndDestroy();
  await assertStillServing(hub, port);
});

test('after TLS sessions have ended, SIGTERM stops the hub without waiting out the grace period', {
  timeout: 30_000,
}, async (t) => {
  const { hub, port, certs: c } = await hubFor(t);
  for (let i = 0; i < 3; i++) {
    const client = await SmtpClient.connect({ host: IP, port });
    await client.send('EHLO app.relay.test');
    await client.startTls({ ca: c.ca.cert, servername: FQDN });
    assert.equal((await client.send('EHLO app.relay.test')).code, 250);
    await client.quit();
    await client.closed;
  }
  await hub.waitForLog((l) => l.log === 'protocol' && l.event === '-' && hub.logs.filter((x) => x.log === 'protocol' && x.event === '-').length >= 3);
  const started = Date.now();
  assert.equal(await hub.stop(), 0);
  const took = Date.now() - started;
  assert.ok(took < 2000, `stop took ${took} ms with no session open (grace period is 5 s)`);
});

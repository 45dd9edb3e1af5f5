/*
 * test/relay/shared-port - issue 12 item 6d: Exchange's usual layout standalone, `0.0.0.0:P` for
 * everybody plus a dedicated `127.0.0.2:P`, served by one hub process.
 *
 * Before: the second bind failed with EADDRINUSE and a raw stack trace, though `validate`
 * passed the manifests. Now the hub binds the wildcard socket alone and routes each connection
 * by the local address it reached: 127.0.0.2:P to the dedicated connector (anonymous relay),
 * 127.0.0.1:P to the wildcard's (no relay right). Reloads add and remove the dedicated
 * listener, or the wildcard, without a restart, and a port another process holds is still one
 * line on stderr.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { freePort } from '../controlplane/controlplane.ts';
import { runCli } from '../support/cli.ts';
import { removeHubDir, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { SmtpClient } from '../support/smtp-client.ts';
import { manifestsYaml } from './support-certs.ts';

const NS = 'shared-port';
const HUB = 'hub-shared';
const FQDN = 'hub-shared.relay.test';
const DEDICATED_IP = '127.0.0.2';

const hubDoc = { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB, namespace: NS }, spec: { replicas: 1, fqdn: FQDN, antiSpam: { spf: false, dnsbl: [] } } };
const everybody = (port: number): object => ({
  apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'default-frontend', namespace: NS },
  spec: { hubs: [HUB], usage: 'Custom', bindings: [`0.0.0.0:${port}`], remoteIPRanges: ['127.0.0.0/8'], permissionGroups: ['AnonymousUsers'], banner: `220 ${FQDN} default frontend`, limits: { tarpitInterval: '0s' } },
});
const dedicated = (port: number): object => ({
  apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'app-relay', namespace: NS },
  spec: {
    hubs: [HUB], usage: 'Custom', bindings: [`${DEDICATED_IP}:${port}`], remoteIPRanges: ['127.0.0.0/8'],
    permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }],
    banner: `220 ${FQDN} app relay`, limits: { tarpitInterval: '0s' },
  },
});

async function banner(host: string, port: number): Promise<string> {
  const client = await SmtpClient.connect({ host, port });
  const text = client.greeting.line;
  await client.quit();
  return text;
}

/** The reply to RCPT TO for a domain the hub does not accept (a relay), through nodemailer. */
async function relayReply(host: string, port: number): Promise<string> {
  const transport = nodemailer.createTransport({ host, port, ignoreTLS: true, name: 'client.test' });
  try {
    const info = await transport.sendMail({ from: 'app@example.test', to: 'someone@example.org', text: 'shared port' });
    return info.response;
  } catch (error) {
    return (error as { response?: string }).response ?? (error as Error).message;
  } finally {
    transport.close();
  }
}

describe('0.0.0.0:P plus a dedicated 127.0.0.2:P in one standalone hub', { timeout: 60_000 }, () => {
  let hub: HubProcess;
  let port: number;

  before(async () => {
    port = await freePort('0.0.0.0');
    hub = await startHubProcess({ manifests: manifestsYaml([hubDoc, everybody(port), dedicated(port)]), hub: HUB });
  });
  after(async () => {
    await hub.stop();
    removeHubDir(hub);
  });

  test('validate passes the layout it serves', async () => {
    const result = await runCli(['validate', hub.manifestFile]);
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });

  test('a connection to the dedicated address reaches the dedicated connector and may relay', async () => {
    assert.match(await banner(DEDICATED_IP, port), /app relay/);
    assert.match(await relayReply(DEDICATED_IP, port), /^250 /);
    const line = await hub.waitForLog((l) => l.log === 'protocol' && l['connector-id'] === `${NS}/app-relay` && l.context === `matched 127.0.0.0/8`);
    assert.equal(line['local-endpoint'], `${DEDICATED_IP}:${port}`);
  });

  test('a connection to any other local address reaches the wildcard connector, which may not relay', async () => {
    assert.match(await banner('127.0.0.1', port), /default frontend/);
    assert.match(await relayReply('127.0.0.1', port), /^550 5\.7\.54 /);
  });

  test('a reload removes the dedicated listener, and another adds it back', async () => {
    hub.writeManifests(manifestsYaml([hubDoc, everybody(port)]));
    await hub.waitForLog((l) => l.message === 'config reloaded', 15_000);
    assert.match(await banner(DEDICATED_IP, port), /default frontend/, 'the dedicated address falls back to the wildcard');
    assert.match(await relayReply(DEDICATED_IP, port), /^550 5\.7\.54 /);

    const reloads = hub.logs.filter((l) => l.message === 'config reloaded').length;
    hub.writeManifests(manifestsYaml([hubDoc, everybody(port), dedicated(port)]));
    await hub.waitForLog((l) => l.message === 'config reloaded' && hub.logs.filter((x) => x.message === 'config reloaded').length > reloads, 15_000);
    assert.match(await banner(DEDICATED_IP, port), /app relay/);
    assert.match(await banner('127.0.0.1', port), /default frontend/);
  });

  test('a reload that drops the wildcard binds the dedicated address alone, and one that brings it back shares the port again', async () => {
    const reloads = (): number => hub.logs.filter((l) => l.message === 'config reloaded').length;
    const before = reloads();
    hub.writeManifests(manifestsYaml([hubDoc, dedicated(port)]));
    await hub.waitForLog(() => reloads() > before, 15_000);
    assert.match(await banner(DEDICATED_IP, port), /app relay/);
    await assert.rejects(SmtpClient.connect({ host: '127.0.0.1', port }), (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED');

    hub.writeManifests(manifestsYaml([hubDoc, everybody(port), dedicated(port)]));
    await hub.waitForLog(() => reloads() > before + 1, 15_000);
    assert.match(await banner(DEDICATED_IP, port), /app relay/);
    assert.match(await banner('127.0.0.1', port), /default frontend/);
  });
});

describe('a shared port another process holds', { timeout: 30_000 }, () => {
  let squatter: Server;
  let port: number;
  let dir: string;

  before(async () => {
    port = await freePort('0.0.0.0');
    squatter = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      squatter.once('error', reject);
      squatter.listen({ host: '0.0.0.0', port }, () => resolve());
    });
    dir = mkdtempSync(join(tmpdir(), 'relay-shared-port-'));
  });
  after(async () => {
    await new Promise((resolve) => squatter.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  test('the hub exits 1 with one line naming the address, no stack trace', async () => {
    const manifestFile = join(dir, 'manifests.yaml');
    writeFileSync(manifestFile, manifestsYaml([hubDoc, everybody(port), dedicated(port)]));
    const child = spawn(process.execPath, ['bin/relay-operator.js', 'hub', '--manifests', manifestFile, '--hub', HUB, '--spool', join(dir, 'state')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(status, 1, stderr);
    assert.equal(stderr, `relay-operator hub: cannot listen on 0.0.0.0:${port}: the address is in use by another process\n`);
  });
});

/*
 * test/relay/reload-bind - issue 17 item 11: a hot reload whose new listener cannot bind.
 *
 * Config A listens on port P; config B moves the connector to port Q, which another process
 * holds. Before the fix the hub closed P, failed to open Q, logged "config reloaded" with B's
 * hash, reported B as applied (status.json, relay_config_info, onConfigApplied - the pod's
 * config-hash annotation) and /readyz stayed 200 with no port open. Now: B is not applied, P
 * keeps serving A, the failure is an error log line, relay_config_reload_failures_total and
 * relay_config_pending count it, /readyz is 503 and /status says which config is pending and
 * why; once Q is free the retry applies B.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../controlplane/controlplane.ts';
import { runCli } from '../support/cli.ts';
import { removeHubDir, startHubProcess, type HubProcess, type LogLine } from '../support/hub-process.ts';
import { Hub } from '../../relay/hub.ts';
import { manifestsYaml } from './support-certs.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const NS = 'reload-bind';
const HUB = 'hub-bind';
const FQDN = 'hub-bind.relay.test';
const IP = '127.0.0.43';

function manifests(port: number, name: string): string {
  return manifestsYaml([
    { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB, namespace: NS }, spec: { replicas: 1, fqdn: FQDN, antiSpam: { spf: false, dnsbl: [] } } },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'apps', namespace: NS },
      spec: { hubs: [HUB], usage: 'Custom', bindings: [`${IP}:${port}`], remoteIPRanges: ['127.0.0.0/8'], permissionGroups: ['AnonymousUsers'], banner: `220 ${FQDN} config ${name}` },
    },
  ]);
}

/** occupy - another process's listener on IP:port (what the new config wants). */
async function occupy(port: number): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: IP, port }, () => resolve());
  });
  return server;
}

async function greeting(port: number): Promise<string> {
  const client = await SmtpClient.connect({ host: IP, port });
  const text = client.greeting.text;
  await client.quit();
  return text;
}

async function refused(port: number): Promise<boolean> {
  return SmtpClient.connect({ host: IP, port }).then((c) => {
    c.close();
    return false;
  }, (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED');
}

describe('reload whose new listener cannot bind (standalone hub process)', { timeout: 60_000 }, () => {
  let hub: HubProcess;
  let portA: number;
  let portB: number;
  let metricsPort: number;
  let squatter: Server | null = null;
  let hashA = '';

  const metric = async (name: string): Promise<string[]> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith(name));
  };
  const statusFile = (): { configHash: string; ready: boolean; pendingConfig: { hash: string; reason: string; message: string } | null } =>
    JSON.parse(readFileSync(join(hub.dir, 'state', 'status.json'), 'utf8')) as ReturnType<typeof statusFile>;

  before(async () => {
    portA = await freePort(IP);
    portB = await freePort(IP);
    metricsPort = await freePort();
    hub = await startHubProcess({ manifests: manifests(portA, 'A'), hub: HUB, extraArgs: ['--metrics-addr', `127.0.0.1:${metricsPort}`] });
    hashA = String((await hub.waitForLog((l) => l.log === 'app' && l.message === 'hub started')).configHash);
  });

  after(async () => {
    squatter?.close();
    await hub?.stop();
    if (hub) removeHubDir(hub);
  });

  test('port taken: not applied, the old listener serves, reported in log, metrics, /readyz, /status, status.json', async () => {
    assert.match(await greeting(portA), /config A$/);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200);
    squatter = await occupy(portB);
    const from = hub.logs.length;
    hub.writeManifests(manifests(portB, 'B'));
    const failed = await hub.waitForLog((l) => hub.logs.indexOf(l) >= from && l.log === 'app' && l.level === 'error' && /reload failed/.test(String(l.message)), 15_000);
    assert.match(String(failed.message), new RegExp(`${IP.replace(/\./g, '\\.')}:${portB}.*EADDRINUSE`));
    assert.equal(failed.configHash, hashA);
    const hashB = String(failed.failedConfigHash);
    assert.match(hashB, /^[0-9a-f]{16}$/);
    assert.notEqual(hashB, hashA);
    assert.ok(!hub.logs.slice(from).some((l: LogLine) => l.message === 'config reloaded'), 'never said reloaded');

    assert.match(await greeting(portA), /config A$/, 'the old listener keeps serving config A');
    const readyz = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
    assert.equal(readyz.status, 503);
    assert.match(await readyz.text(), new RegExp(`config ${hashB} not applied, running ${hashA}`));
    const status = (await (await fetch(`http://127.0.0.1:${metricsPort}/status`)).json()) as { configHash: string; ready: boolean; pendingConfig: { hash: string; reason: string } };
    assert.equal(status.configHash, hashA, 'the hash reported as running is the old one');
    assert.equal(status.ready, false);
    assert.equal(status.pendingConfig.hash, hashB);
    assert.equal(status.pendingConfig.reason, 'listenerBind');
    assert.equal(statusFile().configHash, hashA);
    assert.equal(statusFile().pendingConfig?.hash, hashB);
    assert.deepEqual(await metric('relay_config_info{'), [`relay_config_info{hash="${hashA}"} 1`]);
    assert.deepEqual(await metric('relay_config_pending '), ['relay_config_pending 1']);
    const failures = await metric('relay_config_reload_failures_total{reason="listenerBind"}');
    assert.equal(failures.length, 1);
    assert.ok(Number(failures[0]?.split(' ')[1]) >= 1, failures.join());
  });

  test('the port comes free: the retry applies the new config and the hub is ready again', async () => {
    const from = hub.logs.length;
    await new Promise<void>((resolve) => squatter?.close(() => resolve()));
    squatter = null;
    const reloaded = await hub.waitForLog((l) => hub.logs.indexOf(l) >= from && l.log === 'app' && l.message === 'config reloaded', 20_000);
    assert.equal(reloaded.from, hashA);
    assert.match(await greeting(portB), /config B$/);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200);
    assert.deepEqual(await metric('relay_config_pending '), ['relay_config_pending 0']);
    assert.equal(statusFile().pendingConfig, null);
    // the old port is closed once drained (no sessions: at once)
    for (let i = 0; i < 40 && !(await refused(portA)); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(await refused(portA), `port ${portA} closed after the move`);
  });
});

describe('onConfigApplied (the pod config-hash report) never sees a config that failed to bind', { timeout: 30_000 }, () => {
  let dir = '';
  let hub: Hub | null = null;
  let squatter: Server | null = null;

  after(async () => {
    squatter?.close();
    await hub?.stop(0);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the new hash is reported only once its listener is open', async () => {
    dir = mkdtempSync(join(tmpdir(), 'reload-bind-'));
    const [portA, portB] = [await freePort(IP), await freePort(IP)];
    const rendered = async (port: number, name: string): Promise<string> => {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, manifests(port, name));
      const out = await runCli(['render', '--manifests', file, '--hub', HUB]);
      assert.equal(out.status, 0, out.stderr);
      return out.stdout;
    };
    const configA = await rendered(portA, 'A');
    const configB = await rendered(portB, 'B');
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, configA);
    const applied: string[] = [];
    hub = await Hub.start({ configFile, spoolDir: join(dir, 'queue'), watchIntervalMs: 0, holdDelivery: true, retryFailedBind: false, logSink: () => undefined, onConfigApplied: (hash) => applied.push(hash) });
    const hashA = hub.configHash;
    assert.deepEqual(applied, [hashA]);

    squatter = await occupy(portB);
    writeFileSync(configFile, configB);
    assert.equal(await hub.reload(), false, 'not applied');
    assert.deepEqual(applied, [hashA], 'the new hash was not reported');
    assert.equal(hub.configHash, hashA);
    assert.equal(hub.ready.ready, false);
    assert.equal(hub.pendingConfig?.reason, 'listenerBind');
    assert.match(await greeting(portA), /config A$/);

    await new Promise<void>((resolve) => squatter?.close(() => resolve()));
    squatter = null;
    assert.equal(await hub.reload(), true);
    assert.equal(applied.length, 2);
    assert.equal(applied[1], hub.configHash);
    assert.notEqual(hub.configHash, hashA);
    assert.equal(hub.ready.ready, true);
    assert.match(await greeting(portB), /config B$/);
  });

  test('moving a port to another address of the host (same port number) still applies', async () => {
    // 0.0.0.0:P and 127.0.0.43:P cannot both be bound: the old one lets the port go first.
    assert.ok(hub);
    const port = await freePort(IP);
    const wild = (name: string): string => manifests(port, name).replace(`${IP}:${port}`, `0.0.0.0:${port}`);
    const render = async (yaml: string, name: string): Promise<string> => {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, yaml);
      const out = await runCli(['render', '--manifests', file, '--hub', HUB]);
      assert.equal(out.status, 0, out.stderr);
      return out.stdout;
    };
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, await render(wild('W'), 'W'));
    assert.equal(await hub.reload(), true);
    assert.match(await greeting(port), /config W$/);
    writeFileSync(configFile, await render(manifests(port, 'S'), 'S'));
    assert.equal(await hub.reload(), true, String(hub.pendingConfig?.message));
    assert.match(await greeting(port), /config S$/);
    assert.equal(hub.ready.ready, true);
  });
});

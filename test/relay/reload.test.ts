/*
 * test/relay/reload - manifest changes applied to a running hub, with sessions in flight.
 *
 * Config A lets 127.0.0.0/8 relay (Anonymous + AcceptAnyRecipient) with banner "... config A";
 * config B removes the relay right and changes the banner. A session that passed RCPT under A
 * finishes under A after B is loaded; a new session gets B. The hub reports the hash it runs in
 * <dir>/state/status.json and as relay_config_info{hash} on /metrics. Broken manifests (invalid
 * YAML, a bad remote IP range) are refused and the running config keeps serving.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../controlplane/controlplane.ts';
import { removeHubDir, startHubProcess, type HubProcess, type LogLine } from '../support/hub-process.ts';
import { manifestsYaml, readIncoming, testMessage } from './support-certs.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const NS = 'reload-tests';
const HUB = 'hub-reload';
const FQDN = 'hub-reload.relay.test';
const IP = '127.0.0.41';

function manifests(port: number, variant: { name: string; relay: boolean; ranges?: string[] }): string {
  return manifestsYaml([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB, namespace: NS }, spec: { replicas: 1, fqdn: FQDN, antiSpam: { spf: false, dnsbl: [] } } },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'apps', namespace: NS },
      spec: {
        hubs: [HUB], usage: 'Custom', bindings: [`${IP}:${port}`], remoteIPRanges: variant.ranges ?? ['127.0.0.0/8'], permissionGroups: ['AnonymousUsers'],
        banner: `220 ${FQDN} config ${variant.name}`,
        permissions: variant.relay ? [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }] : [],
        limits: { tarpitInterval: '0s' },
      },
    },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'AcceptedDomain', metadata: { name: 'contoso', namespace: NS },
      spec: { domainName: 'contoso.test', domainType: 'Authoritative', default: true },
    },
  ]);
}

interface Status {
  hub: string;
  configHash: string;
  pid: number;
}

describe('hot reload', { timeout: 60_000 }, () => {
  let hub: HubProcess;
  let port: number;
  let metricsPort: number;
  let hashA = '';
  let hashB = '';
  const clients: SmtpClient[] = [];
  const tokens: string[] = [];

  const connect = async (): Promise<SmtpClient> => {
    const client = await SmtpClient.connect({ host: IP, port });
    clients.push(client);
    return client;
  };
  const status = (): Status => JSON.parse(readFileSync(join(hub.dir, 'state', 'status.json'), 'utf8')) as Status;
  const configInfo = async (): Promise<string[]> => {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(response.status, 200);
    const text = await response.text();
    return [...text.matchAll(/^relay_config_info\{hash="([^"]+)"\} 1$/gm)].map((m) => m[1] ?? '');
  };
  const nextLog = (predicate: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const from = hub.logs.length;
    return hub.waitForLog((line) => hub.logs.indexOf(line) >= from && predicate(line), timeoutMs);
  };
  const reloads = (): LogLine[] => hub.logs.filter((l) => l.log === 'app' && l.message === 'config reloaded');

  before(async () => {
    port = await freePort();
    metricsPort = await freePort();
    hub = await startHubProcess({ manifests: manifests(port, { name: 'A', relay: true }), hub: HUB, extraArgs: ['--metrics-addr', `127.0.0.1:${metricsPort}`] });
    hashA = String((await hub.waitForLog((l) => l.log === 'app' && l.message === 'hub started')).configHash);
  });

  after(async () => {
    for (const client of clients) client.close();
    await hub?.stop();
    if (hub) removeHubDir(hub);
  });

  test('config A is what status.json and /metrics report at start', async () => {
    assert.match(hashA, /^[0-9a-f]{16}$/);
    assert.equal(status().configHash, hashA);
    assert.equal(status().pid, hub.child.pid);
    assert.deepEqual(await configInfo(), [hashA]);
  });

  test('a session past RCPT when the relay right is removed finishes under the old rules; a new session gets the new ones', async () => {
    const old = await connect();
    assert.match(old.greeting.text, /config A$/);
    assert.equal((await old.send('EHLO app.relay.test')).code, 250);
    const [mail, rcpt] = await old.envelope('app@contoso.test', ['someone@fabrikam.test']);
    assert.equal(mail?.code, 250);
    assert.equal(rcpt?.code, 250, 'config A relays');

    const reloaded = nextLog((l) => l.log === 'app' && l.message === 'config reloaded');
    hub.writeManifests(manifests(port, { name: 'B', relay: false }));
    const line = await reloaded;
    assert.equal(line.from, hashA);
    hashB = String(line.to);
    assert.notEqual(hashB, hashA);

    // the old session: another outside recipient and the message, still under A
    const second = await old.send('RCPT TO:<other@example.org>');
    assert.equal(second.code, 250, `in-flight session keeps config A: ${second.text}`);
    const token = `inflight-${Date.now()}`;
    const done = await old.data(testMessage({ from: 'app@contoso.test', to: 'someone@fabrikam.test', token }));
    assert.equal(done.code, 250, done.text);
    tokens.push(token);
    await old.quit();

    const fresh = await connect();
    assert.match(fresh.greeting.text, /config B$/, 'the new banner');
    await fresh.send('EHLO app.relay.test');
    assert.equal((await fresh.send('MAIL FROM:<app@contoso.test>')).code, 250);
    const denied = await fresh.send('RCPT TO:<someone@fabrikam.test>');
    assert.equal(denied.code, 550, denied.text);
    assert.match(denied.text, /^5\.7\.54 /);
    assert.equal((await fresh.send('RCPT TO:<postmaster@contoso.test>')).code, 250, 'accepted domains still work');
    await fresh.quit();
  });

  test('status.json and relay_config_info report the new hash only', async () => {
    assert.equal(status().configHash, hashB);
    assert.equal(status().pid, hub.child.pid, 'same process');
    assert.deepEqual(await configInfo(), [hashB]);
  });

  test('invalid YAML is refused with an error log; config B keeps serving', async () => {
    const before = reloads().length;
    const refused = nextLog((l) => l.log === 'app' && l.level === 'error');
    hub.writeManifests(`${manifests(port, { name: 'C', relay: true })}\n---\nkind: [unclosed\n  : :\n`);
    const error = await refused;
    assert.match(String(error.message), /not applied|refused/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(reloads().length, before, 'no reload happened');
    assert.equal(status().configHash, hashB);
    assert.deepEqual(await configInfo(), [hashB]);
    const client = await connect();
    assert.match(client.greeting.text, /config B$/);
    await client.send('EHLO app.relay.test');
    const [, rcpt] = await client.envelope('app@contoso.test', ['someone@fabrikam.test']);
    assert.equal(rcpt?.code, 550, 'still config B');
    await client.quit();
  });

  test('a bad remote IP range is refused (the message names it); config B keeps serving', async () => {
    const before = reloads().length;
    for (const bad of ['127.0.0.300/8', '127.0.0.20-127.0.0.10']) {
      const refused = nextLog((l) => l.log === 'app' && l.level === 'error');
      hub.writeManifests(manifests(port, { name: 'D', relay: true, ranges: [bad] }));
      const error = await refused;
      assert.ok(String(error.message).includes(bad), `the error names ${bad}: ${String(error.message)}`);
      assert.match(String(error.message), /remoteIPRanges/);
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(reloads().length, before, 'no reload happened');
    assert.equal(status().configHash, hashB);
    const client = await connect();
    assert.match(client.greeting.text, /config B$/);
    await client.send('EHLO app.relay.test');
    const [mail, rcpt] = await client.envelope('app@contoso.test', ['postmaster@contoso.test']);
    assert.equal(mail?.code, 250);
    assert.equal(rcpt?.code, 250);
    const token = `after-refusal-${Date.now()}`;
    assert.equal((await client.data(testMessage({ from: 'app@contoso.test', to: 'postmaster@contoso.test', token }))).code, 250);
    tokens.push(token);
    await client.quit();
  });

  test('after refused changes a good change is applied again', async () => {
    const reloaded = nextLog((l) => l.log === 'app' && l.message === 'config reloaded');
    hub.writeManifests(manifests(port, { name: 'E', relay: true }));
    const line = await reloaded;
    assert.equal(line.from, hashB);
    assert.equal(status().configHash, line.to);
    assert.deepEqual(await configInfo(), [String(line.to)]);
    const client = await connect();
    assert.match(client.greeting.text, /config E$/);
    await client.send('EHLO app.relay.test');
    const [, rcpt] = await client.envelope('app@contoso.test', ['someone@fabrikam.test']);
    assert.equal(rcpt?.code, 250, 'config E relays again');
    await client.quit();
  });

  test('the messages accepted around the reloads are in the spool', async () => {
    assert.equal(await hub.stop(), 0);
    const stored = await readIncoming(hub.spoolDir);
    for (const token of tokens) assert.ok(stored.some((m) => m.text.includes(`token ${token}`)), `${token} spooled`);
    const inflight = stored.find((m) => m.text.includes(`token ${tokens[0] ?? ''}`));
    assert.deepEqual(inflight?.rcptTo, ['someone@fabrikam.test', 'other@example.org']);
  });
});

/*
 * test/relay/safety-warnings-hub - issue 12 item 5: the standalone hub logs each connector
 * warning (operator/render/warnings.ts) at warn on start and on every reload, and keeps serving:
 * a warning is not a refusal.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../controlplane/controlplane.ts';
import { removeHubDir, startHubProcess, type HubProcess, type LogLine } from '../support/hub-process.ts';
import { SmtpClient } from '../support/smtp-client.ts';
import { manifestsYaml } from './support-certs.ts';

const NS = 'warnings-hub';
const HUB = 'hub-warn';
const IP = '127.0.0.44';

function manifests(port: number, permissions: object[]): string {
  return manifestsYaml([
    { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB, namespace: NS }, spec: { replicas: 1, fqdn: 'hub-warn.relay.test', antiSpam: { spf: false, dnsbl: [] } } },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'apps', namespace: NS },
      spec: { hubs: [HUB], usage: 'Custom', bindings: [`${IP}:${port}`], remoteIPRanges: ['127.0.0.0/8'], permissionGroups: ['AnonymousUsers'], permissions },
    },
  ]);
}

const PARTNERS = [{ principal: 'Partners', allow: ['AcceptAnyRecipient'] }];
const isWarning = (l: LogLine): boolean => l.log === 'app' && l.level === 'warn' && l.rule === 'rightsNeverUsed';
const WARNING = `ReceiveConnector ${NS}/apps: spec.permissions[0].principal: rights AcceptAnyRecipient allowed to Partners never apply: a session is Partners only with permission group Partners (and not TrustedServers) and authMechanisms MutualTLS, and this connector has permissionGroups AnonymousUsers and authMechanisms TLS; give the connector what makes a client Partners, or remove the entry (rule rightsNeverUsed)`;

describe('connector warnings in the standalone hub', { timeout: 60_000 }, () => {
  let hub: HubProcess;
  let port: number;

  before(async () => {
    port = await freePort(IP);
    hub = await startHubProcess({ manifests: manifests(port, PARTNERS), hub: HUB });
  });
  after(async () => {
    await hub.stop();
    removeHubDir(hub);
  });

  test('logged at warn on start; the hub serves the connector', async () => {
    const line = await hub.waitForLog(isWarning);
    assert.equal(line.message, WARNING);
    const client = await SmtpClient.connect({ host: IP, port });
    assert.equal(client.greeting.code, 220);
    await client.quit();
  });

  test('gone after a reload that fixes it, back after one that brings it back', async () => {
    const reloads = (): number => hub.logs.filter((x) => x.message === 'config reloaded').length;
    const warnings = (): number => hub.logs.filter(isWarning).length;
    const [reloadsBefore, warningsBefore] = [reloads(), warnings()];
    hub.writeManifests(manifests(port, []));
    await hub.waitForLog(() => reloads() > reloadsBefore, 15_000);
    assert.equal(warnings(), warningsBefore, 'no warning for the fixed connector');
    hub.writeManifests(manifests(port, PARTNERS));
    await hub.waitForLog(() => reloads() > reloadsBefore + 1, 15_000);
    assert.equal(warnings(), warningsBefore + 1);
  });
});

/*
 * test/relay/tls-reload - the hub's STARTTLS certificate is replaced without a restart.
 *
 * The tls Secret in the manifests gets a new certificate (new key, serial and subject, same
 * CA); after the hub logs 'config reloaded', `openssl s_client -starttls smtp` sees the new
 * certificate, the process is the same one, and mail still flows over TLS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { freePort } from '../controlplane/controlplane.ts';
import { removeHubDir, startHubProcess, type HubProcess, type LogLine } from '../support/hub-process.ts';
import { certText, makeTestCerts, manifestsYaml, opensslStartTls, secretDoc, type Pem, type TestCerts } from './support-certs.ts';

const NS = 'tls-reload';
const HUB = 'hub-reload-tls';
const FQDN = 'hub-reload-tls.relay.test';
const IP = '127.0.0.23';

function manifests(cert: Pem, port: number): string {
  return manifestsYaml([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    secretDoc(NS, 'hub-cert', { 'tls.crt': cert.cert, 'tls.key': cert.key }),
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB, namespace: NS },
      spec: { replicas: 1, fqdn: FQDN, tls: { secretName: 'hub-cert' }, antiSpam: { spf: false, dnsbl: [] } },
    },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'apps', namespace: NS },
      spec: {
        hubs: [HUB], usage: 'Custom', bindings: [`${IP}:${port}`], remoteIPRanges: ['127.0.0.0/8'], permissionGroups: ['AnonymousUsers'],
        permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }], limits: { tarpitInterval: '0s' },
      },
    },
  ]);
}

/** nextLog - the next matching log line written after now. */
function nextLog(hub: HubProcess, predicate: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
  const from = hub.logs.length;
  return hub.waitForLog((line) => hub.logs.indexOf(line) >= from && predicate(line), timeoutMs);
}

const serialOf = (pem: string): string => /^serial=([0-9A-F]+)$/m.exec(certText(pem))?.[1] ?? '';

describe('certificate reload without restart', { timeout: 60_000 }, () => {
  let certs: TestCerts;
  let hub: HubProcess;
  let port: number;

  before(async () => {
    certs = makeTestCerts({ fqdn: FQDN, ips: [IP] });
    port = await freePort();
    hub = await startHubProcess({ manifests: manifests(certs.server, port), hub: HUB });
  });

  after(async () => {
    await hub?.stop();
    if (hub) removeHubDir(hub);
    certs?.remove();
  });

  test('a new certificate in the tls Secret is served after the reload, by the same process', async () => {
    const before = opensslStartTls({ host: IP, port, caFile: certs.ca.certFile, verifyHost: FQDN });
    assert.ok(before.verifyOk, before.output);
    assert.equal(serialOf(before.pem), certs.serialOf(certs.server.certFile));
    assert.match(before.subject, /CN ?= ?hub-reload-tls\.relay\.test/);

    const renewed = certs.issueServer({ commonName: 'renewed.hub-reload-tls.relay.test', dnsNames: [FQDN, 'renewed.hub-reload-tls.relay.test'], ips: [IP] });
    assert.notEqual(certs.serialOf(renewed.certFile), certs.serialOf(certs.server.certFile));
    const pid = hub.child.pid;
    const reloaded = nextLog(hub, (l) => l.log === 'app' && l.message === 'config reloaded');
    hub.writeManifests(manifests(renewed, port));
    await reloaded;

    const now = opensslStartTls({ host: IP, port, caFile: certs.ca.certFile, verifyHost: FQDN });
    assert.ok(now.verifyOk, now.output);
    assert.equal(serialOf(now.pem), certs.serialOf(renewed.certFile), 'openssl sees the renewed certificate');
    assert.match(now.subject, /CN ?= ?renewed\.hub-reload-tls\.relay\.test/);
    assert.match(certText(now.pem), /DNS:renewed\.hub-reload-tls\.relay\.test/);
    assert.equal(hub.child.pid, pid);
    assert.equal(hub.child.exitCode, null, 'the hub was not restarted');

    const transport = nodemailer.createTransport({ host: IP, port, secure: false, requireTLS: true, name: 'app.relay.test', tls: { ca: certs.ca.cert, servername: FQDN } });
    try {
      const info = await transport.sendMail({ from: 'app@contoso.test', to: 'someone@fabrikam.test', subject: 'after renewal', text: 'hello' });
      assert.match(info.response, /^250 /);
    } finally {
      transport.close();
    }
  });
});

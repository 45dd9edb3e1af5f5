/*
 * test/operator/safety-warnings - issue 12 item 5's warnings on a real API server with the
 * operator running: a connector whose rights can never apply and that asks for TLS on a hub
 * without a certificate is loaded (warnings are not refusals) and gets Warning=True with the
 * first warning's reason, every message and observedGeneration, plus a Warning event; kstatus
 * reads the object the same with or without that condition; once the spec is fixed Warning is
 * False (NoWarnings).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TestCluster } from '../support/cluster.ts';
import { conditionOf, eventsAbout, receiveConnectorObject, renderedHubConfig, RELAY_GROUP_VERSION, type WithConditions } from '../support/connector-status.ts';
import { applyObjects, kubeClient, until, useOperatorNamespace } from '../support/operator-process.ts';

const ns = `op-warnings-${randomBytes(3).toString('hex')}`;
const HUB = 'hub';

let cluster: TestCluster;
useOperatorNamespace(ns, { ready: (c) => void (cluster = c) });

const apps = (spec: Record<string, unknown>): object => receiveConnectorObject(ns, HUB, 'apps', { usage: 'Custom', remoteIPRanges: ['10.20.0.0/16'], permissionGroups: ['AnonymousUsers'], ...spec });
const getApps = (): Promise<WithConditions | undefined> => kubeClient(cluster).tryGet<WithConditions>(ns, 'receiveconnector', 'apps');

/** kstatusOf - what kstatus (the tool built beside the control plane) says of one object given as JSON. */
async function kstatusOf(object: object): Promise<{ status: string; message: string }> {
  const child = execFile(join(cluster.binDir, 'kstatus'), ['-']);
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
  child.stdin?.end(JSON.stringify([object]));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, 'kstatus exits 0');
  const [entry] = JSON.parse(stdout) as Array<{ status: string; message: string }>;
  assert.ok(entry);
  return entry;
}

describe('safety-rail warnings on the ReceiveConnector', { timeout: 120_000 }, () => {
  test('rights that never apply and TLS without a certificate: loaded, Warning=True, a Warning event', async () => {
    applyObjects(cluster, [
      { apiVersion: RELAY_GROUP_VERSION, kind: 'RelayHub', metadata: { name: HUB, namespace: ns }, spec: { replicas: 1, fqdn: 'hub.example.test' } },
      apps({ authMechanisms: ['TLS'], permissions: [{ principal: 'Partners', allow: ['AcceptAnyRecipient'] }] }),
    ]);
    const object = await until('apps Warning=True', async () => {
      const o = await getApps();
      return conditionOf(o, 'Warning')?.status === 'True' ? o : undefined;
    }, 60_000, getApps);
    const warning = conditionOf(object, 'Warning');
    assert.equal(warning?.reason, 'RightsNeverUsed');
    assert.equal(warning?.observedGeneration, object.metadata?.generation);
    assert.match(warning?.message ?? '', /^spec\.permissions\[0\]\.principal: rights AcceptAnyRecipient allowed to Partners never apply: .*; spec\.authMechanisms: authMechanisms TLS asks for TLS, but neither spec\.tls\.secretName nor the tls\.secretName of RelayHub hub names a certificate/);
    assert.notEqual(conditionOf(object, 'Ready')?.reason, 'RightsNeverUsed', 'a warning never decides Ready');

    const config = await until('apps in the ConfigMap (a warning is no refusal)', async () => {
      const c = await renderedHubConfig(cluster, ns, HUB);
      return c?.connectors.some((x) => x.id === `${ns}/apps`) ? c : undefined;
    });
    assert.deepEqual(config.connectors.map((c) => c.id), [`${ns}/apps`]);

    const event = await until('a Warning event RightsNeverUsed about apps', async () => (await eventsAbout(cluster, ns, 'ReceiveConnector', 'apps')).find((e) => e.reason === 'RightsNeverUsed'));
    assert.equal(event.type, 'Warning');
    assert.match(event.note ?? '', /allowed to Partners never apply/);

    // kstatus reads Ready, Reconciling and Stalled: the same verdict with or without Warning
    const withWarning = await kstatusOf({ apiVersion: RELAY_GROUP_VERSION, kind: 'ReceiveConnector', ...object });
    const withoutWarning = await kstatusOf({
      apiVersion: RELAY_GROUP_VERSION, kind: 'ReceiveConnector', ...object,
      status: { ...object.status, conditions: object.status?.conditions?.filter((c) => c.type !== 'Warning') },
    });
    assert.deepEqual(withWarning, withoutWarning);
  });

  test('fixed: Warning=False NoWarnings for the new generation', async () => {
    // the Partners entry removed, authMechanisms left to the usage default (TLS when there is a certificate)
    cluster.kubectl(['patch', 'receiveconnector', 'apps', '-n', ns, '--type', 'json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/permissions' }, { op: 'remove', path: '/spec/authMechanisms' }])]);
    const object = await until('apps Warning=False', async () => {
      const o = await getApps();
      const w = conditionOf(o, 'Warning');
      return w?.status === 'False' && w.observedGeneration === o?.metadata?.generation ? o : undefined;
    }, 60_000, getApps);
    const warning = conditionOf(object, 'Warning');
    assert.equal(warning?.reason, 'NoWarnings');
    assert.equal(warning?.message, 'no warnings');
  });
});

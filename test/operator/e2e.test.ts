/*
 * test/operator/e2e - the whole loop, with the test playing kubelet: one `kubectl apply`
 * (the seed scenario: two hubs selected by label get the same connector), the operator renders,
 * a relay process per hub pod runs the ConfigMap the operator wrote, on a loopback address
 * standing for the hub's Service IP (hub A 127.0.0.161, hub B 127.0.0.162), and reports the
 * hash it runs on its pod; the test marks the pods Ready. Then mail flows through both hubs
 * (a client inside the connector's range relays; one outside gets 554 5.7.1), and a change to
 * the connector made with `kubectl apply` while a session is past RCPT reaches the pods (the
 * test rewrites the mounted file as kubelet would): status follows the new hash, the new rule
 * is live for new sessions, and the old session completes under the old one.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import nodemailer from 'nodemailer';
import { stringify } from 'yaml';
import { hashConfig } from '../../relay/config/load.ts';
import type { RenderedConfig } from '../../relay/config/schema.ts';
import { readIncoming, testMessage } from '../relay/support-certs.ts';
import { SmtpClient } from '../support/smtp-client.ts';
import type { TestCluster } from '../support/cluster.ts';
import {
  kubeClient, markPodReady, podReportedConfigHash, settleStatefulSet, useOperatorNamespace, startRelayPod, until, type RelayPod,
} from '../support/operator-process.ts';

const ns = `op-e2e-${randomBytes(3).toString('hex')}`;
const GROUP = 'relayoperator.io/v1alpha1';
const HUBS = [
  { name: 'hub-e2e-a', ip: '127.0.0.161' },
  { name: 'hub-e2e-b', ip: '127.0.0.162' },
] as const;
const POD_PORT = 2525; // the first listener's container port
const CLIENT_IN = '127.0.3.10';
const CLIENT_IN_2 = '127.0.3.11';
const CLIENT_OUT = '127.0.4.10';
const CONNECTOR_ID = `${ns}/apps`;

interface Condition { type: string; status: string; reason: string; message: string; observedGeneration?: number }
interface HubCr { metadata: { generation?: number }; status?: { observedGeneration?: number; configHash?: string; podsCurrent?: number; readyReplicas?: number; conditions?: Condition[] } }
interface ConnectorCr { metadata: { generation?: number }; status?: { observedGeneration?: number; hubs?: Array<{ name: string; bindings: string[]; ready: boolean; reason?: string }>; conditions?: Condition[] } }

let cluster: TestCluster;
const relays = new Map<string, RelayPod>();
const clients: SmtpClient[] = [];

const hub = (name: string): Promise<HubCr> => kubeClient(cluster).get<HubCr>(ns, 'relayhub', name);
const connector = (): Promise<ConnectorCr> => kubeClient(cluster).get<ConnectorCr>(ns, 'receiveconnector', 'apps');
const condition = (obj: { status?: { conditions?: Condition[] } }, type: string): Condition | undefined => obj.status?.conditions?.find((c) => c.type === type);
const renderedConfig = async (hubName: string): Promise<RenderedConfig | undefined> => {
  const text = (await kubeClient(cluster).get<{ data?: Record<string, string> }>(ns, 'configmap', `${hubName}-relay-config`)).data?.['config.json'];
  return text ? (JSON.parse(text) as RenderedConfig) : undefined;
};
const podHash = (pod: string): Promise<string | undefined> => podReportedConfigHash(cluster, ns, pod);

function connectorManifest(relayRight: boolean): object {
  return {
    apiVersion: GROUP, kind: 'ReceiveConnector', metadata: { name: 'apps', namespace: ns },
    spec: {
      hubSelector: { matchLabels: { site: 'e2e' } },
      usage: 'Custom',
      bindings: ['relay:25'],
      remoteIPRanges: ['127.0.3.0/24'],
      permissionGroups: ['AnonymousUsers'],
      permissions: relayRight ? [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }] : [],
      limits: { tarpitInterval: '0s' },
    },
  };
}

/** The seed scenario as one document stream: two hubs of site e2e, one connector selecting them by label. */
function seedManifests(): string {
  return [
    ...HUBS.map((h) => ({
      apiVersion: GROUP, kind: 'RelayHub', metadata: { name: h.name, namespace: ns, labels: { site: 'e2e' } },
      spec: { replicas: 1, fqdn: `${h.name}.relay.test`, addresses: [{ name: 'relay', ip: h.ip }], antiSpam: { spf: false, dnsbl: [] } },
    })),
    connectorManifest(true),
    { apiVersion: GROUP, kind: 'AcceptedDomain', metadata: { name: 'contoso', namespace: ns }, spec: { domainName: 'contoso.test', domainType: 'Authoritative', default: true } },
  ].map((d) => stringify(d)).join('---\n');
}

/** Every hub Ready with its pod running `hash` (or any current hash), and the connector Ready on both. */
async function allLive(expected?: Map<string, string>): Promise<void> {
  for (const h of HUBS) {
    await until(`${h.name} Ready with podsCurrent 1`, async () => {
      const x = await hub(h.name);
      const ok = x.status?.podsCurrent === 1 && condition(x, 'Ready')?.status === 'True' && x.status.observedGeneration === x.metadata.generation
        && (!expected || x.status.configHash === expected.get(h.name));
      return ok ? x : undefined;
    }, 30_000, async () => (await hub(h.name)).status);
  }
  await until('connector Ready on both hubs', async () => {
    const c = await connector();
    return condition(c, 'Ready')?.status === 'True' && c.status?.observedGeneration === c.metadata.generation && c.status?.hubs?.every((x) => x.ready) ? c : undefined;
  }, 30_000, async () => (await connector()).status);
}

useOperatorNamespace(ns, {
  ready: (c) => void (cluster = c),
  beforeStop: async () => {
    for (const client of clients) client.close();
    await Promise.all([...relays.values()].map((r) => r.kill()));
    for (const relay of relays.values()) relay.remove();
  },
});

describe('end to end', { timeout: 90_000 }, () => {
  const hashes = new Map<string, string>();
  const statusesBeforeSync: ConnectorCr[] = [];
  let changeGeneration = 0;

  test('one apply: both hubs selected by label render the connector on their relay address', async () => {
    cluster.kubectl(['apply', '-f', '-'], seedManifests());
    for (const h of HUBS) {
      const config = await until(`${h.name} ConfigMap with the connector`, async () => {
        const c = await renderedConfig(h.name);
        return c?.connectors.some((x) => x.id === CONNECTOR_ID) ? c : undefined;
      });
      assert.deepEqual(config.listeners.map((l) => ({ endpoint: l.endpoint, port: l.port, connectorIds: l.connectorIds })), [{ endpoint: `${h.ip}:25`, port: POD_PORT, connectorIds: [CONNECTOR_ID] }]);
      assert.deepEqual(config.connectors[0]?.remoteIPRanges, ['127.0.3.0/24']);
    }
    const c = await until('connector status on both hubs', async () => {
      const x = await connector();
      return x.status?.hubs?.length === 2 && x.status.hubs.every((e) => e.bindings.length === 1) ? x : undefined;
    });
    assert.deepEqual(c.status?.hubs?.map((e) => [e.name, e.bindings]), HUBS.map((h) => [h.name, [`${h.ip}:25`]]));
  });

  test('relay pods run the rendered config, report its hash and are marked Ready: hubs Ready, podsCurrent 1, connector ready on both', async () => {
    for (const h of HUBS) {
      // the pod of the current template (the first render, before the connector was seen, had no listener)
      const [pod] = await settleStatefulSet(cluster, ns, `${h.name}-relay`, { markReady: false });
      assert.equal(pod, `${h.name}-relay-0`);
      const relay = await startRelayPod({ cluster, namespace: ns, pod, configMap: `${h.name}-relay-config`, bindAddress: h.ip });
      relays.set(h.name, relay);
      const runs = await relay.configHash();
      assert.equal(runs, hashConfig(await renderedConfig(h.name)), 'the relay runs the ConfigMap content');
      await until(`${pod} reports the hash it runs in its Lease`, async () => (await podHash(pod)) === runs);
      await markPodReady(cluster, ns, pod);
      hashes.set(h.name, runs);
    }
    await allLive(hashes);
    for (const h of HUBS) {
      const x = await hub(h.name);
      assert.equal(x.status?.configHash, hashes.get(h.name));
      assert.deepEqual(x.status?.conditions?.map((c) => [c.type, c.status]), [['Ready', 'True'], ['Progressing', 'False'], ['Degraded', 'False'], ['StrandedMail', 'False'], ['Stalled', 'False'], ['Reconciling', 'False']]);
    }
    const c = await connector();
    assert.deepEqual(c.status?.hubs?.map((e) => [e.name, e.ready]), HUBS.map((h) => [h.name, true]));
    assert.equal(condition(c, 'Ready')?.reason, 'Live');
  });

  test('mail from inside the range relays through both hubs; a client outside is refused by both with 554 5.7.1', async () => {
    for (const h of HUBS) {
      const transport = nodemailer.createTransport({ host: h.ip, port: POD_PORT, localAddress: CLIENT_IN, ignoreTLS: true, name: 'app.relay.test' });
      const info = await transport.sendMail({ from: 'app@contoso.test', to: 'someone@fabrikam.test', subject: `via ${h.name}`, text: `relayed through ${h.name}` });
      assert.deepEqual(info.accepted, ['someone@fabrikam.test'], `${h.name} relays`);
      assert.match(info.response, /^250 /);
      transport.close();

      const outside = nodemailer.createTransport({ host: h.ip, port: POD_PORT, localAddress: CLIENT_OUT, ignoreTLS: true, name: 'stranger.relay.test' });
      await assert.rejects(outside.sendMail({ from: 'stranger@fabrikam.test', to: 'someone@fabrikam.test', subject: 'no', text: 'no' }), (error: Error & { response?: string; responseCode?: number }) => {
        assert.match(error.response ?? '', /^554 5\.7\.1 /, `${h.name} refuses ${CLIENT_OUT}: ${error.message}`);
        return true;
      });
      outside.close();
      const refused = await relays.get(h.name)?.waitForLog((l) => l.log === 'protocol' && JSON.stringify(l).includes(CLIENT_OUT) && JSON.stringify(l).includes('554 5.7.1'), 5000);
      assert.ok(refused, 'the refusal is in the protocol log');
    }
  });

  test('a connector change applied while a session is past RCPT: status follows the new hash, the new rule is live, the old session completes', async () => {
    const hubA = HUBS[0];
    const old = await SmtpClient.connect({ host: hubA.ip, port: POD_PORT, localAddress: CLIENT_IN_2 });
    clients.push(old);
    assert.equal(old.greeting.code, 220);
    assert.equal((await old.send('EHLO app.relay.test')).code, 250);
    const [mail, rcpt] = await old.envelope('app@contoso.test', ['before@fabrikam.test']);
    assert.equal(mail?.code, 250);
    assert.equal(rcpt?.code, 250, 'relaying is allowed before the change');

    const generation = (await connector()).metadata.generation ?? 0;
    changeGeneration = generation + 1;
    // every connector status from the change until the pods get the new config (for the next test)
    const watch = await kubeClient(cluster).watch<ConnectorCr>(ns, 'receiveconnector', 'apps', (_type, object) => void statusesBeforeSync.push(object));
    cluster.kubectl(['apply', '-f', '-'], stringify(connectorManifest(false)));
    const newHashes = new Map<string, string>();
    for (const h of HUBS) {
      const x = await until(`${h.name} status with a new config hash`, async () => {
        const y = await hub(h.name);
        return y.status?.configHash && y.status.configHash !== hashes.get(h.name) ? y : undefined;
      });
      const hash = x.status?.configHash ?? '';
      assert.equal(hash, hashConfig(await renderedConfig(h.name)));
      assert.deepEqual((await renderedConfig(h.name))?.connectors[0]?.permissions, []);
      // the pods still run the old config: not current, not Ready
      assert.equal(x.status?.podsCurrent, 0, `${h.name}: the pod runs the old config`);
      assert.equal(condition(x, 'Ready')?.status, 'False');
      assert.equal(condition(x, 'Progressing')?.status, 'True');
      newHashes.set(h.name, hash);
    }
    // (a transient Ready True for the new generation is the next test's subject)
    const propagating = await until('connector status for the new generation: Propagating', async () => {
      const c = await connector();
      return c.status?.observedGeneration === generation + 1 && condition(c, 'Ready')?.reason === 'Propagating' ? c : undefined;
    }, 20_000, async () => (await connector()).status);
    assert.equal(condition(propagating, 'Ready')?.status, 'False');
    assert.deepEqual(propagating.status?.hubs?.map((e) => [e.name, e.ready]), HUBS.map((h) => [h.name, false]));
    await sleep(500); // let late transients arrive
    watch.stop();
    // kubelet updates the mounted ConfigMap; the relays reload (they poll every 2 s) and report
    for (const h of HUBS) await relays.get(h.name)?.syncConfig();
    for (const h of HUBS) {
      const relay = relays.get(h.name);
      assert.ok(relay);
      await until(`${h.name} relay runs the new config`, async () => (await relay.configHash()) === newHashes.get(h.name), 15_000);
      await until(`${h.name} pod reports the new hash`, async () => (await podHash(`${h.name}-relay-0`)) === newHashes.get(h.name));
    }
    await allLive(newHashes);
    assert.equal((await connector()).status?.observedGeneration, generation + 1);

    // the new rule: no relay right for a new session, on both hubs
    for (const h of HUBS) {
      const fresh = await SmtpClient.connect({ host: h.ip, port: POD_PORT, localAddress: CLIENT_IN });
      clients.push(fresh);
      assert.equal((await fresh.send('EHLO app.relay.test')).code, 250);
      assert.equal((await fresh.send('MAIL FROM:<app@contoso.test>')).code, 250);
      const denied = await fresh.send('RCPT TO:<after@fabrikam.test>');
      assert.equal(denied.code, 550, `${h.name}: ${denied.text}`);
      assert.match(denied.text, /^5\.7\.54 /);
      assert.equal((await fresh.send('RCPT TO:<postmaster@contoso.test>')).code, 250, 'accepted domains need no relay right');
      await fresh.quit();
    }

    // the session opened before the change finishes under the rules it started with
    const token = `inflight-${Date.now()}`;
    const done = await old.data(testMessage({ from: 'app@contoso.test', to: 'before@fabrikam.test', token }));
    assert.equal(done.code, 250, done.text);
    await old.quit();

    const relayA = relays.get(hubA.name);
    assert.ok(relayA);
    await relayA.stop();
    await sleep(100);
    const spooled = await readIncoming(relayA.spoolDir + '/queue');
    const inflight = spooled.find((m) => m.text.includes(`token ${token}`));
    assert.ok(inflight, 'the in-flight message is in hub A\'s spool');
    assert.deepEqual(inflight.rcptTo, ['before@fabrikam.test']);
    assert.equal(inflight.clientAddress, CLIENT_IN_2);
  });

  test('while the pods still run the old config, no connector status claims the new generation Ready', {}, () => {
    assert.ok(changeGeneration > 1 && statusesBeforeSync.length > 0, 'the previous test recorded the statuses');
    const seen = statusesBeforeSync.map((c) => `generation ${c.metadata.generation} observedGeneration ${c.status?.observedGeneration} Ready ${condition(c, 'Ready')?.status}/${condition(c, 'Ready')?.reason}`);
    const claims = statusesBeforeSync.filter((c) => c.status?.observedGeneration === changeGeneration && condition(c, 'Ready')?.status === 'True');
    assert.equal(claims.length, 0, `statuses seen before the pods had the new config:\n${seen.join('\n')}`);
    assert.ok(statusesBeforeSync.some((c) => c.status?.observedGeneration === changeGeneration && condition(c, 'Ready')?.reason === 'Propagating'), 'the new generation was reported Propagating');
  });
});

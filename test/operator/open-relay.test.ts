/*
 * test/operator/open-relay - issue 17 item 3 on a real API server with the operator running.
 *
 * Next to a usage Internet connector (0.0.0.0/0 and ::/0 on 0.0.0.0:25):
 * - the takeover as filed (0.0.0.0/1, 128.0.0.0/1, ::/1, 8000::/1, TrustedServers,
 *   ExternalAuthoritative, protocolLogging None) is refused at admission (CEL);
 * - the same with protocol logging on and allowOpenRelay set by its author is admitted, but the
 *   operator leaves it out of the hub's ConfigMap, Ready=False NarrowerConnectorGrantsMore and
 *   Conflicted=True naming the Internet connector, which stays in the config;
 * - once the Internet connector says allowNarrowerConnectors, a narrow relay connector is loaded;
 * - AcceptedDomain "*.com" is refused at admission, "*.co.uk" is admitted but left out of the
 *   config with Ready=False PublicSuffixDomain.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { TestCluster } from '../support/cluster.ts';
import { conditionOf as condition, receiveConnectorObject, renderedHubConfig, RELAY_GROUP_VERSION as GROUP, type WithConditions } from '../support/connector-status.ts';
import { applyObjects, kubeClient, until, useOperatorNamespace } from '../support/operator-process.ts';

const ns = `op-open-relay-${randomBytes(3).toString('hex')}`;
const HUB = 'hub';

let cluster: TestCluster;
useOperatorNamespace(ns, { ready: (c) => void (cluster = c) });

const renderedConfig = () => renderedHubConfig(cluster, ns, HUB);
const connector = (name: string, spec: Record<string, unknown>) => receiveConnectorObject(ns, HUB, name, spec);
const takeover = (extra: Record<string, unknown>) => connector('takeover', {
  usage: 'Custom', remoteIPRanges: ['0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1'], permissionGroups: ['TrustedServers'], authMechanisms: ['ExternalAuthoritative'], ...extra,
});

describe('open relay by adding one object', { timeout: 120_000 }, () => {
  test('the takeover as filed is refused by the API server, naming the rule', () => {
    applyObjects(cluster, [
      { apiVersion: GROUP, kind: 'RelayHub', metadata: { name: HUB, namespace: ns }, spec: { replicas: 1, fqdn: 'hub.example.test' } },
      connector('internet', { usage: 'Internet' }),
    ]);
    const refused = cluster.tryKubectl(['apply', '-f', '-'], JSON.stringify(takeover({ protocolLogging: 'None' })));
    assert.notEqual(refused.status, 0, 'the API server admitted the takeover with protocolLogging None');
    assert.match(refused.stderr, /rule relayNeedsProtocolLogging/);
  });

  test('with logging on and allowOpenRelay, the operator leaves it out: Ready=False NarrowerConnectorGrantsMore, the Internet connector keeps every client', async () => {
    applyObjects(cluster, [takeover({ allowOpenRelay: true })]);
    const status = await until('takeover Ready=False NarrowerConnectorGrantsMore', async () => {
      const object = await kubeClient(cluster).tryGet<WithConditions>(ns, 'receiveconnector', 'takeover');
      return condition(object, 'Ready')?.reason === 'NarrowerConnectorGrantsMore' ? object : undefined;
    }, 60_000);
    assert.equal(condition(status, 'Ready')?.status, 'False');
    const conflicted = condition(status, 'Conflicted');
    assert.equal(conflicted?.status, 'True');
    assert.equal(conflicted?.reason, 'NarrowerConnectorGrantsMore');
    assert.match(conflicted?.message ?? '', new RegExp(`${ns}/internet`));
    assert.match(condition(status, 'Ready')?.message ?? '', /allowNarrowerConnectors/);
    const config = await until('the ConfigMap holds the Internet connector', async () => {
      const c = await renderedConfig();
      return c?.connectors.some((x) => x.id === `${ns}/internet`) ? c : undefined;
    });
    assert.deepEqual(config.connectors.map((c) => c.id), [`${ns}/internet`]);
    assert.deepEqual(config.listeners.map((l) => l.connectorIds), [[`${ns}/internet`]]);
  });

  test('allowNarrowerConnectors on the Internet connector lets a narrow relay connector in', async () => {
    cluster.kubectl(['delete', 'receiveconnector', 'takeover', '-n', ns]);
    applyObjects(cluster, [
      connector('internet', { usage: 'Internet', allowNarrowerConnectors: true }),
      connector('apps', { usage: 'Custom', remoteIPRanges: ['10.20.0.0/16'], permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }] }),
    ]);
    const config = await until('apps and internet both in the ConfigMap', async () => {
      const c = await renderedConfig();
      return c?.connectors.length === 2 ? c : undefined;
    }, 60_000);
    assert.deepEqual(config.connectors.map((c) => c.id).sort(), [`${ns}/apps`, `${ns}/internet`]);
  });

  test('AcceptedDomain *.com is refused by the API server; *.co.uk is left out of the config with Ready=False PublicSuffixDomain', async () => {
    const domain = (name: string, domainName: string) => ({ apiVersion: GROUP, kind: 'AcceptedDomain', metadata: { name, namespace: ns }, spec: { domainName } });
    const refused = cluster.tryKubectl(['apply', '-f', '-'], JSON.stringify(domain('every-com', '*.com')));
    assert.notEqual(refused.status, 0, 'the API server admitted *.com');
    assert.match(refused.stderr, /rule domainTopLevel/);
    applyObjects(cluster, [domain('contoso', 'contoso.test'), domain('every-co-uk', '*.co.uk')]);
    const status = await until('every-co-uk Ready=False PublicSuffixDomain', async () => {
      const object = await kubeClient(cluster).tryGet<WithConditions>(ns, 'accepteddomain', 'every-co-uk');
      return condition(object, 'Ready')?.reason === 'PublicSuffixDomain' ? object : undefined;
    }, 60_000);
    assert.equal(condition(status, 'Ready')?.status, 'False');
    const config = await until('contoso.test in the ConfigMap', async () => {
      const c = await renderedConfig();
      return c?.acceptedDomains.some((d) => d.domain === 'contoso.test') ? c : undefined;
    });
    assert.deepEqual(config.acceptedDomains.map((d) => d.domain), ['contoso.test']);
  });
});

/*
 * test/operator/status-conditions - the Ready condition of AcceptedDomains and SendConnectors
 * against a real API server, as an administrator reads it: a SendConnector without a hub, then
 * with one; an authentication Secret missing, then without a key, then complete; an
 * AcceptedDomain before and after the namespace has a hub; a duplicate domainName (the later
 * object names the earlier, and takes over when the earlier goes). observedGeneration follows
 * metadata.generation on the status and on the condition; `kubectl get` shows Ready.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { TestCluster } from '../support/cluster.ts';
import { applyObjects, kubeClient, useOperatorNamespace, until } from '../support/operator-process.ts';

const ns = `op-status-${randomBytes(3).toString('hex')}`;
const GROUP = 'relayoperator.io/v1alpha1';
const HUB = 'hub-a';

interface Condition { type: string; status: string; reason: string; message: string; observedGeneration?: number; lastTransitionTime: string }
interface StatusObject { metadata: { name: string; generation?: number }; status?: { observedGeneration?: number; conditions?: Condition[] } }

let cluster: TestCluster;

const get = (kind: 'accepteddomain' | 'sendconnector', name: string): Promise<StatusObject> => kubeClient(cluster).get<StatusObject>(ns, kind, name);
const readyOf = (o: StatusObject): Condition | undefined => o.status?.conditions?.find((c) => c.type === 'Ready');

/**
 * readyFor - the object once its status describes its current generation with Ready `status`
 * (and `reason`); asserts observedGeneration on the status and the condition on the way.
 */
async function readyFor(kind: 'accepteddomain' | 'sendconnector', name: string, status: 'True' | 'False', reason?: string): Promise<Condition> {
  const object = await until(`${kind} ${name} Ready ${status}${reason ? ` ${reason}` : ''}`, async () => {
    const o = await get(kind, name);
    const ready = readyOf(o);
    const current = o.status?.observedGeneration === o.metadata.generation;
    return current && ready?.status === status && (!reason || ready.reason === reason) ? o : undefined;
  }, 20_000, async () => (await get(kind, name)).status);
  const ready = readyOf(object);
  assert.ok(ready);
  assert.equal(ready.observedGeneration, object.metadata.generation, 'the condition carries metadata.generation');
  assert.match(ready.lastTransitionTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  return ready;
}

const sendConnector = (name: string, spec: Record<string, unknown> = {}): object =>
  ({ apiVersion: GROUP, kind: 'SendConnector', metadata: { name, namespace: ns }, spec: { addressSpaces: [{ domain: '*', cost: 10 }], smartHosts: ['smtp.provider.test:587'], ...spec } });
const acceptedDomain = (name: string, domainName: string): object =>
  ({ apiVersion: GROUP, kind: 'AcceptedDomain', metadata: { name, namespace: ns }, spec: { domainName } });

useOperatorNamespace(ns, { ready: (c) => void (cluster = c) });

describe('status conditions of AcceptedDomain and SendConnector', { timeout: 90_000 }, () => {
  test('before the namespace has a hub: SendConnector NoHubSelected, AcceptedDomain NoRelayHub', async () => {
    applyObjects(cluster, [sendConnector('internet'), acceptedDomain('contoso', 'contoso.test')]);
    const send = await readyFor('sendconnector', 'internet', 'False', 'NoHubSelected');
    assert.match(send.message, new RegExp(`no RelayHub in namespace ${ns}`));
    const domain = await readyFor('accepteddomain', 'contoso', 'False', 'NoRelayHub');
    assert.match(domain.message, new RegExp(`no RelayHub in namespace ${ns}`));
  });

  test('a RelayHub appears: both Ready True naming it', async () => {
    applyObjects(cluster, [{ apiVersion: GROUP, kind: 'RelayHub', metadata: { name: HUB, namespace: ns }, spec: { replicas: 1, addresses: [{ name: 'relay', ip: '192.168.9.17' }] } }]);
    const send = await readyFor('sendconnector', 'internet', 'True', 'Rendered');
    assert.equal(send.message, `in the config of RelayHub ${HUB}`);
    const domain = await readyFor('accepteddomain', 'contoso', 'True', 'Rendered');
    assert.match(domain.message, new RegExp(`RelayHub ${HUB} \\(every hub of namespace ${ns}\\)`));
  });

  test('authentication.secretName: SecretNotFound while the Secret is missing or lacks a key, True once complete', async () => {
    applyObjects(cluster, [sendConnector('smarthost', { authentication: { secretName: 'smarthost-auth' } })]);
    const missing = await readyFor('sendconnector', 'smarthost', 'False', 'SecretNotFound');
    assert.match(missing.message, new RegExp(`Secret smarthost-auth \\(spec.authentication.secretName\\) not found in namespace ${ns}`));

    applyObjects(cluster, [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'smarthost-auth', namespace: ns }, stringData: { username: 'relay' } }]);
    const noPassword = await until('the message names the missing key', async () => {
      const ready = await readyFor('sendconnector', 'smarthost', 'False', 'SecretNotFound');
      return ready.message.includes('has no key "password"') ? ready : undefined;
    });
    assert.doesNotMatch(noPassword.message, /"username"/);

    applyObjects(cluster, [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'smarthost-auth', namespace: ns }, stringData: { username: 'relay', password: 'secret' } }]);
    const ready = await readyFor('sendconnector', 'smarthost', 'True', 'Rendered');
    assert.equal(ready.message, `in the config of RelayHub ${HUB}`);
  });

  test('a spec change: observedGeneration follows on the status and the condition, lastTransitionTime stays', async () => {
    const before = await get('sendconnector', 'internet');
    const readyBefore = readyOf(before);
    cluster.kubectl(['-n', ns, 'patch', 'sendconnector', 'internet', '--type=merge', '-p', JSON.stringify({ spec: { addressSpaces: [{ domain: '*', cost: 20 }] } })]);
    const after = await until('status for the new generation', async () => {
      const o = await get('sendconnector', 'internet');
      return o.metadata.generation !== before.metadata.generation && o.status?.observedGeneration === o.metadata.generation ? o : undefined;
    });
    const readyAfter = readyOf(after);
    assert.equal(readyAfter?.status, 'True');
    assert.equal(readyAfter?.observedGeneration, after.metadata.generation);
    assert.equal(readyAfter?.lastTransitionTime, readyBefore?.lastTransitionTime, 'no flip, no new lastTransitionTime');
  });

  test('a duplicate domainName: the later AcceptedDomain is False naming the earlier, and takes over when the earlier goes', async () => {
    applyObjects(cluster, [acceptedDomain('contoso-copy', 'Contoso.test')]);
    const loser = await readyFor('accepteddomain', 'contoso-copy', 'False', 'DuplicateDomain');
    assert.match(loser.message, /domain contoso\.test is also declared by AcceptedDomain contoso \(/);
    const winner = await until('the earlier one mentions the copy', async () => {
      const ready = await readyFor('accepteddomain', 'contoso', 'True', 'Rendered');
      return ready.message.includes('also declared by AcceptedDomain contoso-copy') ? ready : undefined;
    });
    assert.match(winner.message, new RegExp(`RelayHub ${HUB}`));

    cluster.kubectl(['-n', ns, 'delete', 'accepteddomain', 'contoso']);
    const takenOver = await readyFor('accepteddomain', 'contoso-copy', 'True', 'Rendered');
    assert.doesNotMatch(takenOver.message, /also declared/);
  });

  test('kubectl get shows the Ready column of both kinds', () => {
    const domains = cluster.kubectl(['get', 'accepteddomains', '-n', ns]);
    assert.match(domains, /^NAME\s+DOMAIN\s+TYPE\s+DEFAULT\s+READY\s+AGE$/m);
    assert.match(domains, /^contoso-copy\s+Contoso\.test\s+Authoritative\s+false\s+True\s/m);
    const sends = cluster.kubectl(['get', 'sendconnectors', '-n', ns]);
    assert.match(sends, /^NAME\s+SPACES\s+SMART HOSTS\s+READY\s+AGE$/m);
    assert.match(sends, /^internet\s+.*\sTrue\s/m);
    assert.match(sends, /^smarthost\s+.*\sTrue\s/m);
  });
});

/*
 * The SendConnector Ready decision, and that the hubs it names are the hubs whose rendered
 * config holds the connector.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RelayHub, SendConnector } from '../api/types.generated.ts';
import type { SecretObject } from '../render/inputs.ts';
import { renderHub } from '../render/render.ts';
import { decideSendConnectorStatus } from './send-connector-controller.ts';

const NS = 'mail';

function hub(name: string, labels: Record<string, string> = {}): RelayHub {
  return { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name, namespace: NS, labels, creationTimestamp: '2026-01-01T00:00:00Z' }, spec: {} };
}

function sendConnector(spec: Partial<SendConnector['spec']> = {}, name = 'internet'): SendConnector {
  return {
    apiVersion: 'relayoperator.io/v1alpha1', kind: 'SendConnector',
    metadata: { name, namespace: NS, generation: 1, creationTimestamp: '2026-01-02T00:00:00Z' },
    spec: { addressSpaces: [{ domain: '*' }], ...spec },
  };
}

function secret(name: string, data: Record<string, string>): SecretObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
}

const decide = (connector: SendConnector, hubs: RelayHub[], secrets: SecretObject[] = []) => decideSendConnectorStatus({ namespace: NS, connector, hubs, secrets });

void test('no hubs and no selector: every hub of the namespace, named', () => {
  const verdict = decide(sendConnector(), [hub('west'), hub('east')]);
  assert.deepEqual(verdict, { status: 'True', reason: 'Rendered', message: 'in the config of RelayHub east, west' });
});

void test('no hub in the namespace: NoHubSelected', () => {
  const verdict = decide(sendConnector(), []);
  assert.deepEqual([verdict.status, verdict.reason], ['False', 'NoHubSelected']);
  assert.match(verdict.message, /no RelayHub in namespace mail/);
});

void test('a selector that matches nothing: NoHubSelected; one that matches: those hubs only', () => {
  const hubs = [hub('east', { site: 'east' }), hub('west', { site: 'west' })];
  assert.equal(decide(sendConnector({ hubSelector: { matchLabels: { site: 'north' } } }), hubs).reason, 'NoHubSelected');
  assert.equal(decide(sendConnector({ hubSelector: { matchLabels: { site: 'west' } } }), hubs).message, 'in the config of RelayHub west');
});

void test('spec.hubs naming hubs that do not exist: NoHubSelected when none does, HubNotFound when some do', () => {
  const none = decide(sendConnector({ hubs: ['north'] }), [hub('east')]);
  assert.equal(none.reason, 'NoHubSelected');
  assert.match(none.message, /spec\.hubs names RelayHub north, not found/);
  const some = decide(sendConnector({ hubs: ['east', 'north'] }), [hub('east')]);
  assert.deepEqual([some.status, some.reason], ['False', 'HubNotFound']);
  assert.match(some.message, /RelayHub north, not found in namespace mail; on east only/);
});

void test('authentication Secret missing, or without username or password: SecretNotFound saying which', () => {
  const connector = sendConnector({ authentication: { secretName: 'smarthost' } });
  const missing = decide(connector, [hub('east')]);
  assert.deepEqual([missing.status, missing.reason], ['False', 'SecretNotFound']);
  assert.match(missing.message, /Secret smarthost \(spec\.authentication\.secretName\) not found in namespace mail/);
  const noPassword = decide(connector, [hub('east')], [secret('smarthost', { username: 'relay' })]);
  assert.equal(noPassword.reason, 'SecretNotFound');
  assert.match(noPassword.message, /has no key "password"/);
  const noKeys = decide(connector, [hub('east')], [secret('smarthost', {})]);
  assert.match(noKeys.message, /has no key "username" and no key "password"/);
  assert.equal(decide(connector, [hub('east')], [secret('smarthost', { username: 'relay', password: 'x' })]).status, 'True');
});

void test('a maxMessageSize render cannot parse: InvalidSpec naming the hubs that leave it out', () => {
  const verdict = decide(sendConnector({ maxMessageSize: -1 }), [hub('east')]);
  assert.deepEqual([verdict.status, verdict.reason], ['False', 'InvalidSpec']);
  assert.match(verdict.message, /spec\.maxMessageSize: .*RelayHub east leaves the connector out until it is fixed/);
});

void test('what the status says is what render does: Rendered exactly on the hubs whose config holds it', () => {
  const hubs = [hub('east', { site: 'east' }), hub('west', { site: 'west' }), hub('north')];
  const secrets = [secret('full', { username: 'u', password: 'p' }), secret('half', { username: 'u' })];
  const connectors = [
    sendConnector({}, 'every'),
    sendConnector({ hubs: ['east'] }, 'named'),
    sendConnector({ hubSelector: { matchLabels: { site: 'west' } } }, 'selected'),
    sendConnector({ hubs: ['north'], authentication: { secretName: 'full' } }, 'with-secret'),
    sendConnector({ authentication: { secretName: 'half' } }, 'half-secret'),
    sendConnector({ hubSelector: { matchLabels: { site: 'south' } } }, 'nowhere'),
  ];
  const objects = { namespace: NS, hubs, receiveConnectors: [], acceptedDomains: [], sendConnectors: connectors, secrets };
  const onHubs = new Map<string, string[]>();
  for (const h of hubs) {
    for (const s of renderHub(h, objects, { secretFile: (n, k) => `/s/${n}/${k}` }).config.sendConnectors) {
      onHubs.set(s.id, [...(onHubs.get(s.id) ?? []), h.metadata.name ?? ''].sort());
    }
  }
  for (const c of connectors) {
    const verdict = decide(c, hubs, secrets);
    const rendered = onHubs.get(`${NS}/${c.metadata.name ?? ''}`) ?? [];
    if (verdict.status === 'True') assert.equal(verdict.message, `in the config of RelayHub ${rendered.join(', ')}`, c.metadata.name);
    else assert.deepEqual(rendered, [], `${c.metadata.name ?? ''} is ${verdict.reason} and on no hub`);
  }
  assert.deepEqual([...onHubs.keys()].sort(), [`${NS}/every`, `${NS}/named`, `${NS}/selected`, `${NS}/with-secret`]);
});

void test('authentication Secret not among the labelled Secrets: SecretNotFound names the label to add', () => {
  const connector = sendConnector({ authentication: { secretName: 'smarthost' } });
  const verdict = decideSendConnectorStatus({ namespace: NS, connector, hubs: [hub('east')], secrets: [], secretSelector: 'relayoperator.io/secret=true' });
  assert.deepEqual([verdict.status, verdict.reason], ['False', 'SecretNotFound']);
  assert.match(verdict.message, /Secret smarthost \(spec\.authentication\.secretName\) not found in namespace mail among the Secrets labelled relayoperator\.io\/secret=true/);
  assert.match(verdict.message, /kubectl label secret -n mail smarthost relayoperator\.io\/secret=true/);
});

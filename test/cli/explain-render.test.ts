/*
 * `relay-operator explain` and `render` on the examples: the connector a client gets, its
 * rights with their sources, each decision with the reply, and the rendered listeners.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../support/cli.ts';

const SEED = ['--manifests', 'examples/two-hubs-one-connector.yaml'];

test('explain: a copier at the top end of an a-b range relays through both hubs', async () => {
  for (const [hub, ip] of [['hub-east-a', '192.168.1.17'], ['hub-east-b', '192.168.1.18']]) {
    const result = await runCli(['explain', ...SEED, '--hub', hub!, '--client', '192.168.1.101', '--to', `${ip!}:25`, '--mail-from', 'scanner@contoso.com', '--rcpt', 'someone@elsewhere.example']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /connector mail\/copiers \(matched entry 192\.168\.1\.100-192\.168\.1\.101, 2 addresses/);
    assert.match(result.stdout, /\+ AcceptAnyRecipient\s+permission Anonymous allow/);
    assert.match(result.stdout, /RCPT TO:<someone@elsewhere\.example>\s+250 2\.1\.5/);
  }
});

test('explain: a client outside every range is refused at connect with 554 5.7.1', async () => {
  const result = await runCli(['explain', ...SEED, '--hub', 'hub-east-a', '--client', '192.168.1.102', '--to', '192.168.1.17:25']);
  assert.equal(result.status, 3, 'a refusal exits 3');
  assert.match(result.stdout, /no connector on this listener accepts it \(noMatchingRange\)/);
  assert.match(result.stdout, /^connect\s+554 5\.7\.1 /m);
});

test('explain: without the relay right RCPT outside the accepted domains gets 550 5.7.54, inside them 250', async () => {
  const manifests = ['--manifests', 'test/cli/fixtures/no-relay-right.yaml'];
  const result = await runCli(['explain', ...manifests, '--hub', 'hub', '--client', '10.1.2.3', '--to', '10.0.0.25:25', '--mail-from', 'app@partner.example', '--rcpt', 'x@elsewhere.example', '--rcpt', 'y@contoso.com']);
  assert.equal(result.status, 3, 'one refused RCPT makes the session a refusal: exit 3');
  assert.match(result.stdout, /RCPT TO:<x@elsewhere\.example>\s+550 5\.7\.54 Unable to relay recipient in non-accepted domain/);
  assert.match(result.stdout, /RCPT TO:<y@contoso\.com>\s+250 2\.1\.5/);
  assert.doesNotMatch(result.stdout, /\+ AcceptAnyRecipient/);
});

test('explain --exit-zero reports a refusal with exit 0; nothing listening is a refusal too', async () => {
  const refusedAtConnect = ['explain', ...SEED, '--hub', 'hub-east-a', '--client', '192.168.1.102', '--to', '192.168.1.17:25'];
  const kept = await runCli([...refusedAtConnect, '--exit-zero']);
  assert.equal(kept.status, 0, kept.stderr);
  assert.match(kept.stdout, /^connect\s+554 5\.7\.1 /m);
  const nothingListens = await runCli(['explain', ...SEED, '--hub', 'hub-east-a', '--client', '192.168.1.101', '--to', '192.168.1.17:2525']);
  assert.equal(nothingListens.status, 3);
  assert.match(nothingListens.stdout, /nothing listens/);
});

test('render prints the effective config: listener per hub address, usage defaults applied', async () => {
  const result = await runCli(['render', ...SEED, '--hub', 'hub-east-a']);
  assert.equal(result.status, 0, result.stderr);
  const config = JSON.parse(result.stdout) as { apiVersion: string; listeners: Array<{ endpoint: string; connectorIds: string[] }>; connectors: Array<{ id: string; authMechanisms: string[]; limits: { maxMessageSize: number } }> };
  assert.equal(config.apiVersion, 'relay.relayoperator.io/v1');
  assert.deepEqual(config.listeners.map((l) => [l.endpoint, l.connectorIds]), [['192.168.1.17:25', ['mail/copiers']]]);
  assert.deepEqual(config.connectors[0]?.authMechanisms, ['TLS']);
  assert.equal(config.connectors[0]?.limits.maxMessageSize, 36 * 1024 * 1024);
});

test('render names the file, object and field of a manifest error and exits 2', async () => {
  const result = await runCli(['render', '--manifests', 'test/api/fixtures/invalid/range-bad-address.yaml', '--hub', 'hub-a']);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /range-bad-address\.yaml: ReceiveConnector fixtures\/bad: spec\.remoteIPRanges\[0\]: .*\(rule remoteIPRangeSyntax\)/);
});

test('a bad flag names itself and exits 2', async () => {
  const result = await runCli(['operator', '--metrics-addr', 'nowhere']);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /--metrics-addr must be HOST:PORT/);
});

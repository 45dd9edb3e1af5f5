/*
 * The API as the API server sees it: CRDs install and become Established, every example is
 * accepted, every invalid fixture is refused by the API server AND by `relay-operator validate`
 * with the rule named, `kubectl explain` shows descriptions, printer columns show.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testCluster, type TestCluster } from '../support/cluster.ts';
import { runCli } from '../support/cli.ts';

const INVALID = 'test/api/fixtures/invalid';
const OFFLINE_ONLY = 'test/api/fixtures/offline-only';
const EXAMPLES = 'examples';

interface Fixture { file: string; rule: string; field: string; apiserver: string }

function fixtures(dir: string): Fixture[] {
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((name) => {
    const file = join(dir, name);
    const text = readFileSync(file, 'utf8');
    const header = (key: string): string | undefined => new RegExp(`^# ${key}: (.*)$`, 'm').exec(text)?.[1];
    const rule = header('rule');
    const field = header('field');
    assert.ok(rule && field, `${file}: header needs # rule: and # field:`);
    return { file, rule, field, apiserver: header('apiserver') ?? `(rule ${rule})` };
  });
}

let cluster: TestCluster;

before(async () => {
  cluster = await testCluster();
  cluster.kubectl(['apply', '--server-side', '-f', 'crds/']);
  cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...['relayhubs', 'receiveconnectors', 'accepteddomains', 'sendconnectors'].map((p) => `crd/${p}.relayoperator.io`)]);
  for (const ns of ['mail', 'fixtures']) cluster.tryKubectl(['create', 'namespace', ns]);
});

after(async () => {
  await cluster?.stop();
});

test('the four CRDs are Established and listed under the category relay', () => {
  const out = cluster.kubectl(['get', 'crd', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}']);
  for (const name of ['relayhubs', 'receiveconnectors', 'accepteddomains', 'sendconnectors']) {
    assert.match(out, new RegExp(`^${name}\\.relayoperator\\.io=True$`, 'm'));
  }
  const resources = cluster.kubectl(['api-resources', '--categories=relay', '-o', 'name']);
  assert.deepEqual(resources.trim().split('\n').sort(), ['accepteddomains.relayoperator.io', 'receiveconnectors.relayoperator.io', 'relayhubs.relayoperator.io', 'sendconnectors.relayoperator.io']);
});

test('every example is accepted by the API server and by validate', async () => {
  for (const name of readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'))) {
    const file = join(EXAMPLES, name);
    const server = cluster.tryKubectl(['apply', '-f', file]);
    assert.equal(server.status, 0, `${file}: API server refused it:\n${server.stderr}`);
    const offline = await runCli(['validate', file]);
    assert.equal(offline.status, 0, `${file}: validate refused it:\n${offline.stderr}`);
  }
});

for (const fixture of fixtures(INVALID)) {
  test(`invalid ${fixture.file}: refused by the API server and validate (rule ${fixture.rule})`, async () => {
    const server = cluster.tryKubectl(['apply', '--dry-run=server', '-f', fixture.file]);
    assert.notEqual(server.status, 0, `API server accepted ${fixture.file}`);
    assert.ok(server.stderr.includes(fixture.apiserver), `API server message lacks "${fixture.apiserver}":\n${server.stderr}`);
    assert.ok(server.stderr.includes(fixture.field.replace(/^spec$/, 'spec')), `API server message lacks field ${fixture.field}:\n${server.stderr}`);
    const offline = await runCli(['validate', fixture.file]);
    assert.equal(offline.status, 2, `validate exit status for ${fixture.file}:\n${offline.stderr}`);
    const line = offline.stderr.split('\n').find((l) => l.includes(`(rule ${fixture.rule})`));
    assert.ok(line, `validate did not name rule ${fixture.rule}:\n${offline.stderr}`);
    assert.ok(line.includes(fixture.file) && line.includes(`: ${fixture.field}: `), `validate line lacks file or field ${fixture.field}: ${line}`);
  });
}

for (const fixture of fixtures(OFFLINE_ONLY)) {
  test(`cross-object ${fixture.file}: refused by validate (rule ${fixture.rule})`, async () => {
    const offline = await runCli(['validate', fixture.file]);
    assert.equal(offline.status, 2, offline.stderr);
    const line = offline.stderr.split('\n').find((l) => l.includes(`(rule ${fixture.rule})`));
    assert.ok(line && line.includes(`: ${fixture.field}: `), `validate did not name ${fixture.field} and rule ${fixture.rule}:\n${offline.stderr}`);
  });
}

test('kubectl explain shows the descriptions of the CRD', () => {
  const limits = cluster.kubectl(['explain', 'receiveconnector.spec.limits']);
  assert.match(limits, /Size, count, rate and time limits of the connector/);
  assert.match(limits, /maxMessageSize/);
  assert.match(limits, /greetDelay/);
  const field = cluster.kubectl(['explain', 'receiveconnector.spec.limits.tarpitInterval']);
  assert.match(field, /Delay before a failure reply/);
  assert.match(cluster.kubectl(['explain', 'relayhub.spec.addresses']), /one Service each/);
});

test('printer columns show in kubectl get', () => {
  cluster.kubectl(['apply', '-f', join(EXAMPLES, 'two-hubs-one-connector.yaml')]);
  const connectors = cluster.kubectl(['get', 'receiveconnectors', '-n', 'mail']);
  assert.match(connectors, /^NAME\s+HUBS\s+BINDINGS\s+RANGES\s+READY\s+AGE$/m);
  assert.match(connectors, /^copiers\s+.*\["relay:25"\]/m);
  const hubs = cluster.kubectl(['get', 'rhub', '-n', 'mail']);
  assert.match(hubs, /^NAME\s+REPLICAS\s+READY\s+CURRENT\s+STATUS\s+AGE$/m);
  assert.match(hubs, /^hub-east-a\s+2\s/m);
  const all = cluster.kubectl(['get', 'relay', '-n', 'mail', '-o', 'name']);
  assert.match(all, /^relayhub\.relayoperator\.io\/hub-east-a$/m);
  assert.match(all, /^receiveconnector\.relayoperator\.io\/copiers$/m);
  assert.match(all, /^accepteddomain\.relayoperator\.io\/contoso$/m);
});

test('defaults are applied by the API server as the CRD documents', () => {
  const usage = cluster.kubectl(['get', 'receiveconnector', 'copiers', '-n', 'mail', '-o', 'jsonpath={.spec.enabled} {.spec.protocolLogging} {.spec.bareLineFeeds}']);
  assert.equal(usage, 'true Verbose Normalize');
});

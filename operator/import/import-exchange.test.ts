/*
 * The importer on the three fixture exports: the output validates, servers are merged or kept
 * apart as their settings say, the guardrails are written (never silent), and every exported
 * property is either mapped or in the report with a reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { ReceiveConnector, SendConnector } from '../api/types.generated.ts';
import { validateManifests } from '../validate/validate.ts';
import { identityOf, readExportFile } from './exchange-export.ts';
import { RECEIVE_CONNECTOR_MAPPED_PROPERTIES } from './exchange-receive-connector.ts';
import { hubsYaml, importFixture, writeImport, type FixtureVersion } from './testdata/fixtures.ts';

const VERSIONS: FixtureVersion[] = ['exchange2007', 'exchange2016', 'exchange2019'];

function objectsOf<T>(text: string | undefined): T[] {
  return parseAllDocuments(text ?? '').map((d) => d.toJS() as T);
}
const connectors = (version: FixtureVersion): Map<string, ReceiveConnector> =>
  new Map(objectsOf<ReceiveConnector>(importFixture(version).files.get('receive-connectors.yaml')).map((c) => [c.metadata.name ?? '', c]));

for (const version of VERSIONS) {
  test(`${version}: the output passes validate, alone and with hubs labelled as the report asks`, (t) => {
    const result = importFixture(version);
    assert.deepEqual(result.renderProblems, []);
    for (const hubs of [undefined, hubsYaml(version)]) {
      const { dir, remove } = writeImport(result, hubs);
      t.after(remove);
      const validated = validateManifests([dir]);
      assert.deepEqual(validated.problems.filter((p) => p.severity === 'error'), []);
    }
  });

  test(`${version}: every property of every receive connector is mapped or reported with a reason, in the YAML too`, () => {
    const result = importFixture(version);
    const yaml = result.files.get('receive-connectors.yaml') ?? '';
    const records = readExportFile(join(import.meta.dirname, 'testdata', version, 'receive-connectors.json'));
    for (const record of records) {
      const identity = identityOf(record);
      assert.ok(identity);
      const subject = `ReceiveConnector ${identity.server}\\${identity.name}`;
      const lines = result.report.linesFor([subject]).join('\n');
      // A connector left out as Exchange plumbing is reported as a whole, with the reason.
      if (/: not written: /.test(lines)) continue;
      for (const property of Object.keys(record)) {
        if (RECEIVE_CONNECTOR_MAPPED_PROPERTIES.has(property.toLowerCase())) continue;
        assert.match(lines, new RegExp(`\\b${property}\\b`), `${subject}: ${property} neither mapped nor reported`);
        assert.ok(yaml.includes(property), `${property} missing from the YAML comments`);
      }
    }
  });
}

test('2007: method 1 on its own IP; Default keeps answering on that IP and lets the relay connector narrow it', () => {
  const byName = connectors('exchange2007');
  const relay = byName.get('relay')?.spec;
  assert.deepEqual(relay?.bindings, ['192.168.1.17:25']);
  assert.deepEqual(relay?.remoteIPRanges, ['192.168.1.100', '192.168.1.101-192.168.1.110', '192.168.2.0/24']);
  assert.deepEqual(relay?.permissions, [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }]);
  assert.equal(relay?.limits?.maxMessageSize, '20Mi');
  assert.equal(relay?.banner, '220 relay.contoso.com ESMTP');
  assert.deepEqual(byName.get('relay')?.metadata.annotations, { 'relayoperator.io/exchange-source': 'HUB07\\Relay HUB07', 'relayoperator.io/exchange-comment': 'copiers and the ERP server, ticket 4711' });
  const def = byName.get('default')?.spec;
  assert.deepEqual(def?.bindings, ['0.0.0.0:25', '192.168.1.17:25']);
  assert.equal(def?.allowNarrowerConnectors, true);
  assert.deepEqual(def?.permissionGroups, ['AuthenticatedUsers', 'TrustedServers']);
  assert.deepEqual(def?.authMechanisms, ['TLS', 'BasicAuth', 'BasicAuthRequireTLS']);
  assert.equal(def?.protocolLogging, 'Verbose');
  assert.equal(def?.limits?.maxHeaderSize, '64Ki');
  assert.equal(def?.limits?.messageRateLimit, 0);
});

test('2016: equal connectors on EX1 and EX2 merge into one with the hub selector; the merge is reported', () => {
  const result = importFixture('exchange2016');
  const byName = connectors('exchange2016');
  assert.deepEqual([...byName.keys()].sort(), ['anonymous-relay', 'client-frontend', 'default-frontend', 'trusted-app-relay']);
  for (const name of ['anonymous-relay', 'client-frontend', 'default-frontend']) assert.deepEqual(byName.get(name)?.spec.hubSelector, { matchLabels: { site: 'east' } });
  assert.equal(byName.get('anonymous-relay')?.metadata.annotations?.['relayoperator.io/exchange-source'], 'EX1\\Anonymous Relay, EX2\\Anonymous Relay');
  assert.match(result.report.lines().join('\n'), /merged Server = EX1, EX2: equal settings on 2 servers: merged into ReceiveConnector anonymous-relay/);
  assert.match(result.report.lines().join('\n'), /Outbound Proxy Frontend EX2: unmapped TransportRole .*not written/);
  const trusted = byName.get('trusted-app-relay')?.spec;
  assert.deepEqual(trusted?.hubSelector, { matchLabels: { site: 'east' }, matchExpressions: [{ key: 'relayoperator.io/exchange-server', operator: 'In', values: ['ex1'] }] });
  assert.deepEqual(trusted?.authMechanisms, ['TLS', 'ExternalAuthoritative']);
  assert.deepEqual(trusted?.permissions, [{ principal: 'TrustedServers', deny: ['AcceptOrganizationHeaders'] }]);
  const anonymous = byName.get('anonymous-relay')?.spec;
  assert.deepEqual(anonymous?.remoteIPRanges, ['10.10.5.0/24', '10.10.6.20-10.10.6.40', '10.10.7.5']);
  assert.equal(anonymous?.limits?.messageRateLimit, 600);
  assert.equal(anonymous?.limits?.connectionTimeout, '10m');
  assert.equal(anonymous?.fqdn, undefined);
});

test('2019: 1,500 ranges and IPv6 in one connector; the drifted copy is kept apart and the difference named', () => {
  const result = importFixture('exchange2019');
  const byName = connectors('exchange2019');
  const mbx1 = byName.get('app-relay-mbx1')?.spec;
  assert.equal(mbx1?.remoteIPRanges?.length, 1502);
  assert.ok(mbx1?.remoteIPRanges?.includes('2001:db8:10::/48'));
  assert.ok(mbx1?.remoteIPRanges?.includes('fe80::20c:29ff:fe12:3456'), 'zone id dropped');
  assert.equal(byName.get('app-relay-mbx2')?.spec.remoteIPRanges?.length, 1503);
  const report = result.report.lines().join('\n');
  assert.match(report, /MBX1\\App Relay: action Server = MBX1: differs from MBX2's copy in remoteIPRanges: written as a separate connector/);
  assert.match(report, /1502 entries: past Exchange's practical limit/);
  assert.match(report, /written as fe80::20c:29ff:fe12:3456: the IPv6 zone id/);
  assert.match(report, /unmapped ACE allow S-1-5-21-3623811015-3361044348-30300820-1013 = ms-Exch-SMTP-Submit: an unresolved SID/);
});

test('2019: deny ACEs come across as denials (deny wins), for well-known principals and users', () => {
  const byName = connectors('exchange2019');
  assert.deepEqual(byName.get('default-frontend')?.spec.permissions, [{ principal: 'Anonymous', deny: ['AcceptAuthoritativeDomainSender'] }]);
  assert.deepEqual(byName.get('client-frontend')?.spec.permissions, [{ principal: 'user:svc-backup', deny: ['AcceptAnyRecipient'] }]);
});

test('2019: the open relay is written with allowOpenRelay and an OPEN RELAY line in the report and the YAML', () => {
  const result = importFixture('exchange2019');
  const open = connectors('exchange2019').get('legacy-open-relay')?.spec;
  assert.equal(open?.allowOpenRelay, true);
  assert.deepEqual(open?.authMechanisms, ['None']);
  assert.match(result.report.lines().join('\n'), /Legacy Open Relay: action RemoteIPRanges = 1 entries: OPEN RELAY, as it was in Exchange/);
  assert.match(result.files.get('receive-connectors.yaml') ?? '', /# +action RemoteIPRanges = 1 entries: OPEN RELAY/);
});

test('2019: the disabled connector is written disabled and reported; the disabled send connector is reported, not written', () => {
  const result = importFixture('exchange2019');
  assert.equal(connectors('exchange2019').get('old-scanner-relay')?.spec.enabled, false);
  const report = result.report.lines().join('\n');
  assert.match(report, /Old Scanner Relay: action Enabled = false: disabled in Exchange: written with enabled: false/);
  assert.match(report, /SendConnector Fax Gateway: action Enabled = false: disabled in Exchange: not written/);
  const sends = objectsOf<SendConnector>(result.files.get('send-connectors.yaml'));
  assert.deepEqual(sends.map((s) => s.metadata.name), ['to-internet-via-provider']);
  assert.deepEqual(sends[0]?.spec.smartHosts, ['203.0.113.25', 'smtp2.provider.example']);
  assert.deepEqual(sends[0]?.spec.tls, { mode: 'Required', verify: true });
  assert.deepEqual(sends[0]?.spec.authentication, { secretName: 'to-internet-via-provider-smarthost' });
  assert.match(result.files.get('send-connectors.yaml') ?? '', /# from SendConnector Fax Gateway \(no object written\):/);
});

test('accepted domains: types by name and by number, subdomain matching as a wildcard, the default', () => {
  const domains = (version: FixtureVersion) => objectsOf<{ spec: unknown }>(importFixture(version).files.get('accepted-domains.yaml')).map((d) => d.spec);
  assert.deepEqual(domains('exchange2016'), [
    { domainName: 'contoso.com', domainType: 'Authoritative', default: true },
    { domainName: '*.fabrikam.com', domainType: 'InternalRelay', default: false },
  ]);
  assert.deepEqual(domains('exchange2019')[1], { domainName: '*.partner.example', domainType: 'ExternalRelay', default: false });
});

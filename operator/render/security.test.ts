/*
 * The open-relay guardrails of issue 17 item 3, rule by rule, through renderHub (what the
 * operator, `hub` and `validate` load) and the pure checks: a connector that narrows another to
 * grant more is left out and the wider one keeps its clients; unauthenticated relay to wide or
 * public ranges needs allowOpenRelay; relay connectors keep protocol logging; accepted domains
 * at or above a public suffix are left out.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AcceptedDomain, ReceiveConnector, RelayHub } from '../api/types.generated.ts';
import { decideAcceptedDomainStatus } from '../controllers/accepted-domain-controller.ts';
import type { NamespaceObjects } from './inputs.ts';
import { renderHub, type RenderResult } from './render.ts';
import { domainPublicSuffixProblem, narrowerGrantsMore, openRelayProblem, protocolLoggingProblem } from './security.ts';

const NS = 'mail';
const hub: RelayHub = { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: 'hub', namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { fqdn: 'hub.example.test' } };

type Spec = ReceiveConnector['spec'];
function connector(name: string, spec: Partial<Spec>, createdAt = '2026-01-02T00:00:00Z'): ReceiveConnector {
  return { apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name, namespace: NS, creationTimestamp: createdAt, generation: 1 }, spec: { hubs: ['hub'], bindings: ['0.0.0.0:25'], ...spec } };
}
function domain(name: string, domainName: string): AcceptedDomain {
  return { apiVersion: 'relayoperator.io/v1alpha1', kind: 'AcceptedDomain', metadata: { name, namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { domainName } };
}
function render(connectors: ReceiveConnector[], domains: AcceptedDomain[] = []): RenderResult {
  const objects: NamespaceObjects = { namespace: NS, hubs: [hub], receiveConnectors: connectors, acceptedDomains: domains, sendConnectors: [], secrets: [] };
  return renderHub(hub, objects, { secretFile: (secret, key) => `/secrets/${secret}/${key}` });
}
const loadedIds = (result: RenderResult): string[] => result.config.connectors.map((c) => c.id).sort();
const statusOf = (result: RenderResult, name: string) => result.connectors.find((c) => c.connectorId === `${NS}/${name}`);

const internet = (extra: Partial<Spec> = {}, createdAt?: string): ReceiveConnector => connector('internet', { usage: 'Internet', ...extra }, createdAt ?? '2026-01-01T00:00:00Z');
/** The connector of the issue, with protocol logging left on (else the CEL rule refuses it first). */
const takeover = (extra: Partial<Spec> = {}, createdAt?: string): ReceiveConnector => connector('takeover', {
  usage: 'Custom', remoteIPRanges: ['0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1'], permissionGroups: ['TrustedServers'], authMechanisms: ['ExternalAuthoritative'], ...extra,
}, createdAt);
const anonymousRelay = { permissionGroups: ['AnonymousUsers' as const], permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient' as const] }] };

describe('narrowerConnectorGrantsMore', () => {
  test('the takeover of issue 17 (even with allowOpenRelay) is left out; the Internet connector keeps every client', () => {
    const result = render([internet(), takeover({ allowOpenRelay: true })]);
    assert.deepEqual(loadedIds(result), ['mail/internet']);
    const status = statusOf(result, 'takeover');
    assert.equal(status?.loaded, false);
    assert.equal(status?.rule, 'narrowerConnectorGrantsMore');
    assert.equal(status?.reason, 'NarrowerConnectorGrantsMore');
    assert.equal(status?.conflictsWith, 'mail/internet');
    assert.match(status?.message ?? '', /entry 0\.0\.0\.0\/1 lies inside mail\/internet's entry 0\.0\.0\.0\/0.*an unauthenticated client AcceptAnyRecipient, BypassAntiSpam/);
    assert.deepEqual(result.config.listeners.map((l) => l.connectorIds), [['mail/internet']]);
    const problem = result.problems.find((p) => p.object === 'ReceiveConnector mail/takeover');
    assert.equal(problem?.field, 'spec.remoteIPRanges');
  });

  test('left out whatever the creation order: a narrower connector created first does not keep the clients', () => {
    const result = render([internet({}, '2026-03-01T00:00:00Z'), connector('apps', { remoteIPRanges: ['192.168.0.0/16'], ...anonymousRelay }, '2026-01-01T00:00:00Z')]);
    assert.deepEqual(loadedIds(result), ['mail/internet']);
    assert.equal(statusOf(result, 'apps')?.conflictsWith, 'mail/internet');
  });

  test('allowNarrowerConnectors on the wider connector lets a narrow relay connector in (and only then)', () => {
    const apps = connector('apps', { remoteIPRanges: ['192.168.0.0/16'], ...anonymousRelay });
    assert.deepEqual(loadedIds(render([internet(), apps])), ['mail/internet']);
    assert.deepEqual(loadedIds(render([internet({ allowNarrowerConnectors: true }), apps])), ['mail/apps', 'mail/internet']);
  });

  test('a narrower connector that grants no more needs no permission (same or fewer rights)', () => {
    const same = connector('same', { remoteIPRanges: ['192.168.0.0/16'], permissionGroups: ['AnonymousUsers'] });
    const fewer = connector('fewer', { remoteIPRanges: ['10.0.0.0/8'], permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Anonymous', deny: ['AcceptAnySender'] }] });
    // one right more is more: the same connector with BypassAntiSpam for Anonymous is left out
    const more = connector('more', { remoteIPRanges: ['172.16.0.0/12'], permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Anonymous', allow: ['BypassAntiSpam'] }] });
    const result = render([internet(), same, fewer, more]);
    assert.deepEqual(loadedIds(result), ['mail/fewer', 'mail/internet', 'mail/same']);
    assert.match(statusOf(result, 'more')?.message ?? '', /grants an unauthenticated client BypassAntiSpam, which/);
  });

  test('a permissive connector in between does not launder rights: every wider connector is asked', () => {
    const middle = connector('middle', { remoteIPRanges: ['0.0.0.0/1'], permissionGroups: ['AnonymousUsers'], allowNarrowerConnectors: true });
    const inner = connector('inner', { remoteIPRanges: ['10.0.0.0/8'], ...anonymousRelay });
    const result = render([internet(), middle, inner]);
    assert.deepEqual(loadedIds(result), ['mail/internet', 'mail/middle']);
    assert.equal(statusOf(result, 'inner')?.conflictsWith, 'mail/internet');
  });

  test('MutualTLS narrowing: a certificate holder would become TrustedServers, which the Internet connector never grants', () => {
    const internal = connector('internal', { usage: 'Internal', remoteIPRanges: ['10.0.0.0/8'], tls: { clientCASecretName: 'ca' } });
    const objects = [internet(), internal];
    const result = renderHub(hub, { namespace: NS, hubs: [hub], receiveConnectors: objects, acceptedDomains: [], sendConnectors: [], secrets: [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'ca' }, stringData: { 'ca.crt': 'x' } }] }, { secretFile: () => '/x' });
    assert.equal(statusOf(result, 'internal')?.rule, 'narrowerConnectorGrantsMore');
    assert.match(statusOf(result, 'internal')?.message ?? '', /a client with a verified certificate/);
  });

  test('another listener is another connector\'s business: a relay connector on port 587 is not compared', () => {
    const submission = connector('submission', { usage: 'Client', bindings: ['0.0.0.0:587'], remoteIPRanges: ['10.0.0.0/8'] });
    assert.deepEqual(loadedIds(render([internet(), submission])), ['mail/internet', 'mail/submission']);
    // bound to port 25 as well, it shares the Internet connector's listener and is left out there
    const both = connector('submission', { usage: 'Client', bindings: ['0.0.0.0:587', '0.0.0.0:25'], remoteIPRanges: ['10.0.0.0/8'] });
    assert.equal(statusOf(render([internet(), both]), 'submission')?.rule, 'narrowerConnectorGrantsMore');
  });

  test('rights are compared per credential, the client withholding one when that gives it more', () => {
    const result = render([
      internet(),
      // authenticated users relay here, and on the Internet connector they cannot even log in
      connector('auth', { remoteIPRanges: ['10.0.0.0/8'], permissionGroups: ['AuthenticatedUsers'], authMechanisms: ['TLS', 'BasicAuth'] }),
    ]);
    assert.match(statusOf(result, 'auth')?.message ?? '', /grants a password user AcceptAnyRecipient, BypassAntiSpam/);
    const wide = render([internet()]).config.connectors[0];
    const narrowConfig = render([connector('deny', { remoteIPRanges: ['10.0.0.0/8'], permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'], deny: ['AcceptAnyRecipient'] }] })]).config.connectors[0];
    assert.ok(wide && narrowConfig);
    assert.equal(narrowerGrantsMore(narrowConfig, wide), null, 'a right denied again is not granted');
  });
});

describe('openRelayNeedsAllowOpenRelay', () => {
  const anon = (ranges: string[], extra: Partial<Spec> = {}): Partial<Spec> => ({ usage: 'Custom', remoteIPRanges: ranges, ...anonymousRelay, ...extra });
  const ea = (ranges: string[], extra: Partial<Spec> = {}): Partial<Spec> => ({ usage: 'Custom', remoteIPRanges: ranges, permissionGroups: ['TrustedServers'], authMechanisms: ['TLS', 'ExternalAuthoritative'], ...extra });

  test('anonymous relay: wider than an IPv4 /8 or an IPv6 /32 is refused, a /8 and a /32 are not', () => {
    assert.equal(openRelayProblem(anon(['10.0.0.0/8', '2001:db8::/32'])), null);
    assert.equal(openRelayProblem(anon(['10.0.0.0/8', '10.0.0.0-11.0.0.0']))?.field, 'spec.remoteIPRanges[1]');
    assert.equal(openRelayProblem(anon(['fd00::/8']))?.field, 'spec.remoteIPRanges[0]');
    assert.match(openRelayProblem(anon(['0.0.0.0/1', '128.0.0.0/1']))?.message ?? '', /entry 0\.0\.0\.0\/1 is wider than an IPv4 \/8 \(2 such entries\)/);
    assert.equal(openRelayProblem(anon(['0.0.0.0/0'], { allowOpenRelay: true })), null);
  });

  test('ExternalAuthoritative: any publicly routable address is refused; private, loopback and documentation ranges are not', () => {
    assert.equal(openRelayProblem(ea(['10.0.0.0/8', '192.168.1.0/24', '127.0.0.1', '192.0.2.0/24', 'fd12:3456::/48', '::ffff:10.1.2.3'])), null);
    assert.equal(openRelayProblem(ea(['10.0.0.0/8', '198.252.206.4']))?.field, 'spec.remoteIPRanges[1]');
    assert.equal(openRelayProblem(ea(['2a00:1450::/32']))?.rule, 'openRelayNeedsAllowOpenRelay');
    assert.equal(openRelayProblem(ea(['172.16.0.0/11']))?.field, 'spec.remoteIPRanges[0]', '172.16/11 reaches past the private 172.16/12');
    assert.equal(openRelayProblem(ea(['198.252.206.4'], { allowOpenRelay: true })), null);
  });

  test('usage defaults count: Internet with an anonymous relay grant covers everything', () => {
    const problem = openRelayProblem({ usage: 'Internet', permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }] });
    assert.equal(problem?.field, 'spec.remoteIPRanges');
    assert.match(problem?.message ?? '', /usage Internet default/);
  });

  test('relay that needs a password or a certificate is no open relay', () => {
    assert.equal(openRelayProblem({ usage: 'Client', remoteIPRanges: ['0.0.0.0/0', '::/0'] }), null);
    assert.equal(openRelayProblem({ usage: 'Internal', remoteIPRanges: ['0.0.0.0/0'] }), null);
  });

  test('render leaves such a connector out with reason OpenRelayNotAllowed', () => {
    const result = render([connector('wide', anon(['0.0.0.0/0']))]);
    assert.deepEqual(loadedIds(result), []);
    assert.equal(statusOf(result, 'wide')?.reason, 'OpenRelayNotAllowed');
    assert.deepEqual(loadedIds(render([connector('wide', anon(['0.0.0.0/0'], { allowOpenRelay: true }))])), ['mail/wide']);
  });
});

describe('relayNeedsProtocolLogging', () => {
  test('None is refused where the connector grants AcceptAnyRecipient, and allowed where it does not', () => {
    assert.equal(protocolLoggingProblem({ usage: 'Custom', ...anonymousRelay, protocolLogging: 'None' })?.field, 'spec.protocolLogging');
    assert.ok(protocolLoggingProblem({ usage: 'Client', protocolLogging: 'None' }), 'Client: AuthenticatedUsers by default');
    assert.ok(protocolLoggingProblem({ usage: 'Custom', permissionGroups: ['TrustedServers'], protocolLogging: 'None' }));
    assert.equal(protocolLoggingProblem({ usage: 'Internet', protocolLogging: 'None' }), null);
    assert.equal(protocolLoggingProblem({ usage: 'Custom', ...anonymousRelay, protocolLogging: 'Verbose' }), null);
  });

  test('render leaves out a stored relay connector without protocol logging (objects older than the CEL rule)', () => {
    const result = render([connector('quiet', { usage: 'Custom', remoteIPRanges: ['10.0.0.0/8'], ...anonymousRelay, protocolLogging: 'None' })]);
    assert.deepEqual(loadedIds(result), []);
    assert.equal(statusOf(result, 'quiet')?.reason, 'ProtocolLoggingRequired');
  });
});

describe('domainPublicSuffix', () => {
  test('a public suffix, or a wildcard over one, is refused (ICANN and private sections)', () => {
    for (const name of ['com', '*.com', 'co.uk', '*.co.uk', '*.github.io', 'COM.', '*.test']) {
      assert.equal(domainPublicSuffixProblem(name)?.rule, 'domainPublicSuffix', name);
    }
    for (const name of ['contoso.com', '*.contoso.com', '*.example.co.uk', 'example.test', '*.wild.example.test', 'relay.local', 'pages.github.io']) {
      assert.equal(domainPublicSuffixProblem(name), null, name);
    }
  });

  test('render leaves the domain out of the config; its status says PublicSuffixDomain', () => {
    const domains = [domain('contoso', 'contoso.com'), domain('every-co-uk', '*.co.uk')];
    const result = render([], domains);
    assert.deepEqual(result.config.acceptedDomains.map((d) => d.domain), ['contoso.com']);
    assert.equal(result.problems.find((p) => p.object === 'AcceptedDomain mail/every-co-uk')?.rule, 'domainPublicSuffix');
    const verdict = decideAcceptedDomainStatus({ namespace: NS, domain: domains[1] ?? domain('x', 'x'), domains, hubs: [hub] });
    assert.equal(verdict.status, 'False');
    assert.equal(verdict.reason, 'PublicSuffixDomain');
  });
});

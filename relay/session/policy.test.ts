// Policy as a golden table (the Postfix habit): one row per situation, the exact reply line
// (or `ok REASON`) a client sees. Rights come from resolveSessionRights, so the rows also pin
// the group grants of api.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnectorConfig } from '../config/schema.ts';
import { decideAuth, decideDataEnd, decideDataSize, decideHelo, decideHopCount, decideMailFrom, decideRcptTo, replyLine } from './policy.ts';
import { REPLIES, replyText, VERB_POLICY_REPLIES } from './replies.ts';
import type { Decision, PolicyContext } from './policy.ts';
import { resolveSessionRights } from './rights.ts';
import type { SessionIdentity } from './rights.ts';
import { ACCEPTED_DOMAINS, connector } from '../../test/support/session-fixtures.ts';

const internet = connector({ usage: 'Internet', permissionGroups: ['AnonymousUsers'] });
const anonRelay = connector({
  permissionGroups: ['AnonymousUsers'],
  permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'], deny: [] }],
});
const hardened = connector({
  permissionGroups: ['AnonymousUsers'],
  permissions: [{ principal: 'Anonymous', allow: [], deny: ['AcceptAuthoritativeDomainSender'] }],
});
const client = connector({
  usage: 'Client',
  permissionGroups: ['AuthenticatedUsers'],
  authMechanisms: ['TLS', 'BasicAuth', 'BasicAuthRequireTLS'],
  limits: { maxRecipientsPerMessage: 3, maxMessageSize: 1000 },
});
const clientPlain = connector({ permissionGroups: ['AuthenticatedUsers'], authMechanisms: ['TLS', 'BasicAuth'] });
const custom = connector();
const trusted = connector({ permissionGroups: ['TrustedServers'], authMechanisms: ['TLS', 'ExternalAuthoritative'], limits: { maxMessageSize: 1000 } });
const requireTls = connector({ permissionGroups: ['AnonymousUsers'], tls: { files: null, requireTLS: true, clientCAFile: null } });
const strictHelo = connector({ permissionGroups: ['AnonymousUsers'], requireEHLODomain: true });
// Send-As: the Client connector, with bob allowed AcceptAnySender (not the authoritative-domain right)
const sendAs = connector({
  usage: 'Client',
  permissionGroups: ['AuthenticatedUsers'],
  authMechanisms: ['TLS', 'BasicAuth'],
  permissions: [{ principal: 'user:bob', allow: ['AcceptAnySender'], deny: [] }],
});
const sendAsOff = connector({ ...sendAs, senderCheck: { headerFrom: 'Off' } });
const BOB: SessionIdentity = { kind: 'Authenticated', user: 'bob' };
const noLimits = connector({ permissionGroups: ['AnonymousUsers'], limits: { maxMessageSize: 0, maxRecipientsPerMessage: 0, maxHopCount: 0 } });

const ANON: SessionIdentity = { kind: 'Anonymous' };
const ALICE: SessionIdentity = { kind: 'Authenticated', user: 'alice' };

function ctx(c: ConnectorConfig, id: SessionIdentity, extra: Partial<PolicyContext> = {}): PolicyContext {
  const base: PolicyContext = {
    connector: c,
    rights: resolveSessionRights(c, id).rights,
    acceptedDomains: ACCEPTED_DOMAINS,
    secure: false,
  };
  if (id.user !== undefined) {
    base.authenticatedUser = id.user;
    base.userAddresses = ['alice@contoso.com', 'Alice.Smith@Contoso.com'];
  }
  return { ...base, ...extra };
}

type Row = [name: string, run: () => Decision, expected: string];

const mail = (c: ConnectorConfig, id: SessionIdentity, mailFrom: string, extra: Partial<PolicyContext> & { declaredSize?: number } = {}) =>
  () => decideMailFrom({ ...ctx(c, id, extra), mailFrom, ...(extra.declaredSize === undefined ? {} : { declaredSize: extra.declaredSize }) });
const rcpt = (c: ConnectorConfig, id: SessionIdentity, rcptTo: string, recipientCount = 0) =>
  () => decideRcptTo({ ...ctx(c, id), rcptTo, recipientCount });
const auth = (c: ConnectorConfig, id: SessionIdentity, secure: boolean) => () => decideAuth(ctx(c, id, { secure }));
const size = (c: ConnectorConfig, id: SessionIdentity, bytes: number) => () => decideDataSize({ ...ctx(c, id), size: bytes });
const dataEnd = (
  c: ConnectorConfig,
  facts: Partial<{ bareLineFeedRejected: boolean; headerSizeExceeded: boolean; size: number; receivedCount: number; headers: string }>,
  id: SessionIdentity = ANON,
) => () => decideDataEnd({ ...ctx(c, id), bareLineFeedRejected: false, headerSizeExceeded: false, size: 100, receivedCount: 1, headers: 'Subject: x\r\n\r\n', ...facts });
/** The end of DATA of a message whose header block is `headers` (CRLF lines, blank line added). */
const headerEnd = (c: ConnectorConfig, id: SessionIdentity, ...lines: string[]) => dataEnd(c, { headers: `${lines.join('\r\n')}\r\n\r\n` }, id);
const helo = (c: ConnectorConfig, name: string) => () => decideHelo({ connector: c, helo: name });

const RELAY = '550 5.7.54 Unable to relay recipient in non-accepted domain';
const SPOOF = '550 5.7.1 Client does not have permissions to send as this sender';

const GOLDEN: Row[] = [
  // MAIL FROM: Submit
  ['custom connector without group: no Submit', mail(custom, ANON, 'a@example.org'), '530 5.7.1 Client was not authenticated'],
  ['client connector before AUTH: no Submit', mail(client, ANON, 'a@example.org'), '530 5.7.1 Client was not authenticated'],
  ['internet: foreign sender', mail(internet, ANON, 'a@example.org'), 'ok senderAccepted'],
  ['internet: null sender (bounce)', mail(internet, ANON, ''), 'ok nullSender'],
  ['internet: authoritative sender allowed by group', mail(internet, ANON, 'ceo@contoso.com'), 'ok senderAccepted'],
  // MAIL FROM: authoritative-domain sender
  ['hardened: authoritative sender', mail(hardened, ANON, 'ceo@contoso.com'), SPOOF],
  ['hardened: authoritative sender, case games', mail(hardened, ANON, 'CEO@CONTOSO.COM'), SPOOF],
  ['hardened: authoritative sender, trailing dot', mail(hardened, ANON, 'ceo@contoso.com.'), SPOOF],
  ['hardened: authoritative sender, U-label', mail(hardened, ANON, 'x@MÜNCHEN.de'), SPOOF],
  ['hardened: authoritative sender, A-label', mail(hardened, ANON, 'x@xn--mnchen-3ya.de'), SPOOF],
  ['hardened: quoted local part', mail(hardened, ANON, '"x@evil"@contoso.com'), SPOOF],
  ['hardened: internal-relay sender is fine', mail(hardened, ANON, 'a@sub.fabrikam.com'), 'ok senderAccepted'],
  ['hardened: null sender', mail(hardened, ANON, ''), 'ok nullSender'],
  // MAIL FROM: authenticated user and listed addresses
  ['alice as listed address', mail(client, ALICE, 'alice@contoso.com'), 'ok senderListedForUser'],
  ['alice as listed address, other case', mail(client, ALICE, 'alice.smith@CONTOSO.com'), 'ok senderListedForUser'],
  ['alice as someone else in her domain', mail(client, ALICE, 'ceo@contoso.com'), SPOOF],
  ['alice as a foreign address', mail(client, ALICE, 'alice@gmail.example'), SPOOF],
  ['alice null sender (Send-As: <> is no listed address)', mail(client, ALICE, ''), SPOOF],
  [
    'alice with AcceptAnySender, foreign address',
    mail(connector({ permissionGroups: ['AuthenticatedUsers'], permissions: [{ principal: 'user:alice', allow: ['AcceptAnySender'], deny: [] }] }), ALICE, 'x@example.org'),
    'ok acceptAnySender',
  ],
  [
    'alice with AcceptAnySender, authoritative address still needs its right',
    mail(connector({ permissionGroups: ['AuthenticatedUsers'], permissions: [{ principal: 'user:alice', allow: ['AcceptAnySender'], deny: [] }] }), ALICE, 'ceo@contoso.com'),
    SPOOF,
  ],
  // MAIL FROM: SIZE and TLS
  ['declared SIZE over the limit', mail(client, ALICE, 'alice@contoso.com', { declaredSize: 1001 }), '552 5.3.4 Message size exceeds fixed maximum message size'],
  ['declared SIZE at the limit', mail(client, ALICE, 'alice@contoso.com', { declaredSize: 1000 }), 'ok senderListedForUser'],
  ['declared SIZE, BypassMessageSizeLimit', mail(trusted, { kind: 'TrustedServers' }, 'a@b.example', { declaredSize: 10_000 }), 'ok senderAccepted'],
  ['declared SIZE, limit 0 = none', mail(noLimits, ANON, 'a@b.example', { declaredSize: 2 ** 40 }), 'ok senderAccepted'],
  ['requireTLS before STARTTLS', mail(requireTls, ANON, 'a@b.example'), '530 5.7.0 Must issue a STARTTLS command first'],
  ['requireTLS after STARTTLS', mail(requireTls, ANON, 'a@b.example', { secure: true }), 'ok senderAccepted'],
  ['requireTLS beats missing Submit', mail(connector({ tls: { files: null, requireTLS: true, clientCAFile: null } }), ANON, 'a@b.example'), '530 5.7.0 Must issue a STARTTLS command first'],
  // RCPT TO
  ['accepted authoritative domain', rcpt(internet, ANON, 'user@contoso.com'), 'ok acceptedDomain'],
  ['accepted domain, case games', rcpt(internet, ANON, 'USER@Contoso.COM'), 'ok acceptedDomain'],
  ['wildcard covers the domain itself', rcpt(internet, ANON, 'user@fabrikam.com'), 'ok acceptedDomain'],
  ['wildcard covers subdomains', rcpt(internet, ANON, 'user@a.b.fabrikam.com'), 'ok acceptedDomain'],
  ['wildcard is not a suffix match', rcpt(internet, ANON, 'user@evilfabrikam.com'), RELAY],
  ['external-relay domain is accepted', rcpt(internet, ANON, 'user@partner.example'), 'ok acceptedDomain'],
  ['subdomain of a non-wildcard domain', rcpt(internet, ANON, 'user@sub.contoso.com'), RELAY],
  ['nmap 1-4: foreign domain', rcpt(internet, ANON, 'relaytest@example.org'), RELAY],
  ['nmap 5: percent hack to IP literal', rcpt(internet, ANON, 'relaytest%example.org@[192.0.2.1]'), RELAY],
  ['nmap 6: percent hack via our domain', rcpt(internet, ANON, 'relaytest%example.org@contoso.com'), RELAY],
  ['nmap 7: quoted whole address', rcpt(internet, ANON, '"relaytest@example.org"'), RELAY],
  ['nmap 8: quoted percent', rcpt(internet, ANON, '"relaytest%example.org"'), RELAY],
  ['nmap 9: double @ with IP literal', rcpt(internet, ANON, 'relaytest@example.org@[192.0.2.1]'), RELAY],
  ['nmap 10: quoted local part with @', rcpt(internet, ANON, '"relaytest@example.org"@contoso.com'), RELAY],
  ['nmap 11: double @ via our domain', rcpt(internet, ANON, 'relaytest@example.org@contoso.com'), RELAY],
  ['nmap 12: source route via IP', rcpt(internet, ANON, '@[192.0.2.1]:relaytest@example.org'), RELAY],
  ['nmap 13: source route via our domain', rcpt(internet, ANON, '@contoso.com:relaytest@contoso.com'), RELAY],
  ['nmap 14: bang path', rcpt(internet, ANON, 'example.org!relaytest'), RELAY],
  ['nmap 16: bang path via our domain', rcpt(internet, ANON, 'example.org!relaytest@contoso.com'), RELAY],
  ['parser confusion: "x@D x"@ours', rcpt(internet, ANON, '"x@example.org x"@contoso.com'), RELAY],
  ['parser confusion: ORCPT smuggling', rcpt(internet, ANON, '"x@example.org> ORCPT=rfc822;y@e.example"@contoso.com'), RELAY],
  ['numeric domain', rcpt(internet, ANON, 'user@127.0.0.1'), RELAY],
  ['IPv6 literal', rcpt(internet, ANON, 'user@[IPv6:::1]'), RELAY],
  ['null domain', rcpt(internet, ANON, 'user@'), RELAY],
  ['no domain', rcpt(internet, ANON, 'postmaster'), RELAY],
  ['trailing dot on a foreign domain', rcpt(internet, ANON, 'user@example.org.'), RELAY],
  ['U-label accepted domain', rcpt(internet, ANON, 'x@münchen.de'), 'ok acceptedDomain'],
  ['anonymous relay (method a)', rcpt(anonRelay, ANON, 'relaytest@example.org'), 'ok acceptAnyRecipient'],
  ['authenticated users may relay', rcpt(client, ALICE, 'x@example.org'), 'ok acceptAnyRecipient'],
  ['ExternalAuthoritative may relay', rcpt(trusted, { kind: 'TrustedServers' }, 'x@example.org'), 'ok acceptAnyRecipient'],
  ['third recipient of three', rcpt(client, ALICE, 'x@example.org', 2), 'ok acceptAnyRecipient'],
  ['fourth recipient of three', rcpt(client, ALICE, 'x@example.org', 3), '452 4.5.3 Too many recipients'],
  ['recipient limit 0 = none', rcpt(noLimits, ANON, 'x@contoso.com', 100_000), 'ok acceptedDomain'],
  // AUTH
  ['AUTH on a connector without BasicAuth', auth(internet, ALICE, true), '503 5.5.1 Authentication not enabled'],
  ['AUTH before TLS with BasicAuthRequireTLS', auth(client, ALICE, false), '538 5.7.11 Encryption required for requested authentication mechanism, STARTTLS first'],
  ['AUTH after TLS', auth(client, ALICE, true), 'ok authAllowed'],
  ['AUTH in clear with plain BasicAuth', auth(clientPlain, ALICE, false), 'ok authAllowed'],
  [
    'AUTH for a user denied Submit',
    auth(connector({ permissionGroups: ['AuthenticatedUsers'], authMechanisms: ['TLS', 'BasicAuth'], permissions: [{ principal: 'user:alice', allow: [], deny: ['Submit'] }] }), ALICE, true),
    '530 5.7.1 Client was not authenticated',
  ],
  ['AUTH where Authenticated has no group', auth(connector({ permissionGroups: ['AnonymousUsers'], authMechanisms: ['TLS', 'BasicAuth'] }), ALICE, true), '530 5.7.1 Client was not authenticated'],
  ['AUTH on requireTLS connector before TLS', auth(connector({ permissionGroups: ['AuthenticatedUsers'], authMechanisms: ['TLS', 'BasicAuth'], tls: { files: null, requireTLS: true, clientCAFile: null } }), ALICE, false), '530 5.7.0 Must issue a STARTTLS command first'],
  // Send-As: MAIL FROM (alice lists alice@contoso.com and Alice.Smith@Contoso.com; bob none)
  ['user: listed sender', mail(sendAs, ALICE, 'alice@contoso.com'), 'ok senderListedForUser'],
  ['user: null sender without AcceptAnySender', mail(sendAs, ALICE, ''), SPOOF],
  ['user: null sender with AcceptAnySender', mail(sendAs, BOB, ''), 'ok nullSender'],
  ['user: other sender without AcceptAnySender', mail(sendAs, ALICE, 'ceo@example.org'), SPOOF],
  ['user: foreign sender with AcceptAnySender', mail(sendAs, BOB, 'news@example.org'), 'ok acceptAnySender'],
  ['user: authoritative sender with AcceptAnySender only', mail(sendAs, BOB, 'ceo@contoso.com'), SPOOF],
  ['anonymous: null sender is a bounce', mail(internet, ANON, ''), 'ok nullSender'],
  ['trusted server with a user: null sender', mail(trusted, { kind: 'TrustedServers', user: 'alice' }, ''), 'ok nullSender'],
  // Send-As: header From and Sender at the end of DATA
  ['header: From listed', headerEnd(sendAs, ALICE, 'From: Alice <alice@contoso.com>'), 'ok dataAccepted'],
  ['header: From listed, other case, bare', headerEnd(sendAs, ALICE, 'from : ALICE.SMITH@contoso.com (me)'), 'ok dataAccepted'],
  ['header: From not listed', headerEnd(sendAs, ALICE, 'From: CEO <ceo@contoso.com>'), SPOOF],
  ['header: listed envelope does not cover the header', headerEnd(sendAs, ALICE, 'From: alice@contoso.com, ceo@contoso.com'), SPOOF],
  ['header: display name is not an address', headerEnd(sendAs, ALICE, 'From: "ceo@contoso.com" <alice@contoso.com>'), 'ok dataAccepted'],
  ['header: second From field', headerEnd(sendAs, ALICE, 'From: alice@contoso.com', 'Subject: x', 'From: ceo@contoso.com'), SPOOF],
  ['header: folded From', headerEnd(sendAs, ALICE, 'From: Alice', ' <ceo@contoso.com>'), SPOOF],
  ['header: Sender field', headerEnd(sendAs, ALICE, 'From: alice@contoso.com', 'Sender: ceo@contoso.com'), SPOOF],
  ['header: no From at all', headerEnd(sendAs, ALICE, 'Subject: none'), 'ok dataAccepted'],
  ['header: AcceptAnySender, foreign From', headerEnd(sendAs, BOB, 'From: news@example.org'), 'ok dataAccepted'],
  ['header: AcceptAnySender, authoritative From', headerEnd(sendAs, BOB, 'From: ceo@contoso.com'), SPOOF],
  ['header: encoded word as address (Mailsploit)', headerEnd(sendAs, BOB, 'From: =?utf-8?b?Y2VvQGNvbnRvc28uY29t?=@example.org'), SPOOF],
  ['header: two angle addresses', headerEnd(sendAs, ALICE, 'From: <alice@contoso.com> <ceo@contoso.com>'), SPOOF],
  ['header: source route', headerEnd(sendAs, BOB, 'From: <@example.org:ceo@example.org>'), SPOOF],
  ['header: Off checks nothing', headerEnd(sendAsOff, ALICE, 'From: ceo@contoso.com'), 'ok dataAccepted'],
  ['header: anonymous sessions are not checked', headerEnd(hardened, ANON, 'From: ceo@contoso.com'), 'ok dataAccepted'],
  ['header: TrustedServers with a user are not checked', headerEnd(trusted, { kind: 'TrustedServers', user: 'alice' }, 'From: x@y'), 'ok dataAccepted'],
  // DATA size
  ['DATA over the limit', size(client, ALICE, 1001), '552 5.3.4 Message size exceeds fixed maximum message size'],
  ['DATA at the limit', size(client, ALICE, 1000), 'ok sizeWithinLimit'],
  ['DATA over the limit with BypassMessageSizeLimit', size(trusted, { kind: 'TrustedServers' }, 5000), 'ok bypassMessageSizeLimit'],
  ['DATA with limit 0', size(noLimits, ANON, 2 ** 40), 'ok sizeWithinLimit'],
  // HELO / EHLO
  ['EHLO not checked', helo(internet, ''), 'ok heloNotChecked'],
  ['EHLO empty with requireEHLODomain', helo(strictHelo, ''), '501 5.5.4 Invalid domain name'],
  ['EHLO bare word', helo(strictHelo, 'localhost'), '501 5.5.4 Invalid domain name'],
  ['EHLO with underscore', helo(strictHelo, 'bad_name.example'), '501 5.5.4 Invalid domain name'],
  ['EHLO with control character', helo(strictHelo, 'a.example\u0000'), '501 5.5.4 Invalid domain name'],
  ['EHLO domain', helo(strictHelo, 'mail.example.org'), 'ok heloDomain'],
  ['EHLO IPv4 literal', helo(strictHelo, '[192.0.2.1]'), 'ok heloAddressLiteral'],
  ['EHLO IPv6 literal', helo(strictHelo, '[IPv6:2001:db8::1]'), 'ok heloAddressLiteral'],
  ['EHLO unbracketed IP', helo(strictHelo, '192.0.2.1'), '501 5.5.4 Invalid domain name'],
  // end of DATA
  ['DATA end: clean', dataEnd(internet, {}), 'ok dataAccepted'],
  ['DATA end: stray CR/LF in Reject mode', dataEnd(internet, { bareLineFeedRejected: true, headerSizeExceeded: true }), '550 5.6.11 Bare line feed or carriage return not allowed'],
  ['DATA end: header block too large', dataEnd(internet, { headerSizeExceeded: true, size: 2 ** 40 }), '552 5.3.4 Message header size exceeds fixed maximum size'],
  ['DATA end: message too large', dataEnd(client, { size: 1001, receivedCount: 99 }, ALICE), '552 5.3.4 Message size exceeds fixed maximum message size'],
  ['DATA end: too many hops', dataEnd(internet, { receivedCount: 30 }), '554 5.4.6 Hop count exceeded - possible mail loop'],
  // hop count
  ['29 Received headers, limit 30', () => decideHopCount({ connector: internet, receivedCount: 29 }), 'ok hopCountWithinLimit'],
  ['30 Received headers, limit 30', () => decideHopCount({ connector: internet, receivedCount: 30 }), '554 5.4.6 Hop count exceeded - possible mail loop'],
  ['hop limit 0 = none', () => decideHopCount({ connector: noLimits, receivedCount: 999 }), 'ok hopCountWithinLimit'],
];

for (const [name, run, expected] of GOLDEN) {
  test(`golden: ${name}`, () => {
    assert.equal(replyLine(run()), expected);
  });
}

test('every canonical reply appears in the golden table', () => {
  const reasons = new Set(GOLDEN.map(([, run]) => run()).filter((d) => !d.ok).map((d) => (d.ok ? '' : d.reason)));
  for (const [key, reply] of Object.entries(VERB_POLICY_REPLIES)) assert.ok(reasons.has(reply.reason), `no row for ${key}`);
});

test('replyText is what smtp-server gets as the error message', () => {
  assert.equal(replyText(REPLIES.relayDenied), '5.7.54 Unable to relay recipient in non-accepted domain');
  assert.equal(REPLIES.relayDenied.code, 550);
});

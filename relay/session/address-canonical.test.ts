/*
 * Issue 17 (Low): Unicode forms of accepted domains, Send-As addresses and SendConnector
 * address spaces are compared in one canonical form (relay/delivery/address-canonical.ts). Rows marked
 * "failed before" did not match (or matched wrongly) with the String#toLowerCase-first
 * normalisation, the case-and-nothing-else local-part comparison and the raw address spaces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AcceptedDomainConfig } from '../config/schema.ts';
import { canonicalDomain, canonicalDomainPattern, canonicalLocalPart, clientFormOfAddress } from '../delivery/address-canonical.ts';
import { matchAcceptedDomain, normalizeDomain, parseEnvelopeAddress, sameAddress } from './domains.ts';
import { decideMailFrom, decideRcptTo, type PolicyContext } from './policy.ts';
import { resolveSessionRights } from './rights.ts';
import { connector } from '../../test/support/session-fixtures.ts';
import { sendConnector } from '../../test/support/rendered-config.ts';
import { planRoutes, selectSendConnector, domainOf } from '../delivery/routing.ts';

const NFC_U = '\u00fc'; // ü
const NFD_U = 'u\u0308'; // u + combining diaeresis
const BUECHER = 'xn--bcher-kva.example';
// σοφοσ1.example: UTS 46 maps capital sigma to U+03C3 everywhere; String#toLowerCase makes the
// last one a final sigma U+03C2 (xn--1-rmbamct), another domain.
const SOFOS = 'xn--1-rmbaocq.example';

/** Every way a client (or an admin) may write the same domain. */
const FORMS: Array<[form: string, domain: string, canonical: string]> = [
  ['A-label', BUECHER, BUECHER],
  ['A-label, upper case', 'XN--BCHER-KVA.EXAMPLE', BUECHER],
  ['A-label, trailing dot', `${BUECHER}.`, BUECHER],
  ['U-label, NFC', `b${NFC_U}cher.example`, BUECHER],
  ['U-label, NFD', `b${NFD_U}cher.example`, BUECHER],
  ['U-label, upper case', 'B\u00dcCHER.Example', BUECHER],
  ['U-label, NFD, upper case, trailing dot', `BU\u0308CHER.EXAMPLE.`, BUECHER],
  ['U-label, full-width letters and ideographic full stop', `\uff42${NFC_U}\uff43\uff48\uff45\uff52\u3002example`, BUECHER],
  ['Greek capitals ending in sigma (failed before)', '\u03a3\u039f\u03a6\u039f\u03a31.example', SOFOS],
  ['Greek lower case', '\u03c3\u03bf\u03c6\u03bf\u03c31.example', SOFOS],
];

test('canonicalDomain: every form of one domain gives one lowercase A-label form', () => {
  for (const [form, domain, canonical] of FORMS) assert.equal(normalizeDomain(domain), canonical, form);
});

test('canonicalDomain: invalid A-labels and what the host parser would rewrite have no canonical form (failed before)', () => {
  for (const bad of ['xn--zz.example', 'xn--a.example', '%41.example', 'a%2eb.example', '0x7f.1', 'a.0x1', '127.0.0.1', '[192.0.2.1]', 'a\u200db.example', '', '.', 'a..b', 'a_b.example']) {
    assert.equal(canonicalDomain(bad), null, JSON.stringify(bad));
    assert.equal(normalizeDomain(bad), null, `the session's domain too: ${JSON.stringify(bad)}`);
  }
  assert.equal(canonicalDomainPattern('*'), '*');
  assert.equal(canonicalDomainPattern(`*.B${NFD_U}CHER.example.`), `*.${BUECHER}`);
  assert.equal(canonicalDomainPattern('*.xn--zz.example'), null);
});

test('accepted domains: each form of the recipient domain matches each form of the AcceptedDomain', () => {
  for (const [configForm, configDomain] of FORMS) {
    const accepted: AcceptedDomainConfig[] = [{ domain: configDomain, type: 'Authoritative', default: false }];
    for (const [form, domain, canonical] of FORMS) {
      const hit = matchAcceptedDomain(parseEnvelopeAddress(`user@${domain}`).domain, accepted);
      const same = canonicalDomain(configDomain) === canonical;
      assert.equal(hit !== undefined, same, `${form} against AcceptedDomain ${configForm}`);
    }
  }
  // an invalid A-label under an accepted wildcard is not "in" it (failed before: it matched)
  assert.equal(matchAcceptedDomain(parseEnvelopeAddress('user@xn--zz.example').domain, [{ domain: '*.example', type: 'Authoritative', default: false }]), undefined);
});

test('accepted domains through the RCPT policy: an anonymous client reaches every form of a Unicode domain, no relay', () => {
  // Anonymous may not send as an authoritative domain here (Exchange grants it by default)
  const internet = connector({ permissionGroups: ['AnonymousUsers'], permissions: [{ principal: 'Anonymous', allow: [], deny: ['AcceptAuthoritativeDomainSender'] }] });
  const ctx: PolicyContext = {
    connector: internet,
    rights: resolveSessionRights(internet, { kind: 'Anonymous' }).rights,
    acceptedDomains: [{ domain: SOFOS, type: 'Authoritative', default: false }],
    secure: false,
  };
  for (const [form, domain, canonical] of FORMS) {
    if (canonical !== SOFOS) continue;
    assert.deepEqual(decideRcptTo({ ...ctx, rcptTo: `user@${domain}`, recipientCount: 0 }).ok, true, form);
    // and the sender check sees the same domain: an anonymous client may not use it
    assert.equal(decideMailFrom({ ...ctx, mailFrom: `spoof@${domain}` }).ok, false, form);
  }
});

/** Send-As: the same address written as the user's listing has it, and the ways a client may write it. */
const SEND_AS: Array<[form: string, address: string]> = [
  ['as listed', `j${NFC_U}rgen@contoso.com`],
  ['upper case', `J${'\u00dc'}RGEN@CONTOSO.COM`],
  ['local part NFD (failed before)', `j${NFD_U}rgen@contoso.com`],
  ['local part NFD, domain trailing dot (failed before)', `j${NFD_U}rgen@contoso.com.`],
  ['U-label domain, NFD local part (failed before)', `j${NFD_U}rgen@b${NFD_U}cher.example`],
  ['A-label domain', `j${NFC_U}rgen@${BUECHER}`],
];

test('Send-As: a listed address matches its NFC/NFD, case, U-label/A-label and trailing-dot forms', () => {
  for (const [form, address] of SEND_AS) {
    const listed = address.toLowerCase().includes('contoso') ? `j${NFC_U}rgen@contoso.com` : `j${NFC_U}rgen@b${NFC_U}cher.example`;
    assert.ok(sameAddress(listed, address), `${form}: ${address}`);
    assert.ok(sameAddress(address, listed), `${form} (reversed)`);
  }
  assert.ok(!sameAddress(`j${NFC_U}rgen@contoso.com`, 'jurgen@contoso.com'), 'ü is not u');
  assert.equal(canonicalLocalPart(`J${NFD_U}rgen`), `J${NFC_U}rgen`, 'NFC keeps the case');
});

test('Send-As through the MAIL FROM policy: the user may send as any form of a listed address', () => {
  const client = connector({ usage: 'Client', permissionGroups: ['AuthenticatedUsers'], authMechanisms: ['TLS', 'BasicAuth'] });
  const ctx: PolicyContext = {
    connector: client,
    rights: resolveSessionRights(client, { kind: 'Authenticated', user: 'juergen' }).rights,
    acceptedDomains: [{ domain: 'contoso.com', type: 'Authoritative', default: false }, { domain: BUECHER, type: 'Authoritative', default: false }],
    secure: true,
    authenticatedUser: 'juergen',
    userAddresses: [`j${NFC_U}rgen@contoso.com`, `j${NFC_U}rgen@${BUECHER}`],
  };
  for (const [form, address] of SEND_AS) {
    const decision = decideMailFrom({ ...ctx, mailFrom: address });
    assert.equal(decision.ok, true, `${form}: ${JSON.stringify(decision)}`);
  }
  assert.equal(decideMailFrom({ ...ctx, mailFrom: 'someone@contoso.com' }).ok, false, 'an unlisted address is still refused');
});

test('SendConnector address spaces: each form of the space routes each form of the recipient domain', () => {
  const fallback = sendConnector({ id: 'internet', addressSpaces: [{ domain: '*', cost: 1 }] });
  for (const [spaceForm, space] of FORMS) {
    for (const wildcard of [false, true]) {
      const books = sendConnector({ id: 'books', smartHosts: ['books.internal'], addressSpaces: [{ domain: wildcard ? `*.${space}` : space, cost: 1 }] });
      for (const [form, domain, canonical] of FORMS) {
        const expected = canonicalDomain(space) === canonical ? 'books' : 'internet';
        for (const host of wildcard ? [domain, `mail.${domain}`] : [domain]) {
          const label = `user@${host} with address space ${wildcard ? '*.' : ''}${spaceForm}`;
          assert.equal(selectSendConnector(domainOf(`user@${host}`), [books, fallback])?.connector.id, expected, `${label} (${form})`);
        }
      }
    }
  }
});

test('SendConnector routing: an invalid A-label takes only "*", MX groups use the canonical domain', () => {
  const example = sendConnector({ id: 'example', smartHosts: ['example.internal'], addressSpaces: [{ domain: '*.example', cost: 1 }] });
  assert.equal(selectSendConnector(domainOf('user@xn--zz.example'), [example]), null, 'failed before: routed by *.example');
  const mx = sendConnector({ id: 'mx', addressSpaces: [{ domain: '*', cost: 1 }] });
  const plan = planRoutes([
    { index: 0, address: `a@b${NFC_U}cher.example` },
    { index: 1, address: `b@B${NFD_U}CHER.EXAMPLE.` },
    { index: 2, address: `c@${BUECHER}` },
  ], [mx]);
  assert.deepEqual(plan.groups.map((g) => [g.domain, g.recipients]), [[BUECHER, [0, 1, 2]]]);
});

test('clientFormOfAddress: without SMTPUTF8 the labels smtp-server decoded go back to A-labels; nothing else changes', () => {
  assert.equal(clientFormOfAddress(`User@b${NFC_U}cher.Example`, false), `User@${'xn--bcher-kva'}.Example`);
  assert.equal(clientFormOfAddress(`User@b${NFC_U}cher.Example`, true), `User@b${NFC_U}cher.Example`, 'SMTPUTF8: as sent');
  assert.equal(clientFormOfAddress('User@Contoso.COM', false), 'User@Contoso.COM');
  assert.equal(clientFormOfAddress('postmaster', false), 'postmaster');
  assert.equal(clientFormOfAddress('', false), '');
});

/*
 * relay/delivery/address-canonical - the one canonical form every address comparison uses.
 *
 * Rule: the domain part becomes its lowercase A-label form (IDNA 2008 through UTS 46, which is
 * what node:url's domainToASCII implements: case mapping, NFC, full-width forms, A-label
 * validation), one trailing dot dropped; the local part becomes NFC and keeps its case
 * (RFC 5321: only the receiving domain may fold it). Accepted domains, Send-As addresses and
 * SendConnector address spaces are all compared in this form, so `bücher.example`,
 * `BÜCHER.example`, `bu\u0308cher.example` and `xn--bcher-kva.example.` are one domain everywhere.
 * Comparing is all this module is for: the envelope keeps the address the client sent.
 * Trust: input is client text. Anything that is not a valid host name after mapping (IP
 * literals, `%`-escapes the WHATWG host parser would decode, invalid A-labels) is null.
 */
import { domainToASCII } from 'node:url';

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOSTNAME = new RegExp(`^(?:${LABEL}\\.)*${LABEL}$`);
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
// ASCII outside letters, digits, `-` and `.`: refused before domainToASCII, whose WHATWG host
// parser would otherwise percent-decode `%41.example` into `a.example`.
// eslint-disable-next-line no-control-regex
const NON_LDH_ASCII = /[\x00-\x2c\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]/;
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * canonicalDomain - lowercase A-labels, no trailing dot; null unless a valid IDNA host name
 * with a non-numeric TLD. Lower-casing is left to UTS 46: String#toLowerCase first would turn a
 * final capital sigma into U+03C2 where UTS 46 maps it to U+03C3 (another A-label).
 */
export function canonicalDomain(raw: string): string | null {
  if (raw.length === 0 || raw.length > 255 || CONTROL.test(raw) || NON_LDH_ASCII.test(raw)) return null;
  const bare = raw.endsWith('.') ? raw.slice(0, -1) : raw;
  if (bare.length === 0) return null;
  const domain = domainToASCII(bare);
  if (domain.length === 0 || domain.length > 253 || !HOSTNAME.test(domain)) return null;
  const tld = domain.slice(domain.lastIndexOf('.') + 1);
  if (/^[0-9]+$/.test(tld)) return null;
  return domain;
}

/**
 * canonicalDomainPattern - an accepted-domain name or address space in canonical form:
 * `*` stays, `*.name` keeps its `*.`; null when the name part is not a valid IDNA host name.
 */
export function canonicalDomainPattern(pattern: string): string | null {
  if (pattern === '*') return '*';
  const wildcard = pattern.startsWith('*.');
  const name = canonicalDomain(wildcard ? pattern.slice(2) : pattern);
  return name === null ? null : `${wildcard ? '*.' : ''}${name}`;
}

/** canonicalLocalPart - NFC; case kept (RFC 5321 2.4: local parts may be case-sensitive). */
export function canonicalLocalPart(local: string): string {
  return local.normalize('NFC');
}

/**
 * clientFormOfAddress - the address as the client wrote it, from what smtp-server hands over.
 * smtp-server (3.21) decodes every `xn--` label with punycode.toUnicode before our handlers
 * see the address, so a client that wrote `user@xn--bcher-kva.example` without SMTPUTF8
 * would be forwarded as `user@bücher.example`, which a next hop without SMTPUTF8 refuses.
 * Without SMTPUTF8 the client can only have written ASCII (RFC 6531 3.4), so each non-ASCII
 * label of the domain is encoded back to its A-label; other labels keep their case.
 */
export function clientFormOfAddress(address: string, smtpUtf8: boolean): string {
  if (smtpUtf8 || !NON_ASCII.test(address)) return address;
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const labels = address.slice(at + 1).split('.').map((label) => {
    if (!NON_ASCII.test(label)) return label;
    const ascii = domainToASCII(label);
    return ascii.length > 0 && !ascii.includes('.') ? ascii : label;
  });
  return `${address.slice(0, at)}@${labels.join('.')}`;
}

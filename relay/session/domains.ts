/*
 * relay/session/domains - envelope address parsing and accepted-domain matching.
 *
 * Job: split an envelope address into local part and a canonical domain (lower case, A-labels,
 * one trailing dot dropped: address-canonical.ts) and find the AcceptedDomain that covers it, exact entries before
 * `*.` wildcards, the longest wildcard first. The router should use the same functions, so
 * that "accepted" here and "local" there can never disagree.
 * Trust: addresses come straight from the client. Anything that smells of source routing
 * (`@a:b@c`, `%`, `!`, or an `@` inside a quoted local part: nmap open-relay tests 5-16 and
 * the addressparser interpretation-conflict advisories) is flagged `routing`, and the policy
 * then treats it as outside every accepted domain.
 * Failure modes: a domain that is not a valid LDH host name (IP literals, `user@127.0.0.1`,
 * empty, control characters) canonicalises to null and matches nothing.
 */
import type { AcceptedDomainConfig } from '../config/schema.ts';
import { canonicalDomain, canonicalLocalPart } from '../delivery/address-canonical.ts';

export interface EnvelopeAddress {
  local: string;
  /** Canonical domain, or null when missing or not a valid host name. */
  domain: string | null;
  /** Source route, `%`/`!` routing or an `@` in the local part: never local delivery. */
  routing: boolean;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** Lower case, A-labels, no trailing dot; null unless a valid IDNA host name with a non-numeric TLD. */
export function normalizeDomain(raw: string): string | null {
  return canonicalDomain(raw);
}

export function parseEnvelopeAddress(address: string): EnvelopeAddress {
  const at = address.lastIndexOf('@');
  if (at < 0) return { local: address, domain: null, routing: /[%!]/.test(address) };
  const local = address.slice(0, at);
  const routing = address.startsWith('@') || /[@%!]/.test(local) || CONTROL.test(local);
  return { local, domain: normalizeDomain(address.slice(at + 1)), routing };
}

interface CompiledDomain {
  config: AcceptedDomainConfig;
  name: string;
  wildcard: boolean;
}

function compile(config: AcceptedDomainConfig): CompiledDomain | null {
  const wildcard = config.domain.startsWith('*.');
  const name = normalizeDomain(wildcard ? config.domain.slice(2) : config.domain);
  return name === null ? null : { config, name, wildcard };
}

/** The accepted domain covering a canonical domain: exact names first, then the longest wildcard. */
export function matchAcceptedDomain(
  domain: string | null,
  accepted: readonly AcceptedDomainConfig[],
): AcceptedDomainConfig | undefined {
  if (domain === null) return undefined;
  let best: CompiledDomain | undefined;
  for (const entry of accepted) {
    const c = compile(entry);
    if (c === null) continue;
    const hit = c.name === domain || (c.wildcard && domain.endsWith(`.${c.name}`));
    if (!hit) continue;
    if (!best) best = c;
    else if (best.wildcard && !c.wildcard) best = c;
    else if (best.wildcard === c.wildcard && c.name.length > best.name.length) best = c;
  }
  return best?.config;
}

/**
 * Address equality on canonical forms (Send-As): canonical domains, local parts in NFC and
 * compared case-insensitively (a user's listed addresses never depended on case; NFC again
 * after lower-casing, which can leave a string unnormalised).
 */
export function sameAddress(a: string, b: string): boolean {
  const pa = parseEnvelopeAddress(a);
  const pb = parseEnvelopeAddress(b);
  if (pa.domain === null || pb.domain === null || pa.domain !== pb.domain) return false;
  const fold = (local: string): string => canonicalLocalPart(canonicalLocalPart(local).toLowerCase());
  return fold(pa.local) === fold(pb.local);
}

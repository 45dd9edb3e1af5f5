/*
 * operator/render/security - the open-relay guardrails of issue 17 (item 3), as pure functions
 * shared by render (the operator, `hub`, `render`, `explain`), `relay-operator validate` and the
 * AcceptedDomain status, so every entry point gives the same verdict.
 *
 * - relayNeedsProtocolLogging: a connector set up to grant AcceptAnyRecipient must log its
 *   sessions (also a CEL rule in the CRD; render repeats it for objects stored before the rule).
 * - openRelayNeedsAllowOpenRelay: unauthenticated relay to an entry wider than an IPv4 /8 or an
 *   IPv6 /32, or ExternalAuthoritative on any publicly routable address, needs allowOpenRelay.
 * - narrowerConnectorGrantsMore (conflicts.ts uses narrowerGrantsMore): a connector that takes
 *   clients out of another connector's entry on the same listener may not give them more rights
 *   than that connector would, unless that connector sets allowNarrowerConnectors.
 * - domainPublicSuffix: an AcceptedDomain at or above a public suffix (tldts, ICANN and private
 *   sections of the public suffix list) accepts - and so relays - mail for other people's domains.
 */
import { getDomain } from 'tldts';
import type { ConnectorConfig, Right } from '../../relay/config/schema.ts';
import { RIGHTS } from '../../relay/config/schema.ts';
import { parseRemoteIPRange, type ParsedRange } from '../../relay/common/addresses.ts';
import { resolveSessionRights, sessionIdentityFor, type SessionFacts } from '../../relay/session/rights.ts';
import { USAGE_PRESETS, type Usage } from '../api/defaults.ts';

/** Rule names (validate, render problems) and the condition reasons the operator writes for them. */
export const SecurityRule = {
  relayNeedsProtocolLogging: 'relayNeedsProtocolLogging',
  openRelayNeedsAllowOpenRelay: 'openRelayNeedsAllowOpenRelay',
  narrowerConnectorGrantsMore: 'narrowerConnectorGrantsMore',
  domainPublicSuffix: 'domainPublicSuffix',
} as const;

export const SecurityReason = {
  ProtocolLoggingRequired: 'ProtocolLoggingRequired',
  OpenRelayNotAllowed: 'OpenRelayNotAllowed',
  NarrowerConnectorGrantsMore: 'NarrowerConnectorGrantsMore',
  PublicSuffixDomain: 'PublicSuffixDomain',
} as const;

/**
 * The widest entry that may relay without authentication and without allowOpenRelay. IPv4: a
 * /8, the largest block ever assigned to one organisation. IPv6: a /32, the smallest allocation
 * to a provider (RIR policy) and so the largest block one organisation normally holds; a site is
 * a /48. Anything wider spans organisations the hub's owner does not control.
 */
export const OPEN_RELAY_MAX_SIZE: Readonly<Record<4 | 6, bigint>> = { 4: 1n << 24n, 6: 1n << 96n };

/**
 * Addresses that are not globally reachable (IANA IPv4/IPv6 Special-Purpose Address Registries,
 * RFC 6890): an entry inside one of them is not public. 2001::/23 is left public on purpose:
 * parts of it are reachable. IPv4-mapped IPv6 entries are refused (relay/common/addresses.ts).
 */
const NOT_GLOBALLY_REACHABLE: Readonly<Record<4 | 6, readonly string[]>> = {
  4: ['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24', '192.0.2.0/24',
    '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '240.0.0.0/4'],
  6: ['::/128', '::1/128', '64:ff9b:1::/48', '100::/64', '2001:db8::/32', 'fc00::/7', 'fe80::/10'],
};
const PRIVATE_BLOCKS: Readonly<Record<4 | 6, readonly ParsedRange[]>> = {
  4: NOT_GLOBALLY_REACHABLE[4].map(parseRemoteIPRange),
  6: NOT_GLOBALLY_REACHABLE[6].map(parseRemoteIPRange),
};

/** isPublicRange - true when the entry holds an address that is routable on the Internet. */
export function isPublicRange(range: ParsedRange): boolean {
  return !PRIVATE_BLOCKS[range.family].some((block) => block.first <= range.first && range.last <= block.last);
}

/** The connector fields the guardrails read; loose so the CEL mirror can pass raw JSON. */
export interface GuardedConnectorSpec {
  usage?: string;
  remoteIPRanges?: string[];
  permissionGroups?: string[];
  authMechanisms?: string[];
  permissions?: Array<{ principal?: string; allow?: string[]; deny?: string[] }>;
  protocolLogging?: string;
  allowOpenRelay?: boolean;
}

const presetOf = (usage: string | undefined): (typeof USAGE_PRESETS)[Usage] => USAGE_PRESETS[(usage ?? 'Custom') as Usage] ?? USAGE_PRESETS.Custom;
const effective = <T>(value: T[] | undefined, fallback: readonly T[]): readonly T[] => (value && value.length > 0 ? value : fallback);

/**
 * grantsRelayRight - the connector is set up to grant AcceptAnyRecipient to someone: a group
 * that carries it (AuthenticatedUsers, TrustedServers; directly or by the usage default) or a
 * permissions entry that allows it. Denials are not subtracted: the CEL rule cannot follow them
 * per principal, and the offline and in-cluster verdicts must agree.
 */
export function grantsRelayRight(spec: GuardedConnectorSpec): boolean {
  const groups = effective(spec.permissionGroups, presetOf(spec.usage).permissionGroups);
  if (groups.includes('AuthenticatedUsers') || groups.includes('TrustedServers')) return true;
  return (spec.permissions ?? []).some((p) => (p.allow ?? []).includes('AcceptAnyRecipient'));
}

/**
 * unauthenticatedRelay - how a client that proves nothing may relay here: every session is a
 * TrustedServers session (ExternalAuthoritative), or Anonymous is allowed AcceptAnyRecipient.
 */
export function unauthenticatedRelay(spec: GuardedConnectorSpec): 'ExternalAuthoritative' | 'Anonymous' | null {
  if (effective(spec.authMechanisms, presetOf(spec.usage).authMechanisms).includes('ExternalAuthoritative')) return 'ExternalAuthoritative';
  const anonymous = (spec.permissions ?? []).some((p) => p.principal === 'Anonymous' && (p.allow ?? []).includes('AcceptAnyRecipient'));
  return anonymous ? 'Anonymous' : null;
}

export interface SecurityProblem {
  field: string;
  rule: string;
  /** Condition reason the operator reports. */
  reason: string;
  message: string;
}

/** protocolLoggingProblem - relayNeedsProtocolLogging (the CRD's CEL rule, for render). */
export function protocolLoggingProblem(spec: GuardedConnectorSpec): SecurityProblem | null {
  if (spec.protocolLogging !== 'None' || !grantsRelayRight(spec)) return null;
  return {
    field: 'spec.protocolLogging',
    rule: SecurityRule.relayNeedsProtocolLogging,
    reason: SecurityReason.ProtocolLoggingRequired,
    message: 'protocolLogging None is not allowed on a connector that grants the relay right AcceptAnyRecipient: set protocolLogging: Verbose',
  };
}

/** openRelayProblem - openRelayNeedsAllowOpenRelay, naming the first offending entry and the count. */
export function openRelayProblem(spec: GuardedConnectorSpec): SecurityProblem | null {
  if (spec.allowOpenRelay === true) return null;
  const how = unauthenticatedRelay(spec);
  if (how === null) return null;
  const explicit = spec.remoteIPRanges && spec.remoteIPRanges.length > 0;
  const ranges = effective(spec.remoteIPRanges, presetOf(spec.usage).remoteIPRanges);
  let first: { index: number; entry: string; why: string } | undefined;
  let count = 0;
  ranges.forEach((entry, index) => {
    let range: ParsedRange;
    try {
      range = parseRemoteIPRange(entry);
    } catch {
      return; // a syntax error has its own rule
    }
    const wide = range.size > OPEN_RELAY_MAX_SIZE[range.family];
    const exposed = how === 'ExternalAuthoritative' && isPublicRange(range);
    if (!wide && !exposed) return;
    count++;
    first ??= { index, entry, why: wide ? `is wider than an IPv${range.family} /${range.family === 4 ? 8 : 32}` : 'holds publicly routable addresses' };
  });
  if (!first) return null;
  const granted = how === 'ExternalAuthoritative'
    ? 'authMechanisms ExternalAuthoritative makes every client a TrustedServers session (relay, no anti-spam) without authenticating'
    : 'a permissions entry allows AcceptAnyRecipient to Anonymous (relay without authenticating)';
  return {
    field: explicit ? `spec.remoteIPRanges[${first.index}]` : 'spec.remoteIPRanges',
    rule: SecurityRule.openRelayNeedsAllowOpenRelay,
    reason: SecurityReason.OpenRelayNotAllowed,
    message: `${granted}, and entry ${first.entry}${explicit ? '' : ` (usage ${spec.usage ?? 'Custom'} default)`} ${first.why}${count > 1 ? ` (${count} such entries)` : ''}: an open relay; narrow remoteIPRanges, or set spec.allowOpenRelay: true if that is really meant`,
  };
}

/** connectorSecurityProblems - the per-connector guardrails, in the order render reports them. */
export function connectorSecurityProblems(spec: GuardedConnectorSpec): SecurityProblem[] {
  return [protocolLoggingProblem(spec), openRelayProblem(spec)].filter((p): p is SecurityProblem => p !== null);
}

/**
 * domainPublicSuffixProblem - an AcceptedDomain whose name (without "*.") is itself a public
 * suffix ("com", "co.uk", "github.io") accepts mail for every domain under it. Null when fine.
 * Names that are no host name at all are left to InvalidDomainName.
 */
export function domainPublicSuffixProblem(domainName: string): SecurityProblem | null {
  const wildcard = domainName.startsWith('*.');
  const name = (wildcard ? domainName.slice(2) : domainName).toLowerCase().replace(/\.$/, '');
  if (name.length === 0) return null;
  // allowPrivateDomains: "*.github.io" hands the domains of every GitHub Pages user to the relay too
  if (getDomain(name, { allowPrivateDomains: true }) !== null) return null;
  return {
    field: 'spec.domainName',
    rule: SecurityRule.domainPublicSuffix,
    reason: SecurityReason.PublicSuffixDomain,
    message: `domainName "${domainName}" is ${wildcard ? 'a wildcard over' : ''} the public suffix ${name}${wildcard ? '' : ' itself'} (public suffix list): RCPT TO in an accepted domain needs no relay right, so every domain under it would be relayed to; name a domain you own (for example "${wildcard ? '*.' : ''}example.${name}")`,
  };
}

// ---- narrowerConnectorGrantsMore: rights a client gets on one connector versus another ----

interface Credentials {
  /** A password of this user (AUTH), when the connector offers BasicAuth. */
  user?: string;
  /** A client certificate the connector's CA verifies, when it offers MutualTLS. */
  certificate: boolean;
}

/** Stands for every user the two connectors do not name: no real name has a space. */
const OTHER_USER = 'any other user';

function describeCredentials(c: Credentials): string {
  const user = c.user === undefined ? '' : c.user === OTHER_USER ? 'a password user' : `user ${c.user} (password)`;
  if (c.certificate) return user ? `a client with a verified certificate and ${user}` : 'a client with a verified certificate';
  return user ? `${user}` : 'an unauthenticated client';
}

/** The rights a session with these credentials holds; none at all without Submit (it can send nothing). */
export function usableRights(connector: ConnectorConfig, credentials: Credentials): Set<Right> {
  const facts: SessionFacts = { mutualTlsVerified: credentials.certificate && connector.authMechanisms.includes('MutualTLS') };
  if (credentials.user !== undefined && connector.authMechanisms.includes('BasicAuth')) facts.authenticatedUser = credentials.user;
  const { rights } = resolveSessionRights(connector, sessionIdentityFor(connector, facts));
  return rights.has('Submit') ? rights : new Set();
}

export interface ExtraRights {
  /** Who gets them, in words. */
  client: string;
  rights: Right[];
}

/**
 * narrowerGrantsMore - whether `narrow` gives some client a right set that `wide` would not give
 * the same client (presenting the same credentials or fewer, whichever gives most). Credentials
 * enumerated: none, a password of each user either connector names (and of any other user), a
 * verified client certificate, and both. Null when `narrow` grants no more.
 */
export function narrowerGrantsMore(narrow: ConnectorConfig, wide: ConnectorConfig): ExtraRights | null {
  const both = [narrow, wide];
  const users = [...new Set(both.flatMap((c) => c.permissions.map((p) => p.principal).filter((p) => p.startsWith('user:')).map((p) => p.slice(5)))), OTHER_USER];
  const anyBasic = both.some((c) => c.authMechanisms.includes('BasicAuth'));
  const anyMutual = both.some((c) => c.authMechanisms.includes('MutualTLS'));
  const userChoices: Array<string | undefined> = [undefined, ...(anyBasic ? users : [])];
  for (const certificate of anyMutual ? [false, true] : [false]) {
    for (const user of userChoices) {
      const credentials: Credentials = user === undefined ? { certificate } : { user, certificate };
      const given = usableRights(narrow, credentials);
      if (given.size === 0) continue;
      // the client may withhold a credential on the wide connector if that gives it more
      const fewer: Credentials[] = [{ certificate: false }, { certificate }, ...(user === undefined ? [] : [{ user, certificate: false }, { user, certificate }])];
      let leastMissing: Right[] | undefined;
      for (const option of fewer) {
        const there = usableRights(wide, option);
        const missing = RIGHTS.filter((r) => given.has(r) && !there.has(r));
        if (leastMissing === undefined || missing.length < leastMissing.length) leastMissing = missing;
      }
      if (leastMissing && leastMissing.length > 0) return { client: describeCredentials(credentials), rights: leastMissing };
    }
  }
  return null;
}

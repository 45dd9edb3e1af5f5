/*
 * relay/delivery/routing - which SendConnector carries a recipient, and which recipients
 * travel together.
 *
 * Selection (Exchange's address spaces): among the connectors with an address space that
 * matches the recipient's domain, the most specific match wins: an exact domain, then
 * `*.parent` (the parent and its subdomains; a longer parent is more specific), then `*`.
 * Ties go to the lowest cost, then to the connector id (stable). No match -> unroutable.
 * Grouping: recipients on the same connector share a next hop when the connector has smart
 * hosts or a drop directory (one transaction for all of them); with DNS MX delivery the next
 * hop is the recipient's domain, so each domain is its own group (split when hops differ).
 * Domains and address spaces are compared in the canonical form of
 * relay/delivery/address-canonical.ts (lowercase A-labels, NFC, no trailing dot), the same form
 * the session matches accepted domains in; a recipient domain that has no canonical form (an
 * address literal, an invalid A-label) can only take the `*` address space.
 * Pure; decisions carry reasons.
 */
import type { SendConnectorConfig } from '../config/schema.ts';
import { canonicalDomain, canonicalDomainPattern } from './address-canonical.ts';

export type RouteKind = 'smartHost' | 'mx' | 'drop';

export interface RouteSelection {
  connector: SendConnectorConfig;
  addressSpace: { domain: string; cost: number };
  /** `exact`, `wildcard` or `any`: which kind of address space matched. */
  reason: string;
}

export interface RouteGroup {
  /** Next-hop identity: connector id, plus the domain for MX delivery. */
  key: string;
  kind: RouteKind;
  connector: SendConnectorConfig;
  /** The recipient domain (ASCII) for MX delivery; '' otherwise. */
  domain: string;
  /** Recipient indexes into the envelope's rcptTo. */
  recipients: number[];
}

export interface RoutePlan {
  groups: RouteGroup[];
  /** Recipients no connector serves. */
  unroutable: number[];
}

/**
 * domainOf - the recipient's domain in canonical form; a domain without one (address literal,
 * invalid IDNA name) lower-cased as written, for MX delivery to try; '' when there is none.
 */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return '';
  const raw = address.slice(at + 1);
  return canonicalDomain(raw) ?? raw.replace(/\.$/, '').toLowerCase();
}

/**
 * matchRank - how specifically an address space matches a domain; -1 when it does not. A domain
 * not in canonical form matches `*` only: otherwise `user@xn--zz.example` (no valid A-label,
 * refused as outside every accepted domain by the session) would still route by `*.example`.
 */
export function matchRank(space: string, domain: string): number {
  if (space === '*') return 0;
  const s = canonicalDomainPattern(space);
  if (s === null || canonicalDomain(domain) !== domain) return -1;
  if (s === '*') return 0;
  const labels = (d: string): number => d.split('.').length;
  if (s.startsWith('*.')) {
    const parent = s.slice(2);
    return domain === parent || domain.endsWith(`.${parent}`) ? 2 * labels(parent) : -1;
  }
  return domain === s ? 2 * labels(s) + 1 : -1;
}

/** selectSendConnector - the connector for one domain, or null (unroutable). */
export function selectSendConnector(domain: string, connectors: readonly SendConnectorConfig[]): RouteSelection | null {
  let best: { rank: number; cost: number; selection: RouteSelection } | null = null;
  for (const connector of connectors) {
    for (const space of connector.addressSpaces) {
      const rank = matchRank(space.domain, domain);
      if (rank < 0) continue;
      const better =
        best === null ||
        rank > best.rank ||
        (rank === best.rank && space.cost < best.cost) ||
        (rank === best.rank && space.cost === best.cost && connector.id < best.selection.connector.id);
      if (better) {
        const reason: string = rank === 0 ? 'any' : space.domain.startsWith('*.') ? 'wildcard' : 'exact';
        best = { rank, cost: space.cost, selection: { connector, addressSpace: space, reason } };
      }
    }
  }
  return best?.selection ?? null;
}

/** routeKind - how a connector delivers. */
export function routeKind(connector: SendConnectorConfig): RouteKind {
  if (connector.dropDirectory) return 'drop';
  return connector.smartHosts.length > 0 ? 'smartHost' : 'mx';
}

/** planRoutes - group the given recipients by next hop. */
export function planRoutes(
  recipients: ReadonlyArray<{ index: number; address: string }>,
  connectors: readonly SendConnectorConfig[],
): RoutePlan {
  const groups = new Map<string, RouteGroup>();
  const unroutable: number[] = [];
  for (const { index, address } of recipients) {
    const domain = domainOf(address);
    const selection = domain ? selectSendConnector(domain, connectors) : null;
    if (!selection) {
      unroutable.push(index);
      continue;
    }
    const kind = routeKind(selection.connector);
    const key = kind === 'mx' ? `${selection.connector.id}|${domain}` : selection.connector.id;
    let group = groups.get(key);
    if (!group) {
      group = { key, kind, connector: selection.connector, domain: kind === 'mx' ? domain : '', recipients: [] };
      groups.set(key, group);
    }
    group.recipients.push(index);
  }
  return { groups: [...groups.values()], unroutable };
}

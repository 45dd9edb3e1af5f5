/*
 * relay/listener/shared-port - Exchange's usual layout on one host: a connector on `0.0.0.0:25`
 * for everybody and another on a dedicated `IP:25` (issue 12 item 6d).
 *
 * On Linux a socket bound to a wildcard address and one bound to a specific address of the
 * same port conflict (EADDRINUSE) unless both set SO_REUSEADDR/SO_REUSEPORT the way Node
 * does not expose. So the hub binds only the wildcard socket, and each connection it accepts
 * is routed by the LOCAL address it reached (getsockname, `socket.localAddress`): to the
 * dedicated listener of that address (a "tenant": its own index, connectors, endpoint), or to
 * the wildcard's own route when no listener is dedicated to that address. Exchange does the
 * same (the most specific binding of the local endpoint wins), and so does the cluster, where
 * each hub address is its own Service.
 *
 * `0.0.0.0` takes the IPv4 listeners of its port; `::` (dual stack: IPv4 arrives as
 * ::ffff:a.b.c.d) takes every listener of its port. Everything else is bound as it is; a port
 * that truly cannot be bound still fails at start or reload, named by the listener.
 */
import { canonicalAddress } from '../common/addresses.ts';
import type { ListenerConfig } from '../config/schema.ts';
import type { ListenerRoute } from './listener.ts';

/** One listener of a config before binding: what it is and where its connections go. */
export interface PlannedListener {
  config: ListenerConfig;
  route: ListenerRoute;
}

export const isWildcardAddress = (address: string): boolean => address === '0.0.0.0' || address === '::';

/** The key of a tenant: the local address in one spelling (IPv4-mapped as IPv4, RFC 5952 IPv6). */
export function localAddressKey(address: string): string {
  return canonicalAddress(address) ?? address;
}

const takes = (wildcard: string, address: string): boolean => wildcard === '::' || !address.includes(':');

/**
 * foldSharedPorts - the listeners to bind, keyed as given: a specific-address listener on the
 * port of a wildcard listener that takes its family is not bound but rides in that wildcard's
 * route as a tenant. When a port has both `0.0.0.0` and `::`, `::` wins (it takes both families).
 */
export function foldSharedPorts(planned: ReadonlyMap<string, PlannedListener>): Map<string, PlannedListener> {
  const wildcards = new Map<number, { key: string; listener: PlannedListener }>();
  for (const [key, listener] of planned) {
    if (!isWildcardAddress(listener.config.bindAddress)) continue;
    const held = wildcards.get(listener.config.port);
    if (!held || listener.config.bindAddress === '::') wildcards.set(listener.config.port, { key, listener });
  }
  const tenants = new Map<string, Map<string, PlannedListener>>();
  const bound = new Map<string, PlannedListener>();
  for (const [key, listener] of planned) {
    const wildcard = wildcards.get(listener.config.port);
    const address = listener.config.bindAddress;
    if (!wildcard || isWildcardAddress(address) || !takes(wildcard.listener.config.bindAddress, address)) {
      bound.set(key, listener);
      continue;
    }
    const byAddress = tenants.get(wildcard.key) ?? new Map<string, PlannedListener>();
    byAddress.set(localAddressKey(address), listener);
    tenants.set(wildcard.key, byAddress);
  }
  for (const [key, byAddress] of tenants) {
    const wildcard = bound.get(key);
    if (wildcard) bound.set(key, { config: wildcard.config, route: { ...wildcard.route, tenants: byAddress } });
  }
  return bound;
}

/**
 * tenantFor - the dedicated listener of the local address a connection reached, or null for
 * the listener's own route (no tenants, or none dedicated to that address).
 */
export function tenantFor(route: ListenerRoute, localAddress: string | undefined): PlannedListener | null {
  if (!route.tenants || route.tenants.size === 0 || !localAddress) return null;
  return route.tenants.get(localAddressKey(localAddress)) ?? null;
}

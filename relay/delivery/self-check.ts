/*
 * relay/delivery/self-check - is an address and port this hub's own listener? (MX loops)
 *
 * The hub listens on its config's listeners: a bound address is the hub's own on that port;
 * a wildcard listener (0.0.0.0, ::) makes every address of this machine's interfaces its own
 * on that port (0.0.0.0 its IPv4 addresses, :: all of them); and the endpoint clients dial (in a cluster the Service IP and port, which
 * an MX record would name) is its own too. `extraAddresses` are addresses the process really binds instead of the
 * config's (the hub's --bind-address, a pod IP). next-hop.ts drops such an MX host (RFC 5321
 * 5.1) so the hub never delivers to itself.
 */
import os from 'node:os';
import { canonicalAddress } from '../common/addresses.ts';
import type { ListenerConfig } from '../config/schema.ts';
import type { SelfCheck } from './next-hop.ts';

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** One spelling per address: IPv4-mapped IPv6 as IPv4, IPv6 in its RFC 5952 form. */
function canonical(address: string): string {
  const bare = address.replace(/%.*$/, '');
  return canonicalAddress(bare) ?? bare.toLowerCase();
}

/** This machine's interface addresses of one family (a 0.0.0.0 listener takes IPv4 only, :: both). */
function interfaceAddresses(ipv4Only: boolean): Set<string> {
  const found = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) {
    for (const i of list ?? []) if (!ipv4Only || i.family === 'IPv4') found.add(canonical(i.address));
  }
  return found;
}

/** selfCheckFor - the SelfCheck for these listeners (see the manual above). */
export function selfCheckFor(listeners: readonly Pick<ListenerConfig, 'bindAddress' | 'port' | 'endpoint' | 'servicePort'>[], extraAddresses: readonly string[] = []): SelfCheck {
  type PortEntry = { wildcard: 'none' | 'ipv4' | 'any'; addresses: Set<string> };
  const ports = new Map<number, PortEntry>();
  const entryFor = (port: number): PortEntry => {
    const entry = ports.get(port) ?? { wildcard: 'none', addresses: new Set(extraAddresses.map(canonical)) };
    ports.set(port, entry);
    return entry;
  };
  for (const l of listeners) {
    const bound = entryFor(l.port);
    if (l.bindAddress === '0.0.0.0') bound.wildcard = bound.wildcard === 'any' ? 'any' : 'ipv4';
    else if (WILDCARDS.has(l.bindAddress)) bound.wildcard = 'any';
    else bound.addresses.add(canonical(l.bindAddress));
    const dialed = /^\[?([^\]]+?)\]?:\d+$/.exec(l.endpoint)?.[1];
    if (dialed && !WILDCARDS.has(dialed)) entryFor(l.servicePort).addresses.add(canonical(dialed));
  }
  // read once, only when a wildcard listener asks
  const local: Partial<Record<'ipv4' | 'any', Set<string>>> = {};
  return (address, port) => {
    const entry = ports.get(port);
    if (!entry) return false;
    const a = canonical(address);
    if (entry.addresses.has(a)) return true;
    if (entry.wildcard === 'none') return false;
    const set = (local[entry.wildcard] ??= interfaceAddresses(entry.wildcard === 'ipv4'));
    return set.has(a);
  };
}

/*
 * relay/delivery/self-check - is an address and port this hub's own listener? (MX loops)
 *
 * The hub listens on its config's listeners: a bound address is the hub's own on that port;
 * a wildcard listener (0.0.0.0, ::) makes every address of this machine's interfaces its own
 * on that port; and the endpoint clients dial (in a cluster the Service IP and port, which
 * an MX record would name) is its own too. `extraAddresses` are addresses the process really binds instead of the
 * config's (the hub's --bind-address, a pod IP). next-hop.ts drops such an MX host (RFC 5321
 * 5.1) so the hub never delivers to itself.
 */
import os from 'node:os';
import type { ListenerConfig } from '../config/schema.ts';
import type { SelfCheck } from './next-hop.ts';

const WILDCARDS = new Set(['0.0.0.0', '::', '']);
const unmapped = (address: string): string => (address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address.toLowerCase());

function interfaceAddresses(): Set<string> {
  const found = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) found.add(unmapped(i.address.replace(/%.*$/, '')));
  return found;
}

/** selfCheckFor - the SelfCheck for these listeners (see the manual above). */
export function selfCheckFor(listeners: readonly Pick<ListenerConfig, 'bindAddress' | 'port' | 'endpoint' | 'servicePort'>[], extraAddresses: readonly string[] = []): SelfCheck {
  const ports = new Map<number, { wildcard: boolean; addresses: Set<string> }>();
  const entryFor = (port: number): { wildcard: boolean; addresses: Set<string> } => {
    const entry = ports.get(port) ?? { wildcard: false, addresses: new Set(extraAddresses.map(unmapped)) };
    ports.set(port, entry);
    return entry;
  };
  for (const l of listeners) {
    const bound = entryFor(l.port);
    if (WILDCARDS.has(l.bindAddress)) bound.wildcard = true;
    else bound.addresses.add(unmapped(l.bindAddress));
    const dialed = /^\[?([^\]]+?)\]?:\d+$/.exec(l.endpoint)?.[1];
    if (dialed && !WILDCARDS.has(dialed)) entryFor(l.servicePort).addresses.add(unmapped(dialed));
  }
  let local: Set<string> | null = null; // read once, only when a wildcard listener asks
  return (address, port) => {
    const entry = ports.get(port);
    if (!entry) return false;
    const a = unmapped(address);
    if (entry.addresses.has(a)) return true;
    if (!entry.wildcard) return false;
    local ??= interfaceAddresses();
    return local.has(a);
  };
}

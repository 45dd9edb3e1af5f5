/*
 * operator/render/bindings - a connector's bindings resolved to the listeners of one hub.
 *
 * "0.0.0.0:P" and "[::]:P" land on the hub's default address, "NAME:P" on the address called
 * NAME, a literal IP on the address with that ip (or one the operator adds, pinned to it).
 * A literal IP belongs to one hub only: the hub that lists it, else the earliest of the hubs
 * that select it; every other hub reports literalIPOwnedByOtherHub.
 */
import type { RelayHub } from '../api/types.generated.ts';
import { DEFAULT_ADDRESS_NAME } from '../api/defaults.ts';

export interface HubAddress {
  name: string;
  ip: string | null;
  /** Added by the operator for a literal-IP binding the hub did not list. */
  implied: boolean;
}

export interface ResolvedBinding {
  binding: string;
  addressName: string;
  port: number;
}

export type BindingResult =
  | { ok: true; binding: ResolvedBinding }
  | { ok: false; binding: string; rule: 'unknownHubAddress' | 'literalIPOwnedByOtherHub' | 'bindingSyntax'; message: string };

/** splitBinding - host and port of "IP:port", "[IPv6]:port" or "NAME:port". */
export function splitBinding(binding: string): { host: string; port: number } | null {
  const match = /^(\[([0-9A-Fa-f:.]+)\]|[^:[\]]+):([0-9]{1,5})$/.exec(binding);
  if (!match) return null;
  return { host: match[2] ?? match[1] ?? '', port: Number(match[3]) };
}

const isLiteralIP = (host: string): boolean => /^[0-9.]+$/.test(host) || host.includes(':');
const isWildcard = (host: string): boolean => host === '0.0.0.0' || host === '::';

/** impliedAddressName - the name of the address the operator adds for a literal IP. */
export function impliedAddressName(ip: string): string {
  return `ip-${ip.replace(/[.:]+/g, '-').replace(/^-|-$/g, '').toLowerCase()}`;
}

/** hubAddresses - the hub's listed addresses plus the implied default. */
export function hubAddresses(hub: RelayHub): HubAddress[] {
  const listed = (hub.spec.addresses ?? []).map((a) => ({ name: a.name, ip: a.ip ?? null, implied: false }));
  if (!listed.some((a) => a.name === DEFAULT_ADDRESS_NAME)) listed.unshift({ name: DEFAULT_ADDRESS_NAME, ip: null, implied: true });
  return listed;
}

/**
 * literalIPOwner - the hub that owns a literal IP among the hubs given in precedence order:
 * the first that lists the ip, else the first one.
 */
export function literalIPOwner(ip: string, hubs: RelayHub[]): RelayHub | undefined {
  return hubs.find((h) => (h.spec.addresses ?? []).some((a) => a.ip === ip)) ?? hubs[0];
}

/** resolveBinding - one binding on one hub; `hubsUsingIP` are the hubs the connector selects. */
export function resolveBinding(binding: string, hub: RelayHub, hubsUsingIP: RelayHub[]): BindingResult {
  const parts = splitBinding(binding);
  if (!parts) return { ok: false, binding, rule: 'bindingSyntax', message: `binding "${binding}" is not IP:port, [IPv6]:port or NAME:port` };
  const { host, port } = parts;
  if (isWildcard(host)) return { ok: true, binding: { binding, addressName: DEFAULT_ADDRESS_NAME, port } };
  const addresses = hubAddresses(hub);
  if (isLiteralIP(host)) {
    const listed = addresses.find((a) => a.ip === host);
    if (listed) return { ok: true, binding: { binding, addressName: listed.name, port } };
    const owner = literalIPOwner(host, hubsUsingIP);
    if (owner && owner.metadata.name !== hub.metadata.name) {
      return {
        ok: false,
        binding,
        rule: 'literalIPOwnedByOtherHub',
        message: `binding "${binding}": IP ${host} belongs to hub ${owner.metadata.name ?? ''}; a literal IP belongs to one hub only`,
      };
    }
    return { ok: true, binding: { binding, addressName: impliedAddressName(host), port } };
  }
  if (!addresses.some((a) => a.name === host)) {
    return {
      ok: false,
      binding,
      rule: 'unknownHubAddress',
      message: `binding "${binding}": hub ${hub.metadata.name ?? ''} has no address named "${host}" (it has: ${addresses.map((a) => a.name).join(', ')})`,
    };
  }
  return { ok: true, binding: { binding, addressName: host, port } };
}

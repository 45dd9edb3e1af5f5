/*
 * operator/import/exchange-addresses - Exchange Bindings and RemoteIPRanges as the contract
 * writes them.
 *
 * RemoteIPRanges items come as strings ("192.168.1.10", "10.0.0.1-10.0.0.9", "10.0.0.0/8",
 * "fe80::1%11") or as serialised IPRange objects (Expression, or LowerBound/UpperBound with
 * RangeFormat and CIDRLength). Bindings come as "0.0.0.0:25", "[::]:25" or {Address, Port}.
 * Every written entry is parsed with the relay's own range parser, so nothing invalid reaches
 * the YAML: an entry that does not parse is returned as rejected with the reason.
 */
import { parseRemoteIPRange } from '../../relay/common/addresses.ts';
import { isObject, readString, type Json } from './exchange-values.ts';

export interface RangeReading {
  entries: string[];
  /** Entries rewritten on the way (zone ids dropped), with the original. */
  rewritten: Array<{ from: string; to: string; why: string }>;
  rejected: Array<{ value: string; why: string }>;
}

function boundText(bound: Json | undefined): string | undefined {
  return isObject(bound) ? readString(bound.IPAddressToString) ?? readString(bound) : readString(bound);
}

/** rangeExpression - the text of one RemoteIPRanges item, in Exchange's own notation. */
function rangeExpression(item: Json): string | undefined {
  if (typeof item === 'string') return item.trim();
  if (!isObject(item)) return undefined;
  const expression = readString(item.Expression);
  if (expression) return expression.trim();
  const lower = boundText(item.LowerBound);
  const upper = boundText(item.UpperBound);
  if (!lower) return undefined;
  const format = readString(item.RangeFormat)?.toLowerCase();
  const cidr = typeof item.CIDRLength === 'number' ? item.CIDRLength : undefined;
  // RangeFormat: SingleAddress (0), LoHi (1), CIDR (2), as the IPRange type documents them.
  if (cidr !== undefined && (format === 'cidr' || format === '2')) return `${lower}/${cidr}`;
  if (!upper || upper === lower) return lower;
  return `${lower}-${upper}`;
}

/** readRemoteIPRanges - the entries to write, with what was rewritten or rejected and why. */
export function readRemoteIPRanges(items: Json[]): RangeReading {
  const reading: RangeReading = { entries: [], rewritten: [], rejected: [] };
  const seen = new Set<string>();
  for (const item of items) {
    const expression = rangeExpression(item);
    if (!expression) {
      reading.rejected.push({ value: JSON.stringify(item), why: 'not an IP address, range or CIDR block' });
      continue;
    }
    // A zone id names the server's own interface; the client address it matched is the same
    // address without it (a link-local client on that interface).
    const entry = expression.replace(/%[^-/]*/g, '');
    if (entry !== expression) reading.rewritten.push({ from: expression, to: entry, why: 'the IPv6 zone id names an interface of the Exchange server, which a hub does not have' });
    try {
      parseRemoteIPRange(entry);
    } catch (error) {
      reading.rejected.push({ value: expression, why: (error as Error).message });
      continue;
    }
    if (seen.has(entry)) continue;
    seen.add(entry);
    reading.entries.push(entry);
  }
  return reading;
}

export interface Binding {
  /** The address as written by Exchange, without brackets: "0.0.0.0", "::", "192.168.1.17". */
  address: string;
  port: number;
}

/** readBinding - one Bindings item, or undefined when it is not IP:port. */
export function readBinding(item: Json): Binding | undefined {
  if (isObject(item)) {
    const address = boundText(item.Address);
    const port = typeof item.Port === 'number' ? item.Port : Number(readString(item.Port));
    return address && Number.isInteger(port) ? { address, port } : undefined;
  }
  const text = readString(item);
  const match = text ? /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(text.trim()) : null;
  if (!match) return undefined;
  const port = Number(match[2]);
  return port >= 1 && port <= 65535 ? { address: match[1] ?? '', port } : undefined;
}

/** isWildcard - Exchange's "all addresses of the server" (0.0.0.0 and [::]). */
export const isWildcard = (binding: Binding): boolean => binding.address === '0.0.0.0' || binding.address === '::';

/** literalBinding - a literal address binding in the contract's notation. */
export const literalBinding = (binding: Binding): string => (binding.address.includes(':') ? `[${binding.address}]:${binding.port}` : `${binding.address}:${binding.port}`);

/**
 * addressNameFor - the hub address name standing for per-server literal IPs that one merged
 * connector used: derived from the first server's address, so every connector that bound the
 * same addresses lands on the same hub address.
 */
export function addressNameFor(address: string): string {
  const name = `ip-${address.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`.replace(/-+$/, '');
  return name.slice(0, 63).replace(/-+$/, '');
}

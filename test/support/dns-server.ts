/*
 * test/support/dns-server - a tiny authoritative DNS server on UDP for tests.
 *
 * Job: answer MX, A and AAAA questions from an in-memory zone so that MX delivery can be
 * tested against the real resolver (node:dns with setServers(['127.0.0.1:PORT'])).
 * A name not in the zone gets NXDOMAIN; a known name without records of the asked type gets
 * an empty NOERROR (NODATA); `servfail: true` makes a name answer SERVFAIL. An MX exchange
 * of '.' is a null MX. TXT answers (SPF records) carry each string of a record as given;
 * `ttl` sets the TTL of a name's records (default 60). The server can be made slow
 * (`delayMs`: every answer is sent that much later) or dead (`silent`: questions are counted
 * but never answered), to test and measure DNS on the accept path.
 * Trust: test-only, loopback only; nothing in the relay imports it.
 */
import dgram from 'node:dgram';
import ipaddr from 'ipaddr.js';

export interface TestZoneEntry {
  MX?: Array<{ priority: number; exchange: string }>;
  A?: string[];
  AAAA?: string[];
  /** One entry per record; a record is one or more character-strings (each up to 255 bytes). */
  TXT?: string[][];
  servfail?: boolean;
  /** TTL of this name's records in seconds; default 60. */
  ttl?: number;
}

export interface TestDnsServerOptions {
  /** Every answer is sent this many milliseconds after its question (a slow resolver). */
  delayMs?: number;
  /** Questions are logged but never answered (a dead resolver). */
  silent?: boolean;
}

export interface TestDnsServer {
  /** `127.0.0.1:PORT`, for Resolver.setServers. */
  address: string;
  zone: Map<string, TestZoneEntry>;
  /** Questions received, as `name TYPE`. */
  queries: string[];
  /** Changeable while running: the next questions see the new behaviour. */
  options: TestDnsServerOptions;
  close(): Promise<void>;
}

type RecordType = 'A' | 'MX' | 'AAAA' | 'TXT';
type RecordValue = string | string[] | { priority: number; exchange: string };
const TYPES: Record<number, RecordType> = { 1: 'A', 15: 'MX', 16: 'TXT', 28: 'AAAA' };

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  for (let len = msg[i] ?? 0; len > 0; len = msg[i] ?? 0) {
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
    i += len + 1;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 };
}

function rdata(type: RecordType, value: RecordValue): Buffer {
  if (type === 'TXT' && Array.isArray(value)) {
    return Buffer.concat(value.map((text) => {
      const bytes = Buffer.from(text, 'utf8');
      return Buffer.concat([Buffer.from([bytes.length]), bytes]);
    }));
  }
  if (type === 'MX' && typeof value === 'object' && !Array.isArray(value)) {
    const pref = Buffer.alloc(2);
    pref.writeUInt16BE(value.priority);
    return Buffer.concat([pref, encodeName(value.exchange === '.' ? '' : value.exchange)]);
  }
  return Buffer.from(ipaddr.parse(value as string).toByteArray());
}

function answer(query: Buffer, zone: Map<string, TestZoneEntry>, log: string[]): Buffer | null {
  if (query.length < 12) return null;
  const { name, end } = readName(query, 12);
  const qtype = query.readUInt16BE(end);
  const type = TYPES[qtype];
  log.push(`${name} ${type ?? qtype}`);
  const entry = zone.get(name);
  const rcode = entry === undefined ? 3 : entry.servfail ? 2 : 0;
  const values: RecordValue[] = type && entry && !entry.servfail ? (entry[type] ?? []) : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | rcode, 2); // QR, AA, RD copied
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(values.length, 6);
  const question = query.subarray(12, end + 4);
  const records = values.map((v) => {
    const data = rdata(type as RecordType, v);
    const fixed = Buffer.alloc(12);
    fixed.writeUInt16BE(0xc00c, 0);
    fixed.writeUInt16BE(qtype, 2);
    fixed.writeUInt16BE(1, 4);
    fixed.writeUInt32BE(entry?.ttl ?? 60, 6);
    fixed.writeUInt16BE(data.length, 10);
    return Buffer.concat([fixed, data]);
  });
  return Buffer.concat([header, question, ...records]);
}

/** startTestDnsServer - listen on 127.0.0.1 (port 0 = any free port). */
export async function startTestDnsServer(zone: Record<string, TestZoneEntry> = {}, port = 0, options: TestDnsServerOptions = {}): Promise<TestDnsServer> {
  const socket = dgram.createSocket('udp4');
  const map = new Map(Object.entries(zone).map(([k, v]) => [k.toLowerCase(), v]));
  const queries: string[] = [];
  const behaviour: TestDnsServerOptions = { ...options };
  const pending = new Set<NodeJS.Timeout>();
  socket.on('message', (msg, rinfo) => {
    const reply = answer(msg, map, queries);
    if (!reply || behaviour.silent) return;
    const delay = behaviour.delayMs ?? 0;
    if (delay <= 0) {
      socket.send(reply, rinfo.port, rinfo.address);
      return;
    }
    const timer = setTimeout(() => {
      pending.delete(timer);
      socket.send(reply, rinfo.port, rinfo.address);
    }, delay);
    pending.add(timer);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => resolve());
  });
  return {
    address: `127.0.0.1:${socket.address().port}`,
    zone: map,
    queries,
    options: behaviour,
    close: () => {
      for (const timer of pending) clearTimeout(timer);
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

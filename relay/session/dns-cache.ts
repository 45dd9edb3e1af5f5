/*
 * relay/session/dns-cache - the hub's DNS answer cache for the anti-spam checks (SPF, DNSBL).
 *
 * Job: answer `(name, rrtype)` questions from memory when an answer is fresh, ask the upstream
 * resolver once when it is not, however many sessions ask at the same moment (one query in
 * flight per question), and keep the answer as long as its TTL says. Without it every message
 * paid at least one DNS round trip before the reply to DATA (issue 14, item 7: ~50 msgs/s).
 *
 * What is kept, and for how long:
 * - answers: their TTL when the upstream reports one (node:dns gives TTLs for A and AAAA, which
 *   DNSBL answers and SPF a/mx terms are); node:dns hides the TTL of TXT, MX and PTR answers,
 *   so those are kept `defaultTtlSeconds` (60 s): shorter than the TTL of nearly every published
 *   SPF record, so in practice no answer outlives its TTL, for one query a minute per domain.
 *   Every TTL is capped at `maxTtlSeconds`.
 * - negative answers (NXDOMAIN, NODATA: "no SPF record", "not listed"): `negativeTtlSeconds`
 *   (RFC 2308 takes it from the SOA, which node:dns does not expose either).
 * - failures (SERVFAIL, refused, no answer within the caller's lookup timeout): `failureTtlSeconds`
 *   (RFC 9520: resolution failures must be cached, at least 1 s, at most 5 min), so a dead
 *   resolver costs one timeout per question per failure TTL, not one per message. A caller
 *   that gives up does not end the query: it stays in flight up to `upstreamTimeoutMs`, and a
 *   late answer replaces the failure, so a resolver slower than the connector's timeout still
 *   fills the cache for the next messages.
 * - serve-stale (RFC 8767, Unbound's serve-expired): for `staleSeconds` after it expired an
 *   entry is still answered at once while one refresh runs in the background; the refresh
 *   replaces it, except that a failed refresh does not replace a real answer (the refresh is
 *   retried after the failure TTL). So only a question never seen before waits for the resolver.
 * Bound: at most `maxEntries` entries, least recently used evicted first (a JavaScript Map keeps
 * insertion order; a hit moves its key to the end). One entry is a few hundred bytes (TXT
 * strings, a few addresses), so the default 10,000 entries stay under a few MiB.
 * Trust: answers are untrusted data; callers get a structured copy each time, so a caller that
 * sorts or edits an answer (mailauth sorts MX lists) cannot change what the next caller sees.
 */
import dns from 'node:dns';

/** `dns.promises.resolve`-shaped: (name, 'TXT' | 'A' | 'AAAA' | 'MX' | ...) => records; errors carry node's `code`. */
export type DnsResolver = (name: string, rrtype: string) => Promise<unknown>;

/** What an upstream answered: the records, and their TTL when the upstream reports one. */
export interface DnsAnswer {
  records: unknown;
  ttlSeconds?: number;
}
/** An upstream resolver that may report TTLs. */
export type DnsSource = (name: string, rrtype: string) => Promise<DnsAnswer>;

export interface DnsCacheOptions {
  /** Most entries kept (LRU beyond); default 10000. */
  maxEntries?: number;
  /** Answers without a reported TTL; default 60. */
  defaultTtlSeconds?: number;
  /** Cap on every TTL; default 3600. */
  maxTtlSeconds?: number;
  /** NXDOMAIN and NODATA; default 60. */
  negativeTtlSeconds?: number;
  /** SERVFAIL, refusals and timeouts; default 30. */
  failureTtlSeconds?: number;
  /** How long after expiry an entry is still served while it is refreshed; default 60. */
  staleSeconds?: number;
  /** How long a query stays in flight after its callers gave up (a late answer is kept); default 10000. */
  upstreamTimeoutMs?: number;
  /** Clock in ms (tests); default Date.now. */
  now?: () => number;
}

export interface DnsCacheStats {
  /** Fresh entries answered. */
  hits: number;
  /** Expired entries answered while a refresh ran. */
  staleHits: number;
  /** Questions that had to wait for the upstream (a query in flight or a new one). */
  misses: number;
  /** Queries sent upstream. */
  queries: number;
  entries: number;
}

type Outcome =
  | { kind: 'answer'; records: unknown; ttlSeconds: number | undefined }
  | { kind: 'negative' | 'failure'; code: string; message: string };

interface Entry {
  outcome: Outcome;
  expires: number;
  staleUntil: number;
}

/** Codes that say "this name has no such records": a stable, cacheable answer. */
const NEGATIVE_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'ENODATA']);
export const DEFAULT_LOOKUP_TIMEOUT_MS = 5000;

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'ESERVFAIL';
}

function dnsError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export class DnsCache {
  readonly #source: DnsSource;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<Outcome>>();
  readonly #max: number;
  readonly #defaultTtl: number;
  readonly #maxTtl: number;
  readonly #negativeTtl: number;
  readonly #failureTtl: number;
  readonly #stale: number;
  readonly #upstreamTimeout: number;
  readonly #now: () => number;
  readonly #resolvers = new Map<number, DnsResolver>();
  #hits = 0;
  #staleHits = 0;
  #misses = 0;
  #queries = 0;

  constructor(source: DnsSource, options: DnsCacheOptions = {}) {
    this.#source = source;
    this.#max = Math.max(1, options.maxEntries ?? 10_000);
    this.#defaultTtl = options.defaultTtlSeconds ?? 60;
    this.#maxTtl = options.maxTtlSeconds ?? 3600;
    this.#negativeTtl = options.negativeTtlSeconds ?? 60;
    this.#failureTtl = options.failureTtlSeconds ?? 30;
    this.#stale = options.staleSeconds ?? 60;
    this.#upstreamTimeout = options.upstreamTimeoutMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  get stats(): DnsCacheStats {
    return { hits: this.#hits, staleHits: this.#staleHits, misses: this.#misses, queries: this.#queries, entries: this.#entries.size };
  }

  /**
   * resolve - the records for (name, rrtype), from the cache or the upstream. A caller waits
   * for the upstream at most `lookupTimeoutMs`; then it gets ETIMEOUT and the question is cached
   * as a failure until the query, still in flight, brings an answer (or the failure TTL ends).
   * Rejects with an Error whose `code` is node's (ENOTFOUND, ENODATA, ETIMEOUT, ESERVFAIL...).
   */
  async resolve(name: string, rrtype: string, lookupTimeoutMs = DEFAULT_LOOKUP_TIMEOUT_MS): Promise<unknown> {
    const key = `${rrtype.toUpperCase()} ${name.toLowerCase().replace(/\.$/, '')}`;
    const now = this.#now();
    const entry = this.#entries.get(key);
    if (entry) {
      if (now < entry.expires || now < entry.staleUntil) {
        // LRU: the key moves to the end of the Map's order.
        this.#entries.delete(key);
        this.#entries.set(key, entry);
        if (now < entry.expires) {
          this.#hits++;
        } else {
          this.#staleHits++;
          void this.#refresh(key, name, rrtype, lookupTimeoutMs);
        }
        return settle(entry.outcome);
      }
      this.#entries.delete(key);
    }
    this.#misses++;
    return settle(await this.#wait(key, this.#refresh(key, name, rrtype, Math.max(lookupTimeoutMs, this.#upstreamTimeout)), lookupTimeoutMs, `${rrtype} ${name}`));
  }

  /** The caller's bounded wait for a query in flight; on timeout the question is cached as failed. */
  async #wait(key: string, query: Promise<Outcome>, timeoutMs: number, question: string): Promise<Outcome> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'failure', code: 'ETIMEOUT', message: `DNS ${question}: no answer within ${timeoutMs} ms` }), timeoutMs);
    });
    const outcome = await Promise.race([query, expired]);
    clearTimeout(timer);
    // Still in flight: later callers get the failure at once instead of waiting too.
    if (outcome.kind === 'failure' && outcome.code === 'ETIMEOUT' && this.#inFlight.get(key) === query) this.#store(key, outcome);
    return outcome;
  }

  /** resolverFor - this cache as a DnsResolver whose upstream queries last at most timeoutMs. */
  resolverFor(lookupTimeoutMs: number): DnsResolver {
    let resolver = this.#resolvers.get(lookupTimeoutMs);
    if (!resolver) {
      resolver = (name, rrtype) => this.resolve(name, rrtype, lookupTimeoutMs);
      // Connectors have few distinct timeouts; the map cannot grow past a handful.
      if (this.#resolvers.size < 64) this.#resolvers.set(lookupTimeoutMs, resolver);
    }
    return resolver;
  }

  /** One upstream query per key at a time; never rejects: the outcome is data. */
  #refresh(key: string, name: string, rrtype: string, timeoutMs: number): Promise<Outcome> {
    const running = this.#inFlight.get(key);
    if (running) return running;
    this.#queries++;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(dnsError('ETIMEOUT', `DNS ${rrtype} ${name}: no answer within ${timeoutMs} ms`)), timeoutMs);
      // A query nobody waits for any more must not keep the process alive.
      timer.unref();
    });
    const query = Promise.race([Promise.resolve().then(() => this.#source(name, rrtype)), expired])
      .then(
        (answer): Outcome => ({ kind: 'answer', records: answer.records, ttlSeconds: answer.ttlSeconds }),
        (error: unknown): Outcome => {
          const code = codeOf(error);
          const message = error instanceof Error ? error.message : `DNS ${rrtype} ${name}: ${code}`;
          return { kind: NEGATIVE_CODES.has(code) ? 'negative' : 'failure', code, message };
        },
      )
      .then((outcome) => {
        clearTimeout(timer);
        this.#inFlight.delete(key);
        this.#store(key, outcome);
        return outcome;
      });
    this.#inFlight.set(key, query);
    return query;
  }

  #store(key: string, outcome: Outcome): void {
    const now = this.#now();
    const previous = this.#entries.get(key);
    if (outcome.kind === 'failure' && previous && previous.outcome.kind !== 'failure' && now < previous.staleUntil) {
      // RFC 8767: a failed refresh keeps the stale answer; try again after the failure TTL.
      previous.expires = Math.min(now + this.#failureTtl * 1000, previous.staleUntil);
      return;
    }
    const ttl =
      outcome.kind === 'answer'
        ? Math.min(Math.max(0, outcome.ttlSeconds ?? this.#defaultTtl), this.#maxTtl)
        : outcome.kind === 'negative'
          ? Math.min(this.#negativeTtl, this.#maxTtl)
          : this.#failureTtl;
    const expires = now + ttl * 1000;
    this.#entries.delete(key);
    this.#entries.set(key, { outcome, expires, staleUntil: expires + this.#stale * 1000 });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }
}

function settle(outcome: Outcome): unknown {
  if (outcome.kind === 'answer') return structuredClone(outcome.records);
  throw dnsError(outcome.code, outcome.message);
}

/** sourceOfResolver - a plain resolver as a source (answers without TTLs: the default TTL applies). */
export function sourceOfResolver(resolver: DnsResolver): DnsSource {
  return async (name, rrtype) => ({ records: await resolver(name, rrtype) });
}

/**
 * systemDnsSource - node:dns (c-ares) against the servers of Node's default resolver, that is
 * /etc/resolv.conf, or what the process set with dns.setServers (how tests and the bench point
 * the hub at a local test DNS server). A and AAAA answers carry their TTL (the smallest of the
 * set); other types have none in node:dns. c-ares gives up after `timeout` x `tries` on its
 * own; the cache's lookup timeout normally ends the wait first.
 */
export function systemDnsSource(): DnsSource {
  const resolver = new dns.promises.Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers(dns.getServers());
  return async (name, rrtype) => {
    if (rrtype === 'A' || rrtype === 'AAAA') {
      const records = rrtype === 'A' ? await resolver.resolve4(name, { ttl: true }) : await resolver.resolve6(name, { ttl: true });
      const ttls = records.map((r) => r.ttl);
      return { records: records.map((r) => r.address), ...(ttls.length > 0 ? { ttlSeconds: Math.min(...ttls) } : {}) };
    }
    return { records: await resolver.resolve(name, rrtype) };
  };
}

let processCache: DnsCache | undefined;
/** The process-wide cache over the system resolver, for callers that were given none. */
export function defaultDnsCache(): DnsCache {
  processCache ??= new DnsCache(systemDnsSource());
  return processCache;
}

/*
 * operator/cli/queue-command - `relay-operator queue list|show|retry|hold|release|remove`: the
 * hub's queue API (relay/process/queue-api.ts) from the command line, as Exchange's Get-Queue,
 * Get-Message, Retry-Queue, Suspend-Message, Resume-Message, Remove-Message and Postfix's mailq,
 * postqueue -f, postsuper -h/-H/-d (docs/operations.md).
 *
 * The hub is reached at --hub-url (default http://127.0.0.1:9090, the metrics port of a hub pod:
 * the command works as is under `kubectl exec`, and through `kubectl port-forward`). Off the
 * loopback interface the hub wants its bearer token: --token-file. Tables by default, --json for
 * the API's answer as is. Exit status: 0 done, 1 the hub refused or failed (the reason printed),
 * 2 bad flags.
 */
import { userInfo } from 'node:os';
import { FlagError, parseFlags, readTokenFile, withFlagErrors } from './flags.ts';

const SUBCOMMANDS = ['list', 'show', 'retry', 'hold', 'release', 'remove'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];
export const DEFAULT_HUB_URL = 'http://127.0.0.1:9090';

const USAGE = `usage: relay-operator queue list    [--messages] [--sender S] [--recipient R] [--next-hop H] [--state S] [--older-than SECONDS] [--limit N] [--after ID]
       relay-operator queue show    ID
       relay-operator queue retry   ID... | --next-hop H
       relay-operator queue hold    ID...
       relay-operator queue release ID...
       relay-operator queue remove  ID... [--with-ndr]
common flags: --hub-url URL (default ${DEFAULT_HUB_URL}) --token-file FILE --json
`;

interface ApiError {
  error: { code: string | null; message: string };
}

class HubClient {
  readonly #base: URL;
  readonly #headers: Record<string, string>;

  constructor(base: string, token: string | null) {
    try {
      this.#base = new URL(base);
    } catch {
      throw new FlagError(`relay-operator queue: --hub-url "${base}" is not a URL (http://HOST:PORT)`);
    }
    let actor = 'unknown';
    try {
      actor = userInfo().username;
    } catch {
      // no user entry (a container running as an arbitrary uid): "unknown" plus the address
    }
    this.#headers = { 'X-Relay-Actor': actor, ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  }

  /** call - the JSON answer, or an Error with the hub's reason. */
  async call(method: 'GET' | 'POST', path: string, query: Record<string, string | undefined> = {}): Promise<unknown> {
    const url = new URL(`queue/${path}`, this.#base.href.endsWith('/') ? this.#base : `${this.#base.href}/`);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    let res: Response;
    try {
      res = await fetch(url, { method, headers: this.#headers });
    } catch (error) {
      throw new Error(`cannot reach the hub at ${this.#base.href}: ${((error as Error).cause as Error | undefined)?.message ?? (error as Error).message} (is --hub-url right? in a cluster: kubectl port-forward pod/NAME 9090)`, { cause: error });
    }
    const body: unknown = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`hub ${res.status}: ${(body as ApiError | null)?.error?.message ?? res.statusText}`);
    return body;
  }
}

const age = (seconds: number): string => (seconds < 120 ? `${seconds}s` : seconds < 7200 ? `${Math.floor(seconds / 60)}m` : `${Math.floor(seconds / 3600)}h`);

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_c, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

interface QueueRow { nextHop: string; count: number; byState: Record<string, number>; oldestAgeSeconds: number; lastError: string | null; nextRetryAt: string | null }
interface MessageRow { id: string; state: string; sender: string; recipients: number; size: number; ageSeconds: number; nextHops: string[]; lastError: string | null }

function printQueues(queues: QueueRow[]): string {
  if (queues.length === 0) return 'the queue is empty\n';
  return table([
    ['NEXT HOP', 'COUNT', 'DEFERRED', 'HELD', 'OLDEST', 'NEXT RETRY', 'LAST ERROR'],
    ...queues.map((q) => [q.nextHop, String(q.count), String(q.byState.deferred ?? 0), String(q.byState.hold ?? 0), age(q.oldestAgeSeconds), q.nextRetryAt ?? '-', q.lastError ?? '-']),
  ]);
}

function printMessages(page: { messages: MessageRow[]; next: string | null }): string {
  if (page.messages.length === 0) return 'no messages match\n';
  const text = table([
    ['ID', 'STATE', 'AGE', 'SIZE', 'SENDER', 'RCPTS', 'NEXT HOPS', 'LAST ERROR'],
    ...page.messages.map((m) => [m.id, m.state, age(m.ageSeconds), String(m.size), m.sender || '<>', String(m.recipients), m.nextHops.join(',') || '-', m.lastError ?? '-']),
  ]);
  return page.next ? `${text}more: --after ${page.next}\n` : text;
}

export function runQueue(args: string[]): Promise<number> {
  return withFlagErrors(async () => {
    const [sub, ...rest] = args;
    if (sub === undefined || sub === '--help' || sub === '-h') {
      process.stdout.write(USAGE);
      return sub === undefined ? 2 : 0;
    }
    if (!SUBCOMMANDS.includes(sub as Subcommand)) throw new FlagError(`relay-operator queue: unknown subcommand "${sub}"\n${USAGE}`);
    const { values, positionals } = parseFlags(`queue ${sub}`, rest, {
      'hub-url': { type: 'string', default: DEFAULT_HUB_URL },
      'token-file': { type: 'string' },
      json: { type: 'boolean', default: false },
      messages: { type: 'boolean', default: false },
      sender: { type: 'string' },
      recipient: { type: 'string' },
      'next-hop': { type: 'string' },
      state: { type: 'string' },
      'older-than': { type: 'string' },
      limit: { type: 'string' },
      after: { type: 'string' },
      'with-ndr': { type: 'boolean', default: false },
    }, true);
    const token = values['token-file'] ? readTokenFile(`queue ${sub}`, values['token-file'], 'token-file') : null;
    const client = new HubClient(values['hub-url'] ?? DEFAULT_HUB_URL, token);
    const out = (body: unknown, human: () => string): void => {
      process.stdout.write(values.json ? `${JSON.stringify(body, null, 2)}\n` : human());
    };
    try {
      if (sub === 'list') {
        if (positionals.length > 0) throw new FlagError(`relay-operator queue list: takes no message ids (use queue show ID)`);
        const filtered = values.messages || [values.sender, values.recipient, values['next-hop'], values.state, values['older-than'], values.after].some((v) => v !== undefined);
        if (!filtered) {
          const body = (await client.call('GET', 'queues')) as { queues: QueueRow[] };
          out(body, () => printQueues(body.queues));
          return 0;
        }
        const page = (await client.call('GET', 'messages', {
          sender: values.sender, recipient: values.recipient, nextHop: values['next-hop'], state: values.state,
          olderThan: values['older-than'], limit: values.limit, after: values.after,
        })) as { messages: MessageRow[]; next: string | null };
        out(page, () => printMessages(page));
        return 0;
      }
      if (sub === 'retry' && values['next-hop'] !== undefined) {
        if (positionals.length > 0) throw new FlagError('relay-operator queue retry: give message ids or --next-hop, not both');
        const body = (await client.call('POST', `next-hops/${encodeURIComponent(values['next-hop'])}/retry`)) as { nextHop: string; retried: string[] };
        out(body, () => `next hop ${body.nextHop}: ${body.retried.length} deferred messages due now\n`);
        return 0;
      }
      if (positionals.length === 0) throw new FlagError(`relay-operator queue ${sub}: give one or more message ids (queue list --messages shows them)${sub === 'retry' ? ', or --next-hop' : ''}`);
      if (sub === 'show') {
        if (positionals.length > 1) throw new FlagError('relay-operator queue show: one message id at a time');
        const body = (await client.call('GET', `messages/${encodeURIComponent(positionals[0] as string)}`)) as Record<string, unknown>;
        out(body, () => `${JSON.stringify(body, null, 2)}\n`);
        return 0;
      }
      let failed = 0;
      const results: unknown[] = [];
      for (const id of positionals) {
        const query = sub === 'remove' && values['with-ndr'] ? { ndr: 'true' } : {};
        try {
          const body = (await client.call('POST', `messages/${encodeURIComponent(id)}/${sub}`, query)) as { id: string; detail: string };
          results.push(body);
          if (!values.json) process.stdout.write(`${body.id}: ${body.detail}\n`);
        } catch (error) {
          failed += 1;
          results.push({ id, error: (error as Error).message });
          console.error(`${id}: ${(error as Error).message}`);
        }
      }
      if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      return failed > 0 ? 1 : 0;
    } catch (error) {
      if (error instanceof FlagError) throw error;
      console.error(`relay-operator queue ${sub}: ${(error as Error).message}`);
      return 1;
    }
  });
}

/*
 * operator/cli/hub-client - HTTP to one hub's endpoint (the queue API, /track), shared by
 * `--hub-url URL` and `--hub NAME` (where the URL is a port-forward to one pod).
 *
 * Every request names its actor (X-Relay-Actor: the local user name) for the tracking log's
 * audit entries, and carries the bearer token when one was given (needed off the loopback
 * interface only). A refusal becomes an Error with the hub's own reason.
 */
import { userInfo } from 'node:os';
import { FlagError } from './flags.ts';

interface ApiError {
  error: { code: string | null; message: string };
}

export type HubQuery = Record<string, string | readonly string[] | undefined>;

export class HubClient {
  readonly #base: URL;
  readonly #headers: Record<string, string>;
  readonly #hint: () => string;

  /** `hint` (or what it returns at the time) ends the message when the hub cannot be reached (what to check). */
  constructor(base: string, token: string | null, hint: string | (() => string) = 'is --hub-url right? in a cluster: --hub NAME -n NAMESPACE, or kubectl port-forward pod/NAME 9090') {
    try {
      const url = new URL(base);
      this.#base = url.href.endsWith('/') ? url : new URL(`${url.href}/`);
    } catch {
      throw new FlagError(`relay-operator: --hub-url "${base}" is not a URL (http://HOST:PORT)`);
    }
    let actor = 'unknown';
    try {
      actor = userInfo().username;
    } catch {
      // no user entry (a container running as an arbitrary uid): "unknown" plus the address
    }
    this.#headers = { 'X-Relay-Actor': actor, ...(token ? { Authorization: `Bearer ${token}` } : {}) };
    this.#hint = typeof hint === 'string' ? () => hint : hint;
  }

  get url(): string {
    return this.#base.href;
  }

  /** call - the JSON answer of `path` (relative: `queue/queues`, `track`), or an Error with the hub's reason. */
  async call(method: 'GET' | 'POST', path: string, query: HubQuery = {}): Promise<unknown> {
    const url = new URL(path, this.#base);
    for (const [k, v] of Object.entries(query)) {
      if (typeof v === 'string') url.searchParams.set(k, v);
      else if (v !== undefined) for (const one of v) url.searchParams.append(k, one);
    }
    let res: Response;
    try {
      res = await fetch(url, { method, headers: this.#headers });
    } catch (error) {
      throw new Error(`cannot reach the hub at ${this.#base.href}: ${((error as Error).cause as Error | undefined)?.message ?? (error as Error).message} (${this.#hint()})`, { cause: error });
    }
    const body: unknown = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`hub ${res.status}: ${(body as ApiError | null)?.error?.message ?? res.statusText}`);
    return body;
  }
}

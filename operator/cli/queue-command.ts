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
 *
 * In a cluster, --hub NAME [-n NS] instead: the hub's Running pods are found through the API
 * and each is reached through a port-forward (hub-targets.ts; the API sees loopback, so no
 * token). `list` merges the pods' answers with a POD column, message ids are shown and taken
 * as POD/ID (or ID --pod POD), and an action goes to the pod its id names. A pod that cannot
 * be asked is named on stderr and the exit status is 1, after the others' answers.
 */
import type { MessagePage, NextHopQueue } from '../../relay/queue/queue-view.ts';
import { FlagError, parseFlags, readTokenFile, withFlagErrors } from './flags.ts';
import { HubClient } from './hub-client.ts';
import { HUB_TARGET_FLAGS, connectHub, type HubConnection, type HubTarget } from './hub-targets.ts';
import { groupByPod, mergeMessages, mergeQueues, parsePodMessageId, type PodMessage, type PodQueue } from './queue-aggregate.ts';

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
in a cluster: --hub NAME [-n NAMESPACE] [--pod POD] [--kubeconfig FILE] [--context NAME]
              instead of --hub-url; ids are POD/ID (or ID with --pod POD)
`;

const age = (seconds: number): string => (seconds < 120 ? `${seconds}s` : seconds < 7200 ? `${Math.floor(seconds / 60)}m` : `${Math.floor(seconds / 3600)}h`);

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_c, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

/** With a POD column first when the rows come from a hub's pods. */
function printQueues(queues: (NextHopQueue & { pod?: string })[], byPod: boolean): string {
  if (queues.length === 0) return 'the queue is empty\n';
  return table([
    [...(byPod ? ['POD'] : []), 'NEXT HOP', 'COUNT', 'DEFERRED', 'HELD', 'OLDEST', 'NEXT RETRY', 'LAST ERROR'],
    ...queues.map((q) => [...(byPod ? [q.pod ?? '-'] : []), q.nextHop, String(q.count), String(q.byState.deferred), String(q.byState.hold), age(q.oldestAgeSeconds), q.nextRetryAt ?? '-', q.lastError ?? '-']),
  ]);
}

function printMessages(messages: MessagePage['messages'], more: string[]): string {
  if (messages.length === 0 && more.length === 0) return 'no messages match\n';
  const text = messages.length === 0 ? '' : table([
    ['ID', 'STATE', 'AGE', 'SIZE', 'SENDER', 'RCPTS', 'NEXT HOPS', 'LAST ERROR'],
    ...messages.map((m) => [m.id, m.state, age(m.ageSeconds), String(m.size), m.sender || '<>', String(m.recipients), m.nextHops.join(',') || '-', m.lastError ?? '-']),
  ]);
  return `${text}${more.map((m) => `more: ${m}\n`).join('')}`;
}

interface Failure { pod: string | null; error: string }

/** askAll - every target's answer (in target order), and the targets that failed with why. */
async function askAll<T>(targets: readonly HubTarget[], ask: (client: HubClient) => Promise<unknown>): Promise<{ answers: { pod: string; answer: T }[]; failures: Failure[] }> {
  const settled = await Promise.allSettled(targets.map((t) => ask(t.client)));
  const answers: { pod: string; answer: T }[] = [];
  const failures: Failure[] = [];
  settled.forEach((r, i) => {
    const pod = targets[i]?.pod ?? null;
    if (r.status === 'fulfilled') answers.push({ pod: pod ?? '', answer: r.value as T });
    else failures.push({ pod, error: (r.reason as Error).message });
  });
  return { answers, failures };
}

type Values = Record<string, string | boolean | undefined>;

/** podsNamed - the pods the command line's ids (and --after) name in --hub mode, or undefined for all. */
function podsNamed(sub: Subcommand, values: Values, positionals: string[]): string[] | undefined {
  const pod = values.pod as string | undefined;
  const after = values.after as string | undefined;
  if (sub === 'list') {
    if (after !== undefined) return [parsePodMessageId(`queue ${sub}`, after, pod).pod];
    return pod !== undefined ? [pod] : undefined;
  }
  if (sub === 'retry' && values['next-hop'] !== undefined) return pod !== undefined ? [pod] : undefined;
  return [...groupByPod(positionals.map((id) => parsePodMessageId(`queue ${sub}`, id, pod))).keys()];
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
      ...HUB_TARGET_FLAGS,
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
    const command = `queue ${sub}`;
    const inCluster = values.hub !== undefined;
    if (inCluster && values['hub-url'] !== undefined) throw new FlagError(`relay-operator ${command}: give --hub NAME (a hub in a cluster) or --hub-url URL (one hub's endpoint), not both`);
    if (!inCluster) {
      for (const flag of ['namespace', 'pod', 'kubeconfig', 'context'] as const) {
        if (values[flag] !== undefined) throw new FlagError(`relay-operator ${command}: --${flag} goes with --hub NAME`);
      }
    }
    if (inCluster && values['token-file'] !== undefined) throw new FlagError(`relay-operator ${command}: --token-file goes with --hub-url; through --hub the port-forward reaches the hub on its loopback interface, where no token is needed`);
    if (sub === 'list' && positionals.length > 0) throw new FlagError(`relay-operator queue list: takes no message ids (use queue show ID)`);
    if (sub === 'retry' && values['next-hop'] !== undefined && positionals.length > 0) throw new FlagError('relay-operator queue retry: give message ids or --next-hop, not both');
    if (sub !== 'list' && !(sub === 'retry' && values['next-hop'] !== undefined)) {
      if (positionals.length === 0) throw new FlagError(`relay-operator ${command}: give one or more message ids (queue list --messages shows them)${sub === 'retry' ? ', or --next-hop' : ''}`);
      if (sub === 'show' && positionals.length > 1) throw new FlagError('relay-operator queue show: one message id at a time');
    }
    const pods = inCluster ? podsNamed(sub as Subcommand, values, positionals) : undefined;
    const token = values['token-file'] ? readTokenFile(command, values['token-file'], 'token-file') : null;
    const standalone = inCluster ? null : new HubClient(values['hub-url'] ?? DEFAULT_HUB_URL, token);

    let connection: HubConnection | null = null;
    try {
      if (inCluster) {
        connection = await connectHub(command, { hub: values.hub as string, namespace: values.namespace, kubeconfig: values.kubeconfig, context: values.context, pods });
        for (const s of connection.skipped) console.error(`${s.pod}: left out, the pod is ${s.reason}`);
      }
      const targets: HubTarget[] = connection?.targets ?? [{ pod: null, client: standalone as HubClient }];
      return await runSubcommand(sub as Subcommand, values, positionals, targets, inCluster);
    } catch (error) {
      if (error instanceof FlagError) throw error;
      console.error(`relay-operator ${command}: ${(error as Error).message}`);
      return 1;
    } finally {
      await connection?.close();
    }
  });
}

async function runSubcommand(sub: Subcommand, values: Values, positionals: string[], targets: HubTarget[], inCluster: boolean): Promise<number> {
  const json = values.json === true;
  const out = (body: unknown, human: () => string): void => {
    process.stdout.write(json ? `${JSON.stringify(body, null, 2)}\n` : human());
  };
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const report = (failures: Failure[]): number => {
    for (const f of failures) console.error(`${f.pod === null ? '' : `${f.pod}: `}${f.error}`);
    return failures.length > 0 ? 1 : 0;
  };
  const single = targets.length === 1 && !inCluster;

  if (sub === 'list') {
    const filtered = values.messages === true || ['sender', 'recipient', 'next-hop', 'state', 'older-than', 'after'].some((v) => values[v] !== undefined);
    if (!filtered) {
      const { answers, failures } = await askAll<{ queues: NextHopQueue[] }>(targets, (c) => c.call('GET', 'queue/queues'));
      if (single) {
        if (failures[0]) throw new Error(failures[0].error);
        const body = answers[0]?.answer ?? { queues: [] };
        out(body, () => printQueues(body.queues, false));
        return 0;
      }
      const queues: PodQueue[] = mergeQueues(answers);
      if (answers.length > 0) out({ queues }, () => printQueues(queues, true));
      return report(failures);
    }
    const after = str('after');
    const afterId = after !== undefined && inCluster ? parsePodMessageId('queue list', after, str('pod')).id : after;
    const query = {
      sender: str('sender'), recipient: str('recipient'), nextHop: str('next-hop'), state: str('state'),
      olderThan: str('older-than'), limit: str('limit'), after: afterId,
    };
    const { answers, failures } = await askAll<MessagePage>(targets, (c) => c.call('GET', 'queue/messages', query));
    if (single) {
      if (failures[0]) throw new Error(failures[0].error);
      const page = answers[0]?.answer ?? { messages: [], next: null };
      out(page, () => printMessages(page.messages, page.next ? [`--after ${page.next}`] : []));
      return 0;
    }
    const merged: { messages: PodMessage[]; more: { pod: string; after: string }[] } = mergeMessages(answers);
    if (answers.length > 0) out(merged, () => printMessages(merged.messages, merged.more.map((m) => `--after ${m.pod}/${m.after}`)));
    return report(failures);
  }

  const nextHop = str('next-hop');
  if (sub === 'retry' && nextHop !== undefined) {
    const { answers, failures } = await askAll<{ nextHop: string; retried: string[] }>(targets, (c) => c.call('POST', `queue/next-hops/${encodeURIComponent(nextHop)}/retry`));
    if (single) {
      if (failures[0]) throw new Error(failures[0].error);
      const body = answers[0]?.answer ?? { nextHop, retried: [] };
      out(body, () => `next hop ${body.nextHop}: ${body.retried.length} deferred messages due now\n`);
      return 0;
    }
    const rows = answers.map(({ pod, answer }) => ({ pod, nextHop: answer.nextHop, retried: answer.retried.map((id) => `${pod}/${id}`) }));
    out(rows, () => rows.map((r) => `${r.pod}: next hop ${r.nextHop}: ${r.retried.length} deferred messages due now\n`).join(''));
    return report(failures);
  }

  const clientOf = new Map(targets.map((t) => [t.pod, t.client]));
  const ids = positionals.map((arg) => (inCluster ? { ...parsePodMessageId(`queue ${sub}`, arg, str('pod')), arg } : { pod: null, id: arg, arg }));
  if (sub === 'show') {
    const [one] = ids;
    if (!one) return 2;
    const body = (await (clientOf.get(one.pod) as HubClient).call('GET', `queue/messages/${encodeURIComponent(one.id)}`)) as Record<string, unknown>;
    const shown = inCluster ? { ...body, id: `${one.pod}/${String(body.id)}`, pod: one.pod } : body;
    out(shown, () => `${JSON.stringify(shown, null, 2)}\n`);
    return 0;
  }
  let failed = 0;
  const results: unknown[] = [];
  for (const { pod, id, arg } of ids) {
    const query = sub === 'remove' && values['with-ndr'] === true ? { ndr: 'true' } : {};
    try {
      const body = (await (clientOf.get(pod) as HubClient).call('POST', `queue/messages/${encodeURIComponent(id)}/${sub}`, query)) as { id: string; detail: string };
      const shown = pod === null ? body : { ...body, id: `${pod}/${body.id}` };
      results.push(shown);
      if (!json) process.stdout.write(`${shown.id}: ${shown.detail}\n`);
    } catch (error) {
      failed += 1;
      results.push({ id: arg, error: (error as Error).message });
      console.error(`${arg}: ${(error as Error).message}`);
    }
  }
  if (json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  return failed > 0 ? 1 : 0;
}

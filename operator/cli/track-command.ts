/*
 * operator/cli/track-command - `relay-operator track`: search the tracking log a hub keeps on its
 * spool volume (Exchange's Get-MessageTrackingLog), locally.
 *
 *   relay-operator track [--spool DIR] [--sender ADDR] [--recipient ADDR] [--message-id ID]
 *                        [--since TIME] [--until TIME] [--event EVENT]... [--limit N] [--json]
 *
 * --spool is the hub's spool (a pod's /var/spool/relay, the default) or the DIR given to
 * `relay-operator hub --spool DIR` (whose spool is DIR/queue); the entries are in its
 * `tracking/` folder. TIME is an RFC 3339 date (`2026-12-06`, `2026-12-06T05:00:00Z`) or a
 * duration back from now (`2h`, `30m`, `7d`). Prints a table, oldest first, or with --json the
 * entries as written (one JSON line each). Exit 0 with or without matches; 2 for bad flags or
 * a spool without a tracking folder. In a cluster: `kubectl exec POD -- relay-operator track ...`.
 *
 * Through a hub's HTTP endpoint instead of its disk (the track API, relay/process/track-api.ts):
 *   relay-operator track --hub-url URL [--token-file FILE] [search flags]   one hub
 *   relay-operator track --hub NAME [-n NS] [--pod POD] [--kubeconfig F] [--context C] [search flags]
 * --hub asks every Running pod of the hub through a port-forward (hub-targets.ts; no token) and
 * merges the entries by time with a POD column (a `pod` field with --json); --limit applies to
 * the merge. A pod that cannot be asked is named on stderr and the exit status is 1.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { searchTrackingLog, type TrackingEntry, type TrackingQuery } from '../../relay/log/tracking-log-search.ts';
import { TRACKING_EVENTS, type TrackingEventId } from '../../relay/log/tracking-log.ts';
import { parseDuration } from '../api/units.ts';
import { SPOOL_MOUNT } from '../resources/names.ts';
import { FlagError, parseFlags, readTokenFile, withFlagErrors } from './flags.ts';
import { HubClient, type HubQuery } from './hub-client.ts';
import { HUB_TARGET_FLAGS, connectHub, type HubConnection, type HubTarget } from './hub-targets.ts';
import { limitMerged, mergeTracking, type PodTrackingEntry } from './queue-aggregate.ts';

/** Exchange's Get-MessageTrackingLog returns 1000 entries unless -ResultSize says otherwise. */
export const DEFAULT_TRACK_LIMIT = 1000;

/** parseTrackTime - an RFC 3339 date or a duration back from `now`, in ms since the epoch. */
export function parseTrackTime(flag: string, value: string, now: number): number {
  if (/^([0-9]+(ms|s|m|h|d))+$/.test(value)) return now - parseDuration(value);
  if (/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?)?$/.test(value)) {
    const ms = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
    if (Number.isFinite(ms)) return ms;
  }
  throw new FlagError(`relay-operator track: --${flag} must be a date (2026-12-06, 2026-12-06T05:00:00Z) or a duration back from now (2h, 7d), not "${value}"`);
}

/** trackingDirOf - the tracking folder of a pod's spool or of a standalone hub's DIR. */
export function trackingDirOf(spool: string): string {
  const direct = path.join(spool, 'tracking');
  const standalone = path.join(spool, 'queue', 'tracking');
  if (existsSync(direct)) return direct;
  if (existsSync(standalone)) return standalone;
  throw new FlagError(`relay-operator track: --spool ${spool}: no tracking/ folder there nor in ${path.join(spool, 'queue')} (is it a hub's spool, and has the hub run since it was upgraded?)`);
}

function parseEvents(values: string[]): TrackingEventId[] | undefined {
  if (values.length === 0) return undefined;
  return values.flatMap((v) => v.split(',')).map((v) => {
    const event = v.trim().toUpperCase();
    if (!(TRACKING_EVENTS as readonly string[]).includes(event)) throw new FlagError(`relay-operator track: --event must be one of ${TRACKING_EVENTS.join(', ')}, not "${v}"`);
    return event as TrackingEventId;
  });
}

/** formatTrackingTable - the entries as an aligned table (the columns Get-MessageTrackingLog shows). */
export function formatTrackingTable(entries: readonly (TrackingEntry & { pod?: string })[], byPod = false): string {
  const header = [...(byPod ? ['POD'] : []), 'TIMESTAMP', 'EVENT', 'SOURCE', 'SENDER', 'RECIPIENTS', 'MESSAGE-ID', 'CONNECTOR', 'SERVER/CLIENT', 'STATUS'];
  const rows = entries.map((e) => [
    ...(byPod ? [e.pod ?? '-'] : []), e['date-time'], e['event-id'], e.source, e['sender-address'] || '<>', e['recipient-address'].join(','),
    `${e['internal-message-id']} ${e['network-message-id']}`.trim(), e['connector-id'],
    e['server-hostname'] ?? e['client-ip'] ?? '', e['recipient-status'].join(' | '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [format(header), ...rows.map(format)].join('\n');
}

export function runTrack(args: string[]): Promise<number> {
  return withFlagErrors(async () => {
    const { values } = parseFlags('track', args, {
      spool: { type: 'string' },
      ...HUB_TARGET_FLAGS,
      sender: { type: 'string' },
      recipient: { type: 'string' },
      'message-id': { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      event: { type: 'string', multiple: true },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    const sources = (['spool', 'hub-url', 'hub'] as const).filter((f) => values[f] !== undefined);
    if (sources.length > 1) throw new FlagError(`relay-operator track: give one of --spool DIR, --hub-url URL or --hub NAME, not ${sources.map((f) => `--${f}`).join(' and ')}`);
    if (values.hub === undefined) {
      for (const flag of ['namespace', 'pod', 'kubeconfig', 'context'] as const) {
        if (values[flag] !== undefined) throw new FlagError(`relay-operator track: --${flag} goes with --hub NAME`);
      }
    }
    if (values['token-file'] !== undefined && values['hub-url'] === undefined) throw new FlagError('relay-operator track: --token-file goes with --hub-url (through --hub the port-forward needs no token)');
    const now = Date.now();
    const limit = values.limit === undefined ? DEFAULT_TRACK_LIMIT : Number(values.limit);
    if (!Number.isSafeInteger(limit) || limit < 0) throw new FlagError(`relay-operator track: --limit must be a whole number (0 = no limit), not "${values.limit}"`);
    const events = parseEvents(values.event ?? []);
    const query: TrackingQuery = {
      ...(values.sender !== undefined ? { sender: values.sender } : {}),
      ...(values.recipient !== undefined ? { recipient: values.recipient } : {}),
      ...(values['message-id'] !== undefined ? { messageId: values['message-id'] } : {}),
      ...(values.since !== undefined ? { since: parseTrackTime('since', values.since, now) } : {}),
      ...(values.until !== undefined ? { until: parseTrackTime('until', values.until, now) } : {}),
      ...(events ? { events } : {}),
      limit,
    };
    if (values['hub-url'] === undefined && values.hub === undefined) {
      const result = await searchTrackingLog(trackingDirOf(values.spool ?? SPOOL_MOUNT), query);
      printEntries(result.entries, values.json, false);
      if (result.truncated) console.error(`track: stopped at ${limit} entries (--limit N for more, --limit 0 for all)`);
      if (result.unreadableLines > 0) console.error(`track: ${result.unreadableLines} line(s) were not whole tracking entries (torn by a crash) and were skipped`);
      return 0;
    }
    const token = values['token-file'] ? readTokenFile('track', values['token-file'], 'token-file') : null;
    let connection: HubConnection | null = null;
    try {
      if (values.hub !== undefined) {
        connection = await connectHub('track', { hub: values.hub, namespace: values.namespace, kubeconfig: values.kubeconfig, context: values.context, pods: values.pod !== undefined ? [values.pod] : undefined });
        for (const s of connection.skipped) console.error(`${s.pod}: left out, the pod is ${s.reason}`);
      }
      const targets: HubTarget[] = connection?.targets ?? [{ pod: null, client: new HubClient(values['hub-url'] as string, token) }];
      return await searchHubs(targets, query, values.json);
    } catch (error) {
      if (error instanceof FlagError) throw error;
      console.error(`relay-operator track: ${(error as Error).message}`);
      return 1;
    } finally {
      await connection?.close();
    }
  });
}

function printEntries(entries: readonly (TrackingEntry & { pod?: string })[], json: boolean | undefined, byPod: boolean): void {
  if (json) process.stdout.write(entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
  else process.stdout.write(`${formatTrackingTable(entries, byPod)}\n`);
}

/** The search as the track API's query string (relay/process/track-api.ts). */
function apiQuery(query: TrackingQuery): HubQuery {
  return {
    sender: query.sender, recipient: query.recipient, messageId: query.messageId,
    since: query.since !== undefined ? new Date(query.since).toISOString() : undefined,
    until: query.until !== undefined ? new Date(query.until).toISOString() : undefined,
    event: query.events, limit: String(query.limit ?? 0),
  };
}

interface TrackAnswer { entries: TrackingEntry[]; truncated: boolean; unreadableLines: number }

async function searchHubs(targets: readonly HubTarget[], query: TrackingQuery, json: boolean | undefined): Promise<number> {
  const settled = await Promise.allSettled(targets.map((t) => t.client.call('GET', 'track', apiQuery(query)) as Promise<TrackAnswer>));
  const answers: { pod: string; answer: TrackAnswer }[] = [];
  let failed = 0;
  settled.forEach((r, i) => {
    const pod = targets[i]?.pod ?? null;
    if (r.status === 'fulfilled') answers.push({ pod: pod ?? '', answer: r.value });
    else {
      failed += 1;
      console.error(`relay-operator track: ${pod === null ? '' : `${pod}: `}${(r.reason as Error).message}`);
    }
  });
  if (answers.length === 0) return 1;
  const byPod = targets.some((t) => t.pod !== null);
  const merged: PodTrackingEntry[] | TrackingEntry[] = byPod ? mergeTracking(answers) : answers[0]?.answer.entries ?? [];
  const { rows, truncated } = limitMerged<TrackingEntry & { pod?: string }>(merged, query.limit ?? 0);
  printEntries(rows, json, byPod);
  const limit = query.limit ?? 0;
  if (truncated || answers.some((a) => a.answer.truncated)) console.error(`track: stopped at ${limit} entries (--limit N for more, --limit 0 for all)`);
  const unreadable = answers.reduce((n, a) => n + a.answer.unreadableLines, 0);
  if (unreadable > 0) console.error(`track: ${unreadable} line(s) were not whole tracking entries (torn by a crash) and were skipped`);
  return failed > 0 ? 1 : 0;
}

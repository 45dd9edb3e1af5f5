/*
 * relay/log/tracking-log-search - Get-MessageTrackingLog over `<spool>/tracking/`: the entries
 * that match every filter given, oldest first.
 *
 * Filters (all optional, all must match): sender (sender-address, case-insensitive), recipient
 * (one of recipient-address, case-insensitive), messageId (internal-message-id or
 * network-message-id, with or without <>), since/until (date-time, inclusive/exclusive), events
 * (event-id in the list). Fast enough for a pod's month of mail (100,000 entries in well under a
 * second, bench/tracking-search.ts): files last written before `since` are not read; in the
 * lower-cased file, indexOf finds the lines that contain the first filter's text, and a line is
 * parsed only when it also holds every other filter's text and its date (read at a fixed offset)
 * is in range; the exact checks run on the parsed entry. A candidate line that is not a tracking
 * entry (torn by a crash) is skipped and counted, not fatal.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { isTrackingFileName } from './tracking-log-file.ts';
import type { TrackingEvent, TrackingEventId } from './tracking-log.ts';

/** One line of the tracking log as written (trackingLine). */
export type TrackingEntry = TrackingEvent & { log: 'tracking'; 'date-time': string };

export interface TrackingQuery {
  sender?: string;
  recipient?: string;
  messageId?: string;
  /** Milliseconds since the epoch. */
  since?: number;
  until?: number;
  events?: readonly TrackingEventId[];
  /** Stop after this many entries (the oldest); 0 or absent = all. */
  limit?: number;
}

export interface TrackingSearchResult {
  entries: TrackingEntry[];
  /** Files read (those last written before `since` are skipped). */
  filesRead: number;
  /** Lines that were not a whole tracking entry (a crash tore the last write). */
  unreadableLines: number;
  /** True when `limit` stopped the search before the end. */
  truncated: boolean;
}

const DATE_PREFIX = '{"log":"tracking","date-time":"';
const ISO_LENGTH = 24;

const bareId = (id: string): string => id.trim().replace(/^<(.*)>$/, '$1').toLowerCase();

function entryMatches(entry: TrackingEntry, query: TrackingQuery, sender: string | null, recipient: string | null, messageId: string | null): boolean {
  if (query.events && !query.events.includes(entry['event-id'])) return false;
  if (sender !== null && entry['sender-address'].toLowerCase() !== sender) return false;
  if (recipient !== null && !entry['recipient-address'].some((r) => r.toLowerCase() === recipient)) return false;
  if (messageId !== null && bareId(entry['internal-message-id']) !== messageId && bareId(entry['network-message-id']) !== messageId) return false;
  const at = Date.parse(entry['date-time']);
  if (query.since !== undefined && !(at >= query.since)) return false;
  if (query.until !== undefined && !(at < query.until)) return false;
  return true;
}

interface FileScan {
  query: TrackingQuery;
  sender: string | null;
  recipient: string | null;
  messageId: string | null;
  /** Lower-cased text every candidate line contains. */
  needles: string[];
  /** Lower-cased `"event-id":"x"`, one of which a candidate line contains; null = any event. */
  eventNeedles: string[] | null;
  sinceIso: string | null;
  untilIso: string | null;
  limit: number;
}

/**
 * lineStarts - the [start, end) of each candidate line of `text`: every line, or with a needle
 * only the lines where `folded` (the lower-cased text, same length) contains it, found by
 * indexOf over the whole file (a search that matches little touches few lines).
 */
function* candidateLines(text: string, folded: string | null, needle: string | null): Generator<[number, number]> {
  let from = 0;
  while (from < text.length) {
    let start = from;
    if (needle !== null && folded !== null) {
      const hit = folded.indexOf(needle, from);
      if (hit < 0) return;
      start = folded.lastIndexOf('\n', hit) + 1;
    }
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    yield [start, end];
    from = end + 1;
  }
}

/** scanFile - adds the file's matching entries to `result`; true when the limit stopped it. */
function scanFile(text: string, scan: FileScan, result: TrackingSearchResult): boolean {
  const wantsText = scan.needles.length > 0 || scan.eventNeedles !== null;
  let folded: string | null = wantsText ? text.toLowerCase() : null;
  // Lower-casing can change a string's length (a few non-ASCII letters); then lines are folded one by one.
  const aligned = folded !== null && folded.length === text.length;
  if (!aligned) folded = null;
  const lead = aligned ? (scan.needles[0] ?? (scan.eventNeedles?.length === 1 ? scan.eventNeedles[0] ?? null : null)) : null;
  for (const [start, end] of candidateLines(text, folded, lead)) {
    if (end === start) continue;
    const line = text.slice(start, end);
    if (line.startsWith(DATE_PREFIX)) {
      const date = line.slice(DATE_PREFIX.length, DATE_PREFIX.length + ISO_LENGTH);
      if (scan.sinceIso !== null && date < scan.sinceIso) continue;
      if (scan.untilIso !== null && date >= scan.untilIso) continue;
    }
    if (wantsText) {
      const lower = folded !== null ? folded.slice(start, end) : line.toLowerCase();
      if (!scan.needles.every((n) => lower.includes(n))) continue;
      if (scan.eventNeedles && !scan.eventNeedles.some((n) => lower.includes(n))) continue;
    }
    let entry: TrackingEntry;
    try {
      entry = JSON.parse(line) as TrackingEntry;
    } catch {
      result.unreadableLines += 1;
      continue;
    }
    if (entry.log !== 'tracking' || typeof entry['date-time'] !== 'string' || !Array.isArray(entry['recipient-address'])) {
      result.unreadableLines += 1;
      continue;
    }
    if (!entryMatches(entry, scan.query, scan.sender, scan.recipient, scan.messageId)) continue;
    if (result.entries.length >= scan.limit) {
      result.truncated = true;
      return true;
    }
    result.entries.push(entry);
  }
  return false;
}

/** searchTrackingLog - the entries of the tracking folder `dir` that match `query`, oldest first. */
export async function searchTrackingLog(dir: string, query: TrackingQuery): Promise<TrackingSearchResult> {
  const sender = query.sender !== undefined ? query.sender.trim().toLowerCase() : null;
  const recipient = query.recipient !== undefined ? query.recipient.trim().toLowerCase() : null;
  const messageId = query.messageId !== undefined ? bareId(query.messageId) : null;
  // Text each candidate line must contain (lower-cased); JSON.stringify escapes as the writer did.
  const needles = [sender, recipient, messageId].filter((n): n is string => n !== null && n !== '').map((n) => JSON.stringify(n).slice(1, -1));
  const eventNeedles = query.events?.map((e) => `"event-id":"${e.toLowerCase()}"`) ?? null;
  const sinceIso = query.since !== undefined ? new Date(query.since).toISOString() : null;
  const untilIso = query.until !== undefined ? new Date(query.until).toISOString() : null;
  const limit = query.limit && query.limit > 0 ? query.limit : Infinity;

  const scan: FileScan = { query, sender, recipient, messageId, needles, eventNeedles, sinceIso, untilIso, limit };
  const result: TrackingSearchResult = { entries: [], filesRead: 0, unreadableLines: 0, truncated: false };
  const names = (await fs.readdir(dir)).filter(isTrackingFileName).sort();
  for (const name of names) {
    const file = path.join(dir, name);
    if (query.since !== undefined) {
      const stat = await fs.stat(file).catch(() => null);
      if (!stat || stat.mtimeMs < query.since) continue;
    }
    const text = await fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null; // deleted by retention meanwhile
      throw error;
    });
    if (text === null) continue;
    result.filesRead += 1;
    if (scanFile(text, scan, result)) return result;
  }
  return result;
}

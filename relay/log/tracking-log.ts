/*
 * relay/log/tracking-log - the message tracking log: one JSON line per message event on stdout.
 *
 * Like Exchange's message tracking log (field names as Exchange's, plus `log: "tracking"`):
 *   RECEIVE  the queue took a message in (source SMTP, or DSN for our own reports)
 *   SEND     recipients accepted by the next hop (or written to a drop directory)
 *   DEFER    recipients kept queued after a temporary failure, with the reply
 *   FAIL     recipients given up on (permanent failure or expiry), with the reply
 *   DSN      a delivery status notification was queued (reference = the original message)
 * internal-message-id is the queue id; network-message-id is the Message-ID header (the id
 * that follows the message across hops). Recipients, their statuses, the connector, the
 * next hop and sizes are included; message bodies and subjects never are.
 * Lines go to stdout through the buffered sink of relay/common/log-output.ts, like the protocol log,
 * and the same lines to the spool volume's `tracking/` folder when the hub gives a file
 * (tracking-log-file.ts: rotated, pruned, searched by `relay-operator track`).
 */
import { stdoutSink, type LogSink } from '../common/log-output.ts';

export const TRACKING_EVENTS = ['RECEIVE', 'SEND', 'DEFER', 'FAIL', 'DSN'] as const;
export type TrackingEventId = (typeof TRACKING_EVENTS)[number];

export interface TrackingEvent {
  'event-id': TrackingEventId;
  /** SMTP for mail received from a client, DSN for reports generated here, QUEUE otherwise. */
  source: 'SMTP' | 'DSN' | 'QUEUE';
  /** The receive connector (RECEIVE) or the send connector (SEND, DEFER, FAIL). */
  'connector-id': string;
  'internal-message-id': string;
  'network-message-id': string;
  'sender-address': string;
  'recipient-address': string[];
  /** One entry per recipient: the reply or reason (`250 2.0.0 Ok`, `550 5.1.1 ...`). */
  'recipient-status': string[];
  'recipient-count': number;
  'total-bytes': number;
  /** Next hop (smart host, `mx`, `drop`) for SEND/DEFER/FAIL; client IP for RECEIVE. */
  'server-hostname'?: string;
  'client-ip'?: string;
  /** DSN: the internal id of the message the report is about. */
  reference?: string;
  /** Extra context (`expired`, the session id, ...). */
  'source-context'?: string;
}

/** trackingLine - the JSON line for one event (exported for tests). */
export function trackingLine(event: TrackingEvent, now: Date = new Date()): string {
  return `${JSON.stringify({ log: 'tracking', 'date-time': now.toISOString(), ...event })}\n`;
}

/** What keeps a copy of each line (TrackingLogFile): takes it and returns at once. */
export interface TrackingLineCopy {
  append(line: string): void;
}

/** TrackingLog - writes tracking events to a sink (stdout by default) and to `copy` when given. */
export class TrackingLog {
  readonly #sink: LogSink;
  readonly #now: () => number;
  readonly #copy: TrackingLineCopy | null;

  constructor(sink: LogSink = stdoutSink, now: () => number = Date.now, copy: TrackingLineCopy | null = null) {
    this.#sink = sink;
    this.#now = now;
    this.#copy = copy;
  }

  write(event: TrackingEvent): void {
    const line = trackingLine(event, new Date(this.#now()));
    this.#sink(line);
    this.#copy?.append(line);
  }
}

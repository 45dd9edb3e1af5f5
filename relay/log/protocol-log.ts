/*
 * relay/log/protocol-log - the protocol log: one JSON line per session event on stdout.
 *
 * Fields follow Exchange's protocol log (date-time, connector-id, session-id, sequence-number,
 * local-endpoint, remote-endpoint, event, data, context) plus `log: "protocol"`. Events: `+`
 * connect, `-` disconnect, `<` received from the client, `>` sent, `*` information (rights,
 * refusals with their reason). A connector with protocolLogging None still logs refusals.
 * Lines go to stdout through the buffered sink of relay/common/log-output.ts (one write per event-loop turn);
 * refusals are written at once (urgent), before the reply that may end the session.
 */
import { isoTime, stdoutSink, type LogSink } from '../common/log-output.ts';

export { flushLogOutput, stdoutSink, type LogSink } from '../common/log-output.ts';

export type ProtocolEvent = '+' | '-' | '<' | '>' | '*';

export interface ProtocolLogLine {
  'connector-id': string;
  'session-id': string;
  'local-endpoint': string;
  'remote-endpoint': string;
  event: ProtocolEvent;
  data: string;
  context: string;
}

/** A session's protocol log: numbers its lines and knows its endpoints. */
export class SessionLog {
  readonly #sink: LogSink;
  readonly #base: Omit<ProtocolLogLine, 'event' | 'data' | 'context'>;
  readonly #verbose: boolean;
  /** The base fields serialised once, on the first line written: `,"connector-id":...`. */
  #baseJson: string | null = null;
  #sequence = 0;

  constructor(base: Omit<ProtocolLogLine, 'event' | 'data' | 'context'>, verbose: boolean, sink: LogSink = stdoutSink) {
    this.#base = base;
    this.#verbose = verbose;
    this.#sink = sink;
  }

  /** write - a line, unless the connector logs refusals only and this is not one. */
  write(event: ProtocolEvent, data: string, context = '', refusal = false): void {
    if (!this.#verbose && !refusal) return;
    const time = isoTime();
    const sequence = this.#sequence++;
    if (typeof event !== 'string' || typeof data !== 'string' || typeof context !== 'string') {
      // Not reachable from typed callers; kept so the line is valid JSON whatever comes in.
      this.#sink(`${JSON.stringify({ log: 'protocol', 'date-time': time, ...this.#base, 'sequence-number': sequence, event, data, context })}\n`, refusal);
      return;
    }
    // The same text as the JSON.stringify above (protocol-log.test.ts checks), without
    // building and walking an object per line.
    if (this.#baseJson === null) {
      const base = JSON.stringify(this.#base);
      this.#baseJson = base.length > 2 ? `,${base.slice(1, -1)}` : '';
    }
    this.#sink(
      `{"log":"protocol","date-time":"${time}"${this.#baseJson},"sequence-number":${sequence},"event":${JSON.stringify(event)},"data":${JSON.stringify(data)},"context":${JSON.stringify(context)}}\n`,
      refusal,
    );
  }
}

/** appLog - an operational line (`log: "app"`): start, reload, recovery, errors. */
export function appLog(level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown> = {}, sink: LogSink = stdoutSink): void {
  sink(`${JSON.stringify({ log: 'app', time: isoTime(), level, message, ...fields })}\n`);
}

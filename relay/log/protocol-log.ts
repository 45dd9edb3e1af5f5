/*
 * relay/log/protocol-log - the protocol log: one JSON line per session event on stdout.
 *
 * Fields follow Exchange's protocol log (date-time, connector-id, session-id, sequence-number,
 * local-endpoint, remote-endpoint, event, data, context) plus `log: "protocol"`. Events: `+`
 * connect, `-` disconnect, `<` received from the client, `>` sent, `*` information (rights,
 * refusals with their reason). A connector with protocolLogging None still logs refusals.
 */

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

export type LogSink = (line: string) => void;

const stdoutSink: LogSink = (line) => {
  process.stdout.write(line);
};

/** A session's protocol log: numbers its lines and knows its endpoints. */
export class SessionLog {
  readonly #sink: LogSink;
  readonly #base: Omit<ProtocolLogLine, 'event' | 'data' | 'context'>;
  readonly #verbose: boolean;
  #sequence = 0;

  constructor(base: Omit<ProtocolLogLine, 'event' | 'data' | 'context'>, verbose: boolean, sink: LogSink = stdoutSink) {
    this.#base = base;
    this.#verbose = verbose;
    this.#sink = sink;
  }

  /** write - a line, unless the connector logs refusals only and this is not one. */
  write(event: ProtocolEvent, data: string, context = '', refusal = false): void {
    if (!this.#verbose && !refusal) return;
    const line = {
      log: 'protocol',
      'date-time': new Date().toISOString(),
      ...this.#base,
      'sequence-number': this.#sequence++,
      event,
      data,
      context,
    };
    this.#sink(`${JSON.stringify(line)}\n`);
  }
}

/** appLog - an operational line (`log: "app"`): start, reload, recovery, errors. */
export function appLog(level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown> = {}, sink: LogSink = stdoutSink): void {
  sink(`${JSON.stringify({ log: 'app', time: new Date().toISOString(), level, message, ...fields })}\n`);
}

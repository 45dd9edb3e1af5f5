/*
 * test/support/tracking-entries - tracking log entries as a busy hub writes them, for the
 * tracking log's tests and bench/tracking-search.ts: each message has a RECEIVE and a SEND,
 * some a DEFER first, a few a FAIL and a DSN; senders and recipients drawn from small pools.
 */
import { trackingLine, type TrackingEvent } from '../../relay/log/tracking-log.ts';

export interface GeneratedMessage {
  queueId: string;
  messageId: string;
  sender: string;
  recipients: string[];
}

/** messageOf - the nth message (deterministic: the same n gives the same message). */
export function messageOf(n: number): GeneratedMessage {
  const recipients = [`user${n % 97}@example.net`];
  if (n % 5 === 0) recipients.push(`team${n % 13}@example.org`);
  return { queueId: `Q${n.toString(16).padStart(10, '0')}`, messageId: `<${n}.printer@scan.example.com>`, sender: `scanner${n % 50}@contoso.test`, recipients };
}

/** eventsOf - the tracking events of the nth message, in the order a hub logs them. */
export function eventsOf(n: number): TrackingEvent[] {
  const m = messageOf(n);
  const base = {
    'internal-message-id': m.queueId, 'network-message-id': m.messageId, 'sender-address': m.sender,
    'recipient-address': m.recipients, 'recipient-count': m.recipients.length, 'total-bytes': 2048 + (n % 7) * 100,
  };
  const events: TrackingEvent[] = [{ ...base, 'event-id': 'RECEIVE', source: 'SMTP', 'connector-id': 'mail/printers', 'recipient-status': m.recipients.map(() => ''), 'client-ip': `10.1.${n % 250}.${n % 200}` }];
  if (n % 10 === 3) events.push({ ...base, 'event-id': 'DEFER', source: 'QUEUE', 'connector-id': 'mail/outbound', 'recipient-status': m.recipients.map(() => '451 4.4.1 try again later'), 'server-hostname': 'smarthost.example.net' });
  if (n % 100 === 7) {
    events.push({ ...base, 'event-id': 'FAIL', source: 'QUEUE', 'connector-id': 'mail/outbound', 'recipient-status': m.recipients.map(() => '550 5.1.1 no such user'), 'server-hostname': 'smarthost.example.net' });
    events.push({ ...base, 'event-id': 'DSN', source: 'DSN', 'connector-id': 'mail/outbound', 'sender-address': '', 'recipient-address': [m.sender], 'recipient-count': 1, 'recipient-status': [''], reference: m.queueId });
  } else {
    events.push({ ...base, 'event-id': 'SEND', source: 'QUEUE', 'connector-id': 'mail/outbound', 'recipient-status': m.recipients.map(() => '250 2.0.0 Ok'), 'server-hostname': 'smarthost.example.net' });
  }
  return events;
}

/** trackingLines - at least `count` lines (whole messages), one message per `stepMs` from `startMs`. */
export function trackingLines(count: number, startMs: number, stepMs: number): string[] {
  const lines: string[] = [];
  for (let n = 0; lines.length < count; n += 1) {
    for (const event of eventsOf(n)) lines.push(trackingLine(event, new Date(startMs + n * stepMs)));
  }
  return lines;
}

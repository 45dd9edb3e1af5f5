/*
 * test/relay/support-policy - helpers for the policy, limits and smuggling integration tests.
 *
 * - relayManifests(): the YAML of one namespace (hub, receive connectors, accepted domains),
 *   written the way a user writes them, for startHubProcess; relayingConnector(): the usual
 *   connector where anonymous clients of some ranges may relay.
 * - sendMessage(): one whole transaction with the SMTP client of test/support/smtp-client.ts.
 * - queuedMessages(): what a running hub has queued, read from its queue files;
 *   spooledMessages(): what a stopped hub left in incoming/, read with the relay's Spool class.
 * - protocol log helpers over the JSON lines the hub printed.
 */
import { stringify } from 'yaml';
import { freePort } from '../controlplane/controlplane.ts';
import { startHubProcess, removeHubDir, type HubProcess, type LogLine } from '../support/hub-process.ts';
import { Spool, type SpoolMessage, type SpoolRecoveryReport } from '../../relay/spool/spool.ts';
import { readQueueSnapshot } from '../../relay/spool/snapshot.ts';
import type { SmtpClient, SmtpReply } from '../support/smtp-client.ts';

export { freePort };
export type { HubProcess, LogLine, SpoolMessage };

export const NAMESPACE = 'relay-policy';
export const HUB = 'policy-hub';
export const HUB_FQDN = 'hub.policy.example.test';

export interface ConnectorManifest {
  name: string;
  /** metadata.creationTimestamp: orders connectors for conflicts (earlier wins). */
  createdAt?: string;
  spec: Record<string, unknown>;
}

export interface DomainManifest {
  name: string;
  domainName: string;
  domainType: 'Authoritative' | 'InternalRelay' | 'ExternalRelay';
  default?: boolean;
}

export interface ManifestOptions {
  connectors: ConnectorManifest[];
  domains?: DomainManifest[];
  /** Extra RelayHub spec fields; antiSpam defaults to {spf: false} (no DNS in tests). */
  hubSpec?: Record<string, unknown>;
}

/** relayManifests - one namespace, one hub, the given connectors (hubs: [HUB]) and domains. */
export function relayManifests(options: ManifestOptions): string {
  const docs: unknown[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } },
    {
      apiVersion: 'relayoperator.io/v1alpha1',
      kind: 'RelayHub',
      metadata: { name: HUB, namespace: NAMESPACE },
      spec: { replicas: 1, fqdn: HUB_FQDN, antiSpam: { spf: false }, ...options.hubSpec },
    },
    ...options.connectors.map((c) => ({
      apiVersion: 'relayoperator.io/v1alpha1',
      kind: 'ReceiveConnector',
      metadata: { name: c.name, namespace: NAMESPACE, ...(c.createdAt ? { creationTimestamp: c.createdAt } : {}) },
      spec: { hubs: [HUB], ...c.spec },
    })),
    // Mail waits in the queue: the only route is a smart host on a closed loopback port, so a
    // delivery agent can only defer it and tests can read every accepted message back.
    {
      apiVersion: 'relayoperator.io/v1alpha1',
      kind: 'SendConnector',
      metadata: { name: 'hold-in-queue', namespace: NAMESPACE },
      spec: { addressSpaces: [{ domain: '*', cost: 1 }], smartHosts: ['127.0.0.1:9'], tls: { mode: 'None' } },
    },
    ...(options.domains ?? []).map((d) => ({
      apiVersion: 'relayoperator.io/v1alpha1',
      kind: 'AcceptedDomain',
      metadata: { name: d.name, namespace: NAMESPACE },
      spec: { domainName: d.domainName, domainType: d.domainType, default: d.default ?? false },
    })),
  ];
  return docs.map((d) => stringify(d)).join('---\n');
}

/**
 * relayingConnector - (ManifestOptions form) a Custom connector on one binding where anonymous clients from
 * remoteIPRanges may relay (AcceptAnyRecipient), no tarpit; limits and spec fields on top.
 */
export function relayingConnector(binding: string, remoteIPRanges: string[], limits: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): ConnectorManifest {
  return {
    name: 'apps',
    spec: {
      usage: 'Custom', bindings: [binding], remoteIPRanges, permissionGroups: ['AnonymousUsers'],
      permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }], limits: { tarpitInterval: '0s', ...limits }, ...spec,
    },
  };
}

/** startRelay - a standalone hub from these manifests. */
export function startRelay(options: ManifestOptions): Promise<HubProcess> {
  return startHubProcess({ manifests: relayManifests(options), hub: HUB });
}

/** stopRelay - SIGTERM the hub (if still running) and delete its directory. */
export async function stopRelay(hub: HubProcess | undefined): Promise<void> {
  if (!hub) return;
  await hub.stop();
  removeHubDir(hub);
}

/** spooledMessages - stop the hub, then open its spool with the relay's Spool class and read every queued message. */
export async function spooledMessages(hub: HubProcess): Promise<{ messages: SpoolMessage[]; recovery: SpoolRecoveryReport }> {
  await hub.stop();
  const spool = await Spool.open(hub.spoolDir);
  try {
    const messages: SpoolMessage[] = [];
    for (const state of ['incoming', 'active', 'deferred', 'hold'] as const) {
      for (const id of await spool.listMessages(state)) messages.push(await spool.readMessage(state, id));
    }
    return { messages, recovery: spool.recovery };
  } finally {
    await spool.close();
  }
}

/**
 * queuedMessages - the messages in the live queue states of a running hub, read straight from
 * the queue files (a file appears in a state directory only by rename, after it was written
 * and synced, so every file seen is complete). A file that moves between states while it is
 * read makes the scan start over. Optionally only those with this envelope sender.
 */
export function queuedMessages(hub: HubProcess, mailFrom?: string): SpoolMessage[] {
  // Delivery moves messages between state directories while we scan them one by one: a
  // message can be missed or seen twice, so scan until two scans in a row agree.
  let previous: string | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      const messages = scanQueue(hub.spoolDir, mailFrom);
      const ids = messages.map((m) => m.id).sort().join(',');
      if (ids === previous || attempt >= 50) return messages;
      previous = ids;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 50) throw error;
    }
  }
}

function scanQueue(spoolDir: string, mailFrom: string | undefined): SpoolMessage[] {
  return readQueueSnapshot(spoolDir).filter((m) => mailFrom === undefined || m.envelope.mailFrom === mailFrom);
}

/** The header block of a stored message (up to the first empty line), as text. */
export function headerBlock(message: SpoolMessage | Buffer): string {
  const text = (Buffer.isBuffer(message) ? message : message.body).toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  return end === -1 ? text : text.slice(0, end + 2);
}

/** Field names of a header block, in order (continuation lines skipped). */
export function headerNames(message: SpoolMessage | Buffer): string[] {
  return headerBlock(message)
    .split('\r\n')
    .filter((line) => line.length > 0 && !/^[ \t]/.test(line))
    .map((line) => line.slice(0, line.indexOf(':')));
}

/** hasHeader - whether the stored header block has a field of this name (any case). */
export function hasHeader(message: SpoolMessage | Buffer, name: string): boolean {
  return headerNames(message).some((n) => n.toLowerCase() === name.toLowerCase());
}

// ---------------------------------------------------------------------------------------
// protocol log

export interface ProtocolLine extends LogLine {
  log: 'protocol';
  'connector-id': string;
  'session-id': string;
  'remote-endpoint': string;
  event: string;
  data: string;
  context: string;
}

export function isProtocolLine(line: LogLine): line is ProtocolLine {
  return line.log === 'protocol';
}

export function protocolLines(hub: HubProcess): ProtocolLine[] {
  return hub.logs.filter(isProtocolLine);
}

/** waitForRefusal - the protocol log's `*` line with this reason (context), optionally from one client. */
export async function waitForRefusal(hub: HubProcess, context: string, remoteIp?: string): Promise<ProtocolLine> {
  const line = await hub.waitForLog((l) => isProtocolLine(l) && l.event === '*' && l.context === context && (remoteIp === undefined || fromClient(l, remoteIp)));
  return line as ProtocolLine;
}

/** Whether a protocol line is about a session from this client address (`ip:port` or `[ipv6]:port`). */
export function fromClient(line: ProtocolLine, ip: string): boolean {
  return line['remote-endpoint'].startsWith(ip.includes(':') ? `[${ip}]:` : `${ip}:`);
}

/**
 * sendMessage - one whole transaction on an open session (after EHLO): MAIL, RCPT..., DATA,
 * content (must end with CRLF; the final dot is added). Returns every reply in order; stops
 * at the first refusal of MAIL, the DATA command, or when no recipient was accepted.
 */
export async function sendMessage(client: SmtpClient, mailFrom: string, rcptTo: string[], content: string | Buffer): Promise<SmtpReply[]> {
  const replies: SmtpReply[] = [];
  const mail = await client.send(`MAIL FROM:<${mailFrom}>`);
  replies.push(mail);
  if (mail.code !== 250) return replies;
  let accepted = 0;
  for (const rcpt of rcptTo) {
    const r = await client.send(`RCPT TO:<${rcpt}>`);
    replies.push(r);
    if (r.code === 250) accepted++;
  }
  if (accepted === 0) return replies;
  const data = await client.send('DATA');
  replies.push(data);
  if (data.code !== 354) return replies;
  client.write(content);
  client.write('.\r\n');
  replies.push(await client.reply());
  return replies;
}

/** A plain RFC 5322 message with CRLF line ends. */
export function plainMessage(from: string, to: string, subject: string, body = 'Hello from the policy tests.', extraHeaders: string[] = []): string {
  return [...extraHeaders, `From: <${from}>`, `To: <${to}>`, `Subject: ${subject}`, `Message-ID: <${subject.replace(/[^A-Za-z0-9]/g, '-')}@client.example.test>`, '', body, ''].join('\r\n');
}

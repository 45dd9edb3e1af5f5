/*
 * relay/queue/hand-off - the sender side of a hand-off: forward every queued message of a
 * spool to the remaining pods of the hub, one message at a time, deleting each only after the
 * receiver said it is on its disk.
 *
 * WHEN      A pod scaled away (ordinal >= the StatefulSet's replicas) on SIGTERM, after its
 *           hub stopped (relay/process/relay-main.ts), and `relay-operator hand-off` run by a
 *           drain Job against an orphaned spool PVC (relay/process/hand-off-only.ts).
 * WHAT      incoming/, active/ and deferred/ go; hold/ stays: an administrator held those
 *           messages on this hub (queue hold) and a hand-off must not release them on
 *           another; corrupt/ stays too. Both are counted in what is left.
 *           A message goes with its still-pending recipients only: a recipient already
 *           delivered or failed here is not tried again there.
 * WIRE      POST <target>/queue/hand-off, Authorization: Bearer <hub token>, body
 *           (encodeHandOff): 4-byte big-endian length of the envelope's JSON, the JSON, the
 *           message bytes. The receiver (relay/process/hand-off-api.ts) commits it durably
 *           under the same queue id before it answers 200.
 * NO LOSS   Delete after 200, never before: a crash between the two leaves the message on
 *           both disks, and a repeated hand-off finds the id already queued there
 *           (Spool.commitMessage with an id), so at most a duplicate delivery, never a loss.
 * FAILURE   A target that does not answer, or answers 5xx, is dropped and the message tried
 *           on the next one; 401/403 stops the hand-off (a wrong token fails on every target);
 *           400 leaves that message here. At the deadline, or with no target left, the rest
 *           stays on disk and the report says how many and the oldest.
 */
import type { MessageEnvelope } from '../delivery/envelope.ts';
import type { DeliveryStates, QueueState, QueueStore } from './queue-store.ts';

/** The states a hand-off empties; hold/ and corrupt/ stay (see the manual above). */
export const HAND_OFF_STATES = ['incoming', 'active', 'deferred'] as const satisfies readonly QueueState[];
/** The states counted as left behind after a hand-off. */
const LEFT_STATES = ['incoming', 'active', 'deferred', 'hold'] as const satisfies readonly QueueState[];
export const HAND_OFF_PATH = '/queue/hand-off';
export const HAND_OFF_CONTENT_TYPE = 'application/x-relay-hand-off';
/** Messages in flight at once (one per target at most, up to this). */
const HAND_OFF_CONCURRENCY = 4;
/** The longest one request may take. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface HandOffOptions {
  store: QueueStore;
  states: DeliveryStates;
  /** Base URLs of the receiving hubs' HTTP endpoints (`http://hub-relay-0.hub-relay-pods.ns.svc:9090`). */
  targets: readonly string[];
  token: string;
  /** Epoch ms after which no new message is sent (the grace period's end, less a margin). */
  deadline: number;
  log?: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;
}

export interface HandOffReport {
  /** Messages now queued on a receiver and deleted here. */
  handed: number;
  /** Messages still on this spool (incoming, active, deferred and hold). */
  left: number;
  /** Of those, held by an administrator (they stay on purpose). */
  held: number;
  /** The arrival time of the oldest message left, null when none is. */
  oldestLeft: string | null;
  /** Why the hand-off ended before the queue was empty, null when it did not. */
  stoppedBy: string | null;
}

/** encodeHandOff - the request body: envelope JSON length (4 bytes, big-endian), the JSON, the message. */
export function encodeHandOff(envelope: MessageEnvelope, body: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(envelope), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return Buffer.concat([length, json, body]);
}

/** decodeHandOff - the envelope (unchecked: the caller runs checkEnvelope) and the message bytes; an Error naming what is wrong. */
export function decodeHandOff(request: Buffer): { envelope: unknown; body: Buffer } {
  if (request.length < 4) throw new Error('hand-off body shorter than its 4-byte envelope length');
  const length = request.readUInt32BE(0);
  if (length > request.length - 4) throw new Error(`hand-off envelope length ${length} is beyond the ${request.length - 4} bytes sent`);
  let envelope: unknown;
  try {
    envelope = JSON.parse(request.subarray(4, 4 + length).toString('utf8')) as unknown;
  } catch (error) {
    throw new Error(`hand-off envelope is not JSON: ${(error as Error).message}`, { cause: error });
  }
  return { envelope, body: request.subarray(4 + length) };
}

/** arrivalOf - when a queued message arrived, from its id (12 hex digits of epoch ms lead every queue id). */
export function arrivalOf(id: string): string | null {
  const ms = Number.parseInt(id.slice(0, 12), 16);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

class HandOffStop extends Error {}

/** handOffQueue - forward the queue to the targets until it is empty, the deadline, or no target is left. */
export async function handOffQueue(options: HandOffOptions): Promise<HandOffReport> {
  const log = options.log ?? (() => {});
  const live = [...options.targets];
  let next = 0;
  let handed = 0;
  let stoppedBy: string | null = null;
  const work: Array<{ state: QueueState; id: string }> = [];
  for (const state of HAND_OFF_STATES) for (const id of await options.store.listMessages(state)) work.push({ state, id });

  const sendOne = async (state: QueueState, id: string): Promise<void> => {
    const message = await options.store.readMessage(state, id);
    const delivery = await options.states.read(id);
    const recipients = delivery.ok && delivery.state
      ? message.envelope.rcptTo.filter((_, i) => delivery.state?.recipients[i]?.status !== 'delivered' && delivery.state?.recipients[i]?.status !== 'failed')
      : message.envelope.rcptTo;
    if (recipients.length > 0) {
      const request = encodeHandOff({ ...message.envelope, rcptTo: recipients }, message.body);
      for (;;) {
        if (live.length === 0) throw new HandOffStop('no receiving pod answered');
        const target = live[next++ % live.length] as string;
        const answer = await post(target, id, request, options.token, Math.min(REQUEST_TIMEOUT_MS, Math.max(1000, options.deadline - Date.now())));
        if (answer.status === 200) break;
        if (answer.status === 401 || answer.status === 403) throw new HandOffStop(`${target} refused the token (${answer.status}): ${answer.text}`);
        if (answer.status === 400) {
          log('warn', `hand-off of ${id} refused by ${target}, left here: ${answer.text}`, { id, target });
          return;
        }
        log('warn', `hand-off target ${target} dropped: ${answer.text}`, { id, target, status: answer.status });
        live.splice(live.indexOf(target), 1);
      }
    }
    // on the receiver's disk (or nothing left to send): only now is this copy deleted
    await options.store.removeMessage(state, id);
    await options.states.remove(id);
    handed += 1;
  };

  let cursor = 0;
  const worker = async (): Promise<void> => {
    while (stoppedBy === null && cursor < work.length) {
      if (Date.now() >= options.deadline) {
        stoppedBy = 'the grace period ended';
        return;
      }
      const item = work[cursor++] as { state: QueueState; id: string };
      try {
        await sendOne(item.state, item.id);
      } catch (error) {
        if (error instanceof HandOffStop) stoppedBy = error.message;
        else log('warn', `hand-off of ${item.id} failed, left here: ${(error as Error).message}`, { id: item.id });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(HAND_OFF_CONCURRENCY, live.length)) }, () => worker()));

  let left = 0;
  let held = 0;
  let oldest: string | null = null;
  for (const state of LEFT_STATES) {
    const ids = await options.store.listMessages(state);
    left += ids.length;
    if (state === 'hold') held = ids.length;
    for (const id of ids) if (oldest === null || id < oldest) oldest = id;
  }
  if (stoppedBy === null && left > held) stoppedBy = 'some messages could not be handed off (see the warnings above)';
  return { handed, left, held, oldestLeft: oldest === null ? null : arrivalOf(oldest), stoppedBy: left > held ? stoppedBy : null };
}

async function post(target: string, id: string, request: Buffer, token: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  try {
    const response = await fetch(new URL(HAND_OFF_PATH, target), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': HAND_OFF_CONTENT_TYPE, 'x-relay-message-id': id },
      body: request,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = (await response.text()).trim().slice(0, 500);
    return { status: response.status, text };
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause;
    return { status: 0, text: `${(error as Error).message}${cause ? `: ${cause.message}` : ''}` };
  }
}

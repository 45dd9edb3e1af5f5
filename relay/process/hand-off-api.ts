/*
 * relay/process/hand-off-api - the receiver of a hand-off: POST /queue/hand-off on the hub's
 * HTTP endpoint, where another pod of the same hub (scaled away, or a drain Job on its
 * orphaned spool) sends its queued mail (relay/queue/hand-off.ts has the sender and the wire
 * format).
 *
 * DURABLE   The message is committed to this hub's spool under the sender's queue id before
 *           the answer is 200; only then does the sender delete its copy. An id already queued
 *           here (a hand-off repeated after a crash) is answered 200 without a second copy.
 * TRUST     Always the hub's hand-off token (Authorization: Bearer, --hand-off-token-file,
 *           the Secret <hub>-relay-queue-token in a cluster), from loopback too: whoever holds
 *           it can put mail into the queue, which then leaves with this hub's reputation.
 *           Without a token the endpoint is off (403). The token opens nothing else.
 * ANSWERS   200 {"id"}; 400 bad body or envelope (the sender leaves that message where it is);
 *           401/403 access; 413 over the size limit; 503 the spool is full or closing (the
 *           sender tries another pod).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RelayError } from '../common/errors.ts';
import { decodeHandOff } from '../queue/hand-off.ts';
import type { Spool } from '../spool/spool.ts';
import { MAX_SPOOL_BODY_BYTES } from '../spool/spool.ts';
import type { MessageEnvelope } from '../delivery/envelope.ts';

/** What the receiver needs of the hub's spool. */
export type HandOffSink = Pick<Spool, 'commitMessage'>;

/** The envelope JSON may take this much beyond the largest message body. */
const ENVELOPE_ALLOWANCE_BYTES = 1024 * 1024;
const MAX_REQUEST_BYTES = MAX_SPOOL_BODY_BYTES + ENVELOPE_ALLOWANCE_BYTES;

const STATUS_OF_CODE: Partial<Record<string, number>> = {
  RELAY_ERR_SPOOL_ENVELOPE: 400,
  RELAY_ERR_SPOOL_BODY_NOT_CANONICAL: 400,
  RELAY_ERR_SPOOL_INVALID_ARGUMENT: 400,
  RELAY_ERR_SPOOL_FULL: 503,
  RELAY_ERR_SPOOL_WRITE: 503,
  RELAY_ERR_SPOOL_CLOSED: 503,
};

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
}

/** handOffRefusal - null when the Authorization header carries the hub's hand-off token, else the refusal. */
export function handOffRefusal(header: string | undefined, token: string | null): { status: number; message: string } | null {
  if (token === null) return { status: 403, message: 'hand-off is off on this hub: it was started without --hand-off-token-file' };
  const presented = header?.startsWith('Bearer ') ? header.slice(7).trim() : null;
  if (presented === null) return { status: 401, message: 'a hand-off needs the hub\'s token (Authorization: Bearer ...)' };
  return timingSafeEqual(digest(presented), digest(token)) ? null : { status: 401, message: 'the bearer token does not match the hub\'s --hand-off-token-file' };
}

function readBounded(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limit) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** serveHandOff - answer one POST /queue/hand-off. */
export async function serveHandOff(req: IncomingMessage, res: ServerResponse, sink: HandOffSink | null, token: string | null): Promise<void> {
  const error = (status: number, code: string | null, message: string): void => answer(res, status, { error: { code, message } });
  if (req.method !== 'POST') return error(405, 'RELAY_ERR_QUEUE_INVALID_ARGUMENT', 'a hand-off is a POST');
  const refused = handOffRefusal(req.headers.authorization, token);
  if (refused) return error(refused.status, 'RELAY_ERR_QUEUE_API_ACCESS', refused.message);
  if (!sink) return error(503, 'RELAY_ERR_QUEUE_STOPPED', 'this hub has no spool to take mail into (stopping)');
  const id = String(req.headers['x-relay-message-id'] ?? '');
  try {
    const request = await readBounded(req, MAX_REQUEST_BYTES);
    if (request === null) return error(413, 'RELAY_ERR_QUEUE_INVALID_ARGUMENT', `hand-off of ${id} is over ${MAX_REQUEST_BYTES} bytes`);
    const { envelope, body } = decodeHandOff(request);
    // commitMessage checks the envelope (checkEnvelope) and the id (a queue id, safe as a file name)
    const committed = await sink.commitMessage(envelope as MessageEnvelope, body, { id });
    answer(res, 200, { id: committed });
  } catch (err) {
    const code = err instanceof RelayError ? err.code : null;
    const status = code ? (STATUS_OF_CODE[code] ?? 500) : 400;
    error(status, code, `hand-off of ${id || '(no X-Relay-Message-Id)'}: ${(err as Error).message}`);
  }
}

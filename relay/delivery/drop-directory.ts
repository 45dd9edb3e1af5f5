/*
 * relay/delivery/drop-directory - deliver by writing a .eml file (SendConnector dropDirectory).
 *
 * One file per message and connector, `<queue id>.<connector>.eml`, holding the envelope as
 * `X-Sender:` / `X-Receiver:` lines (Exchange's drop directory format) followed by the
 * message with canonical CRLF line ends. Atomic: written to a hidden temp file, fdatasynced,
 * renamed into place, directory fsynced; only then does the delivery count as done, so a
 * reader of the directory never sees a partial file. A retry after a crash rewrites the
 * same name (no duplicate files). Failures (missing permissions, disk full) defer.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { syncDirectory, writeSyncedFile } from '../common/durable-file.ts';
import { canonicalBody } from '../common/line-endings.ts';

export interface DropFileInput {
  dir: string;
  queueId: string;
  connectorId: string;
  mailFrom: string;
  recipients: string[];
  body: Buffer;
}

/** dropFileName - the file a message gets in a drop directory. */
export function dropFileName(queueId: string, connectorId: string): string {
  return `${queueId}.${connectorId.replace(/[^A-Za-z0-9_-]/g, '_')}.eml`;
}

/** writeDropFile - write the message durably; resolves with the final path. */
export async function writeDropFile(input: DropFileInput): Promise<string> {
  await fs.mkdir(input.dir, { recursive: true, mode: 0o750 });
  const name = dropFileName(input.queueId, input.connectorId);
  const finalPath = path.join(input.dir, name);
  const tmpPath = path.join(input.dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
  const head = Buffer.from([`X-Sender: <${input.mailFrom}>`, ...input.recipients.map((r) => `X-Receiver: <${r}>`), ''].join('\r\n'), 'utf8');
  const body = canonicalBody(input.body);
  try {
    await writeSyncedFile(tmpPath, [head, body], head.length + body.length);
    await fs.rename(tmpPath, finalPath);
    await syncDirectory(input.dir);
  } catch (err) {
    await fs.rm(tmpPath, { force: true }).catch(() => {});
    throw err;
  }
  return finalPath;
}

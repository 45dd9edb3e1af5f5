import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeDropFile } from './drop-directory.ts';

void test('writeDropFile writes X-Sender/X-Receiver and a canonical body atomically, idempotently', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-drop-'));
  t.after(() => fs.rm(root, { recursive: true, force: true }));
  const dir = path.join(root, 'nested', 'drop');
  const input = { dir, queueId: '0190000000000001aaaaaaaaaaaa', connectorId: 'mail/dev', mailFrom: 'a@x.test', recipients: ['b@y.test', 'c@y.test'], body: Buffer.from('Subject: s\n\nbare\rline\0\n') };
  const file = await writeDropFile(input);
  assert.equal(path.basename(file), '0190000000000001aaaaaaaaaaaa.mail_dev.eml');
  assert.equal(await fs.readFile(file, 'latin1'), 'X-Sender: <a@x.test>\r\nX-Receiver: <b@y.test>\r\nX-Receiver: <c@y.test>\r\nSubject: s\r\n\r\nbare\r\nline\r\n');
  await writeDropFile(input);
  assert.deepEqual(await fs.readdir(dir), ['0190000000000001aaaaaaaaaaaa.mail_dev.eml'], 'no temp files, no duplicate');
  await fs.writeFile(path.join(root, 'file'), '');
  await assert.rejects(() => writeDropFile({ ...input, dir: path.join(root, 'file') }), { code: 'EEXIST' });
});

/*
 * test/cli/support-scans - the mail the track tests search for: a printer at contoso.test sends
 * two scans (Message-IDs scan-1@ and scan-2@printer.contoso.test) to alice@ and bob@example.org
 * in one session; each must be answered 250.
 */
import assert from 'node:assert/strict';
import { SmtpClient } from '../support/smtp-client.ts';

export async function sendTwoScans(host: string, port: number): Promise<void> {
  const client = await SmtpClient.connect({ host, port });
  await client.send('EHLO app.example.test');
  for (const [n, to] of [[1, 'alice@example.org'], [2, 'bob@example.org']] as const) {
    await client.envelope('Printer@Contoso.test', [to]);
    const reply = await client.data(`From: printer@contoso.test\nTo: ${to}\nSubject: scan ${n}\nMessage-ID: <scan-${n}@printer.contoso.test>\n\nscan ${n}\n`);
    assert.equal(reply.code, 250, reply.text);
  }
  await client.quit();
}

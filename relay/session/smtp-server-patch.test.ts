/*
 * The smtp-server patch: the connector's exact banner, no fixed 100 ms pause unless the
 * connector asks for one, and the early-talker check when it does. Fails if smtp-server's
 * internals that the patch replaces move.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { SMTPServer } from 'smtp-server';
import { installSmtpServerPatch, libraryRefusalReason, setGreeting } from './smtp-server-patch.ts';

installSmtpServerPatch();

async function serve(t: { after: (fn: () => void) => void }, settings: { greetDelayMs: number; banner: string } | null): Promise<number> {
  const smtp = new SMTPServer({ disableReverseLookup: true, logger: false, name: 'library.default' });
  const server: Server = createServer((socket: Socket) => {
    if (settings) setGreeting(socket, settings);
    smtp.connect(socket, {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

function firstLine(port: number, sendFirst?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = connect(port, '127.0.0.1', () => {
      if (sendFirst) client.write(sendFirst);
    });
    let data = '';
    client.on('data', (chunk: Buffer) => {
      data += chunk.toString();
      const end = data.indexOf('\r\n');
      if (end >= 0) {
        client.destroy();
        resolve(data.slice(0, end));
      }
    });
    client.on('error', reject);
  });
}

test('the connector banner is sent exactly as written', async (t) => {
  const port = await serve(t, { greetDelayMs: 0, banner: '220 server.domain.com ready' });
  assert.equal(await firstLine(port), '220 server.domain.com ready');
});

test('with a greet delay, a client that talks first is refused as an early talker', async (t) => {
  const port = await serve(t, { greetDelayMs: 1000, banner: '220 slow.example ready' });
  assert.match(await firstLine(port, 'EHLO early.example\r\n'), /^421 .*talk too soon/);
});

test('with greet delay 0 a client that talks at once is not an early talker', async (t) => {
  const port = await serve(t, { greetDelayMs: 0, banner: '220 fast.example ready' });
  assert.equal(await firstLine(port, 'EHLO eager.example\r\n'), '220 fast.example ready');
});

test('connections the relay did not mark keep the library behaviour', async (t) => {
  const port = await serve(t, null);
  assert.match(await firstLine(port), /^220 library\.default ESMTP/);
});

test('library refusals get a fixed camelCase reason; texts naming a client parameter share one', () => {
  assert.equal(libraryRefusalReason('Error: Bad recipient address syntax'), 'badRecipientAddressSyntax');
  assert.equal(libraryRefusalReason('Error: command not recognized'), 'commandNotRecognized');
  assert.equal(libraryRefusalReason('Error: syntax: STARTTLS'), 'syntax');
  assert.equal(libraryRefusalReason('Error: duplicate X-ANYTHING-AT-ALL parameter'), 'badCommandParameter');
  assert.equal(libraryRefusalReason('Error: '), 'libraryRefusal');
});

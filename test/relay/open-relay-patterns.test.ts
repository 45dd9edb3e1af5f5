/*
 * test/relay/open-relay-patterns - issue 14 item 1: the 16 classic relay tests of nmap's
 * smtp-open-relay, the MAPS transcript additions, and the parser-confusion payloads of the
 * reference, against a live hub with one connector of every usage.
 *
 * Hub on 127.0.0.48, one listener per usage (Custom, Internet, Internal, Partner, Client),
 * each as the usage preset ships it plus an anonymous Submit right, so the RCPT check itself is
 * reached (without it the anonymous client stops at MAIL FROM with 530 and nothing about
 * relaying would be tested). The attacker at 127.0.11.9 holds no relay right anywhere: every
 * pattern must end without one accepted foreign recipient and without one queued message, and
 * every refusal is in the protocol log with its reason. A sixth listener carries a Custom
 * connector that grants AcceptAnyRecipient to 127.0.12.0/24: the same plain patterns from
 * there must relay, so the suite cannot pass by refusing everything.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  freePort, HUB_FQDN, plainMessage, protocolLines, queuedMessages, sendMessage, startRelay, stopRelay,
  type ConnectorManifest, type HubProcess, type ProtocolLine,
} from './support-policy.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const IP = '127.0.0.48';
const ATTACKER = '127.0.11.9';
const RIGHT_HOLDER = '127.0.12.9';
const OURS = 'contoso.test';
const D = 'elsewhere.example';
const S = HUB_FQDN;

const USAGES = ['Custom', 'Internet', 'Internal', 'Partner', 'Client'] as const;
type Usage = (typeof USAGES)[number];
const ports: Record<Usage | 'relay', number> = { Custom: 0, Internet: 0, Internal: 0, Partner: 0, Client: 0, relay: 0 };
let hub: HubProcess | undefined;

/** [name, MAIL FROM, RCPT TO] with the brackets as the client writes them. */
type Pattern = readonly [string, string, string];
const ANTISPAM_IP = `<antispam@[${IP}]>`;
/** nmap smtp-open-relay.nse, tests 1-16 (D: foreign domain, S: the server's name, IP: its address). */
const NMAP: readonly Pattern[] = [
  ['nmap 1 null sender', '<>', `<relaytest@${D}>`],
  ['nmap 2 foreign sender', `<antispam@${D}>`, `<relaytest@${D}>`],
  ['nmap 3 sender at the server name', `<antispam@${S}>`, `<relaytest@${D}>`],
  ['nmap 4 sender at the server IP literal', ANTISPAM_IP, `<relaytest@${D}>`],
  ['nmap 5 percent hack at the IP literal', ANTISPAM_IP, `<relaytest%${D}@[${IP}]>`],
  ['nmap 6 percent hack at the server name', ANTISPAM_IP, `<relaytest%${D}@${S}>`],
  ['nmap 7 quoted whole address', ANTISPAM_IP, `<"relaytest@${D}">`],
  ['nmap 8 quoted percent address', ANTISPAM_IP, `<"relaytest%${D}">`],
  ['nmap 9 user@D@[IP]', ANTISPAM_IP, `<relaytest@${D}@[${IP}]>`],
  ['nmap 10 quoted local part with @ at the IP literal', ANTISPAM_IP, `<"relaytest@${D}"@[${IP}]>`],
  ['nmap 11 user@D@S', ANTISPAM_IP, `<relaytest@${D}@${S}>`],
  ['nmap 12 source route through the IP literal', ANTISPAM_IP, `<@[${IP}]:relaytest@${D}>`],
  ['nmap 13 source route through the server name', ANTISPAM_IP, `<@${S}:relaytest@${D}>`],
  ['nmap 14 bang path', ANTISPAM_IP, `<${D}!relaytest>`],
  ['nmap 15 bang path at the IP literal', ANTISPAM_IP, `<${D}!relaytest@[${IP}]>`],
  ['nmap 16 bang path at the server name', ANTISPAM_IP, `<${D}!relaytest@${S}>`],
];
/** The MAPS transcript additions and the reference's own edge cases and parser-confusion payloads. */
const MORE: readonly Pattern[] = [
  ['MAPS unqualified sender', '<spamtest>', `<relaytest@${D}>`],
  ['MAPS sender at localhost', '<spamtest@localhost>', `<relaytest@${D}>`],
  ['MAPS sender is the victim', `<nobody@${D}>`, `<nobody@${D}>`],
  ['trailing dot', `<antispam@${D}>`, `<relaytest@${D}.>`],
  ['percent hack into our domain', `<antispam@${D}>`, `<relaytest%${D}@${OURS}>`],
  ['bang path into our domain', `<antispam@${D}>`, `<${D}!relaytest@${OURS}>`],
  ['source route into our domain', `<antispam@${D}>`, `<@${OURS}:relaytest@${D}>`],
  ['user@D@ours', `<antispam@${D}>`, `<relaytest@${D}@${OURS}>`],
  ['IPv6 loopback literal', `<antispam@${D}>`, '<relaytest@[IPv6:::1]>'],
  ['IPv4 literal of the server', `<antispam@${D}>`, `<relaytest@[${IP}]>`],
  ['unbracketed IPv4 domain', `<antispam@${D}>`, '<relaytest@127.0.0.1>'],
  ['null domain', `<antispam@${D}>`, '<relaytest@>'],
  ['no domain at all', `<antispam@${D}>`, '<relaytest>'],
  ['8-bit UTF-8 foreign domain', `<antispam@${D}>`, '<relaytest@bücher.example>'],
  ['parser confusion: quoted @ and space, our domain', `<antispam@${D}>`, `<"x@${D} x"@${OURS}>`],
  ['parser confusion: ESMTP parameter in a quoted local part', `<antispam@${D}>`, `<"x@${D}> ORCPT=rfc822;y@evil.example"@${OURS}>`],
  ['parser confusion: quoted local part with angle bracket', `<antispam@${D}>`, `<"x>"@${D}>`],
];
const PATTERNS = [...NMAP, ...MORE];

/** Replies that end a session; the rest of the pattern cannot have been relayed. */
const refusal = (code: number): boolean => code >= 400;

function relay(): HubProcess {
  assert.ok(hub, 'hub not started');
  return hub;
}

before(async () => {
  for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await freePort(IP);
  const limits = { tarpitInterval: '0s', maxProtocolErrors: 100 };
  const connectors: ConnectorManifest[] = USAGES.map((usage) => ({
    name: usage.toLowerCase(),
    spec: {
      usage,
      bindings: [`${IP}:${ports[usage]}`],
      banner: `220 ${usage.toLowerCase()}.example.test ${usage} connector`,
      // Internet's preset is 0.0.0.0/0; the others ship no range, so name one that covers the attacker
      ...(usage === 'Internet' ? {} : { remoteIPRanges: ['127.0.0.0/8'] }),
      permissions: [{ principal: 'Anonymous', allow: ['Submit'] }],
      limits,
    },
  }));
  connectors.push({
    name: 'apps',
    spec: {
      usage: 'Custom', bindings: [`${IP}:${ports.relay}`], remoteIPRanges: ['127.0.12.0/24'], permissionGroups: ['AnonymousUsers'],
      permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }], limits,
    },
  });
  hub = await startRelay({ connectors, domains: [{ name: 'contoso', domainName: OURS, domainType: 'Authoritative', default: true }] });
});

after(() => stopRelay(hub));

interface Attempt {
  banner: string;
  replies: Array<{ command: string; line: string; code: number }>;
  endpoint: string;
}

/** One pattern in its own session: EHLO, MAIL, RCPT, and DATA with a message if RCPT was taken. */
async function attempt(port: number, localAddress: string, [name, mailFrom, rcptTo]: Pattern): Promise<Attempt> {
  const client = await SmtpClient.connect({ host: IP, port, localAddress });
  const greeting = client.greeting;
  const replies: Attempt['replies'] = [];
  const command = async (line: string): Promise<number> => {
    const reply = await client.send(line);
    replies.push({ command: line, line: reply.line, code: reply.code });
    return reply.code;
  };
  assert.equal(await command('EHLO relaytest.example.test'), 250);
  if ((await command(`MAIL FROM:${mailFrom}`)) === 250 && (await command(`RCPT TO:${rcptTo}`)) === 250 && (await command('DATA')) === 354) {
    client.write(plainMessage('antispam@example.test', 'relaytest@example.test', `open relay ${name}`));
    client.write('.\r\n');
    const reply = await client.reply();
    replies.push({ command: '.', line: reply.line, code: reply.code });
  }
  await client.quit();
  return { banner: greeting.line, replies, endpoint: `${localAddress}:${client.localPort}` };
}

/** The protocol log's refusal lines (`*` with a reason) of one session. */
async function refusalsLogged(endpoint: string, count: number): Promise<ProtocolLine[]> {
  const mine = (): ProtocolLine[] => protocolLines(relay()).filter((l) => l['remote-endpoint'] === endpoint && l.event === '*' && / refused: /.test(l.data));
  await relay().waitForLog(() => mine().length >= count).catch(() => undefined);
  return mine();
}

describe('a client without the relay right relays through no connector', () => {
  for (const usage of USAGES) {
    test(`${usage}: all ${PATTERNS.length} patterns refused, none queued, each refusal logged with its reason`, async () => {
      const outcomes: string[] = [];
      for (const pattern of PATTERNS) {
        const result = await attempt(ports[usage], ATTACKER, pattern);
        assert.match(result.banner, new RegExp(`${usage.toLowerCase()}\\.example\\.test`));
        const rcpt = result.replies.find((r) => r.command.startsWith('RCPT'));
        const refused = result.replies.filter((r) => refusal(r.code));
        outcomes.push(`${pattern[0]}: ${result.replies.map((r) => `${r.command.split(':')[0]} -> ${r.line}`).join(' | ')}`);
        assert.ok(refused.length > 0, `${usage} ${pattern[0]} was not refused: ${JSON.stringify(result.replies)}`);
        assert.ok(!result.replies.some((r) => r.command === '.' && r.code === 250), `${usage} ${pattern[0]} relayed: ${JSON.stringify(result.replies)}`);
        assert.notEqual(rcpt?.code, 250, `${usage} ${pattern[0]}: foreign recipient accepted: ${JSON.stringify(result.replies)}`);
        const logged = await refusalsLogged(result.endpoint, refused.length);
        assert.ok(logged.length >= refused.length, `${usage} ${pattern[0]}: ${refused.length} refusals, ${logged.length} logged: ${JSON.stringify(logged)}`);
        for (const line of logged) assert.match(line.context, /^[a-z][A-Za-z:]+$/, `a reason for ${line.data}`);
      }
      assert.equal(queuedMessages(relay()).filter((m) => m.envelope.mailFrom !== 'relaytest@right-holder.example').length, 0, outcomes.join('\n'));
    });
  }
});

describe('a client that holds the right relays through the same hub', () => {
  test('the plain foreign-recipient patterns (nmap 1-4) are queued for the foreign domain', async () => {
    for (const pattern of NMAP.slice(0, 4)) {
      const client = await SmtpClient.connect({ host: IP, port: ports.relay, localAddress: RIGHT_HOLDER });
      assert.equal((await client.send('EHLO right-holder.example')).code, 250);
      const replies = await sendMessage(client, 'relaytest@right-holder.example', [pattern[2].slice(1, -1)], plainMessage('relaytest@right-holder.example', `relaytest@${D}`, pattern[0]));
      assert.match(replies.at(-1)?.line ?? '', /^250 2\.6\.0 /, `${pattern[0]}: ${JSON.stringify(replies.map((r) => r.line))}`);
      await client.quit();
    }
    const queued = queuedMessages(relay(), 'relaytest@right-holder.example');
    assert.equal(queued.length, 4);
    for (const message of queued) assert.deepEqual(message.envelope.rcptTo.map((r) => r.address), [`relaytest@${D}`]);
  });
});

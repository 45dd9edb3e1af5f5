/*
 * test/relay/auth-bruteforce - issue 17 item 10 against a real standalone hub: password guessing
 * does not stall other sessions, and the hub-wide logon lockout answers exactly.
 *
 * One hub on 127.0.0.43, one connector (AuthenticatedUsers, BasicAuth in clear, tarpit off,
 * no per-session MaxLogonFailures, so only the hub-wide lockout slows a guesser), users at bcrypt
 * cost 10 (about 65 ms a check, as in production). RelayHub spec.users.lockout: 4 failures per
 * source, 6 per user name, window 10m. Clients bind their own loopback source addresses:
 *   127.0.43.1-20    20 attacking connections, one per address, guessing names and passwords
 *   127.0.43.100     the legitimate client (alice), timed while the attack runs
 *   127.0.44.x       the lockout replies
 * Before the fix bcrypt ran on the event loop: the legitimate AUTH took over a second under the
 * attack and no lockout reply existed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { freePort } from '../controlplane/controlplane.ts';
import { removeHubDir, startHubProcess, type HubProcess } from '../support/hub-process.ts';
import { manifestsYaml, secretDoc } from './support-certs.ts';
import { SmtpClient, type SmtpReply } from '../support/smtp-client.ts';

const NS = 'auth-bruteforce';
const HUB = 'hub-bruteforce';
const IP = '127.0.0.43';
const COST = 10;
const PASSWORDS = { alice: 'alice-secret', bob: 'bob-secret', carol: 'carol-secret' };
const LOCKED = '454 4.7.0 Temporary authentication failure, try again later';
const INVALID = '535 5.7.8 Authentication credentials invalid';
/** The legitimate client's AUTH under attack: before the fix it took about 1.3 s here. */
const LEGIT_AUTH_BOUND_MS = 500;

const plain = (user: string, password: string): string => Buffer.from(`\0${user}\0${password}`).toString('base64');
const line = (reply: SmtpReply): string => reply.lines.join('\n');

function manifests(port: number): string {
  const users = Object.entries(PASSWORDS).map(([name, password]) => `${name}:${bcrypt.hashSync(password, COST)}:${name}@contoso.test`).join('\n');
  return manifestsYaml([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    secretDoc(NS, 'relay-users', { users }),
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB, namespace: NS },
      spec: {
        replicas: 1, fqdn: 'hub-bruteforce.relay.test', antiSpam: { spf: false, dnsbl: [] },
        users: { secretName: 'relay-users', lockout: { maxFailuresPerSource: 4, maxFailuresPerUser: 6, window: '10m' } },
      },
    },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'submission', namespace: NS },
      spec: {
        hubs: [HUB], usage: 'Custom', bindings: [`${IP}:${port}`], remoteIPRanges: ['127.0.0.0/8'],
        permissionGroups: ['AuthenticatedUsers'], authMechanisms: ['BasicAuth'],
        limits: { tarpitInterval: '0s', maxLogonFailures: 0 },
      },
    },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'AcceptedDomain', metadata: { name: 'contoso', namespace: NS },
      spec: { domainName: 'contoso.test', domainType: 'Authoritative', default: true },
    },
  ]);
}

describe('password guessing on a standalone hub', { timeout: 120_000 }, () => {
  let hub: HubProcess;
  let port = 0;
  const clients: SmtpClient[] = [];

  const session = async (localAddress: string): Promise<SmtpClient> => {
    const client = await SmtpClient.connect({ host: IP, port, localAddress });
    clients.push(client);
    assert.equal((await client.send(`EHLO ${localAddress.replace(/\./g, '-')}.test`)).code, 250);
    return client;
  };
  /** One AUTH PLAIN on a new session; the reply and how long the AUTH command took. */
  const logon = async (localAddress: string, user: string, password: string): Promise<{ reply: SmtpReply; ms: number }> => {
    const client = await session(localAddress);
    const started = performance.now();
    const reply = await client.send(`AUTH PLAIN ${plain(user, password)}`, 30_000);
    const ms = performance.now() - started;
    client.close();
    return { reply, ms };
  };

  before(async () => {
    port = await freePort();
    hub = await startHubProcess({ manifests: manifests(port), hub: HUB });
  });

  after(async () => {
    for (const client of clients) client.close();
    await hub?.stop();
    if (hub) removeHubDir(hub);
  });

  test('20 guessing connections do not slow a legitimate AUTH past the bound', async () => {
    // Warm up (the first check starts nothing lazily), and alice's source becomes known.
    const warm = await logon('127.0.43.100', 'alice', PASSWORDS.alice);
    assert.equal(warm.reply.code, 235, line(warm.reply));
    const quiet = await logon('127.0.43.100', 'alice', PASSWORDS.alice);
    assert.equal(quiet.reply.code, 235, line(quiet.reply));

    let stop = false;
    const replies = new Map<number, number>();
    let guesses = 0;
    const attackStarted = performance.now();
    const attackers = Array.from({ length: 20 }, async (_, i) => {
      const client = await session(`127.0.43.${i + 1}`);
      for (let k = 0; !stop; k++) {
        // Spraying: a new name each time (one that exists among them), so no user lockout helps.
        const name = k % 5 === 0 ? 'carol' : `user-${i}-${k}`;
        const reply = await client.send(`AUTH PLAIN ${plain(name, `guess-${k}`)}`, 30_000);
        replies.set(reply.code, (replies.get(reply.code) ?? 0) + 1);
        if (reply.code === 535) guesses++;
        if (reply.code !== 535) break;
      }
      client.close();
    });
    // Let the attack fill the hub before timing the legitimate client.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const timings: number[] = [];
    try {
      for (let n = 0; n < 5; n++) {
        const { reply, ms } = await logon('127.0.43.100', 'alice', PASSWORDS.alice);
        assert.equal(reply.code, 235, line(reply));
        timings.push(Math.round(ms));
      }
    } finally {
      stop = true;
      await Promise.all(attackers);
    }
    const attackSeconds = (performance.now() - attackStarted) / 1000;
    const sorted = [...timings].sort((a, b) => a - b);
    const median = sorted[2] as number;
    const report = `legitimate AUTH under attack (ms): ${timings.join(', ')}; quiet: ${Math.round(quiet.ms)} ms; ` +
      `attack: ${guesses} guesses answered 535 in ${attackSeconds.toFixed(1)} s (${(guesses / attackSeconds).toFixed(1)}/s), replies ${JSON.stringify(Object.fromEntries(replies))}`;
    console.log(report);
    assert.ok(median < LEGIT_AUTH_BOUND_MS, `median legitimate AUTH ${median} ms >= ${LEGIT_AUTH_BOUND_MS} ms\n${report}`);
    // Each attacking address got its 4 guesses, then the lockout: none guessed more.
    assert.ok(guesses <= 20 * 4, report);
  });

  test('lockout per source: after 4 failures, 454 whatever the password, and for any name', async () => {
    const source = '127.0.44.1';
    for (let n = 1; n <= 4; n++) {
      const { reply } = await logon(source, 'bob', `wrong-${n}`);
      assert.equal(line(reply), INVALID, `failure ${n}`);
    }
    for (const [user, password] of [['bob', PASSWORDS.bob], ['bob', 'wrong-5'], ['nobody', 'x']] as const) {
      const { reply } = await logon(source, user, password);
      assert.equal(line(reply), LOCKED, `${user} after the source's lockout`);
    }
    // Another source is not locked out by it; bob has 4 of his 6 failures.
    const other = await logon('127.0.44.2', 'bob', PASSWORDS.bob);
    assert.equal(other.reply.code, 235, line(other.reply));
    const log = hub.logs.filter((l) => l.log === 'protocol' && typeof l['remote-endpoint'] === 'string' && l['remote-endpoint'].startsWith(`${source}:`));
    assert.ok(log.some((l) => l.context === 'logonLockout:source'), 'the protocol log names the lockout');
  });

  test('lockout per user across sources: 454 for that name from a new source, not from a source it used', async () => {
    // bob: 4 failures above (from 127.0.44.1) and a success from 127.0.44.2; two more reach 6.
    for (const source of ['127.0.44.3', '127.0.44.4']) {
      const { reply } = await logon(source, 'bob', 'wrong');
      assert.equal(line(reply), INVALID, source);
    }
    const fresh = await logon('127.0.44.5', 'bob', PASSWORDS.bob);
    assert.equal(line(fresh.reply), LOCKED, 'bob from a new source, right password');
    const unknown = await logon('127.0.44.5', 'bob', 'wrong');
    assert.equal(line(unknown.reply), LOCKED, 'bob from a new source, wrong password: the same reply');
    const known = await logon('127.0.44.2', 'bob', PASSWORDS.bob);
    assert.equal(known.reply.code, 235, `bob from the source he used before: ${line(known.reply)}`);
    const otherUser = await logon('127.0.44.5', 'alice', PASSWORDS.alice);
    assert.equal(otherUser.reply.code, 235, `another user from the same new source: ${line(otherUser.reply)}`);
    // A name that does not exist locks out the same way (the reply does not say which exist).
    for (let n = 0; n < 6; n++) await logon(`127.0.45.${n + 1}`, 'ghost', 'x');
    const ghost = await logon('127.0.45.50', 'ghost', 'x');
    assert.equal(line(ghost.reply), LOCKED, 'an unknown name after 6 failures');
  });
});

/*
 * test/relay/proxy - PROXY protocol v1/v2 from trusted and untrusted peers, on a real hub.
 *
 * The hub trusts one proxy, 127.0.0.50. Its listener 127.0.0.31:PORT has two connectors:
 *   apps      127.0.1.0/24   anonymous relay (AcceptAnyRecipient)
 *   internet  127.0.0.0/16   anonymous, no relay right
 * A client at 127.0.0.50 that sends a PROXY header claiming 127.0.1.x is that client (it relays,
 * and the protocol log, the envelope and the headers show the claimed address). The same
 * header from 127.0.0.51 is not believed: that client is 127.0.0.51 on `internet` and cannot
 * relay. A claim from outside every range gets 554 5.7.1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../controlplane/controlplane.ts';
import { removeHubDir, startHubProcess, type HubProcess, type LogLine } from '../support/hub-process.ts';
import { manifestsYaml, readIncoming, testMessage, type SpooledMessage } from './support-certs.ts';
import { SmtpClient } from '../support/smtp-client.ts';

const NS = 'proxy-tests';
const HUB = 'hub-proxy';
const HUB_IP = '127.0.0.31';
const PROXY_IP = '127.0.0.50';
const UNTRUSTED_IP = '127.0.0.51';

function manifests(port: number): string {
  const limits = { tarpitInterval: '0s' };
  return manifestsYaml([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: HUB, namespace: NS },
      spec: { replicas: 1, fqdn: 'hub-proxy.relay.test', proxyProtocol: { trustedProxies: [PROXY_IP] }, antiSpam: { spf: false, dnsbl: [] } },
    },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'apps', namespace: NS },
      spec: {
        hubs: [HUB], usage: 'Custom', bindings: [`${HUB_IP}:${port}`], remoteIPRanges: ['127.0.1.0/24'], permissionGroups: ['AnonymousUsers'],
        permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }], limits,
      },
    },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'internet', namespace: NS },
      // The relay connector above narrows this one and grants more: allowed only with its consent.
      spec: { hubs: [HUB], usage: 'Custom', bindings: [`${HUB_IP}:${port}`], remoteIPRanges: ['127.0.0.0/16'], permissionGroups: ['AnonymousUsers'], allowNarrowerConnectors: true, limits },
    },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'AcceptedDomain', metadata: { name: 'contoso', namespace: NS },
      spec: { domainName: 'contoso.test', domainType: 'Authoritative', default: true },
    },
  ]);
}

/** A PROXY v2 header (PROXY command, TCP over IPv4) with one AUTHORITY TLV the relay must skip. */
function proxyV2(source: string, sourcePort: number, destination: string, destinationPort: number): Buffer {
  const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const authority = Buffer.from('hub-proxy.relay.test');
  const tlv = Buffer.concat([Buffer.from([0x02, authority.length >> 8, authority.length & 0xff]), authority]);
  const addresses = Buffer.alloc(12);
  source.split('.').forEach((octet, i) => addresses.writeUInt8(Number(octet), i));
  destination.split('.').forEach((octet, i) => addresses.writeUInt8(Number(octet), 4 + i));
  addresses.writeUInt16BE(sourcePort, 8);
  addresses.writeUInt16BE(destinationPort, 10);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(addresses.length + tlv.length);
  return Buffer.concat([signature, Buffer.from([0x21, 0x11]), length, addresses, tlv]);
}

describe('PROXY protocol', { timeout: 60_000 }, () => {
  let hub: HubProcess;
  let port: number;
  const clients: SmtpClient[] = [];
  const relayed = new Map<string, string>(); // token -> claimed client address
  const refusedTokens: string[] = [];

  /** connect - a client, with its greeting read unless `readGreeting` is false (sockets expected to be dropped). */
  const connect = async (options: Parameters<typeof SmtpClient.connect>[0], readGreeting = true): Promise<SmtpClient> => {
    const client = readGreeting ? await SmtpClient.connect(options) : await SmtpClient.open(options);
    clients.push(client);
    return client;
  };
  const sessionOf = (predicate: (line: LogLine) => boolean): LogLine[] => {
    const first = hub.logs.find((l) => l.log === 'protocol' && predicate(l));
    return first ? hub.logs.filter((l) => l.log === 'protocol' && l['session-id'] === first['session-id']) : [];
  };
  /** relayThrough - EHLO, envelope to an outside domain, DATA; the replies. */
  const relayThrough = async (client: SmtpClient, token: string): Promise<{ ehlo: number; mail: number; rcpt: number; data: number }> => {
    const ehlo = (await client.send('EHLO app.relay.test')).code;
    const [mail, rcpt] = await client.envelope('app@contoso.test', ['someone@fabrikam.test']);
    const data = rcpt?.code === 250 ? (await client.data(testMessage({ from: 'app@contoso.test', to: 'someone@fabrikam.test', token }))).code : 0;
    return { ehlo, mail: mail?.code ?? 0, rcpt: rcpt?.code ?? 0, data };
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

  test('a PROXY v1 header from the trusted proxy makes the session the claimed client: it relays, the protocol log shows 127.0.1.77', async () => {
    const client = await connect({ host: HUB_IP, port, localAddress: PROXY_IP, preface: `PROXY TCP4 127.0.1.77 ${HUB_IP} 5555 25\r\n` });
    assert.equal(client.greeting.code, 220, client.greeting.text);
    const token = `proxy-v1-${Date.now()}`;
    const replies = await relayThrough(client, token);
    assert.deepEqual(replies, { ehlo: 250, mail: 250, rcpt: 250, data: 250 });
    relayed.set(token, '127.0.1.77');
    await client.quit();

    const session = sessionOf((l) => l['remote-endpoint'] === '127.0.1.77:5555');
    assert.ok(session.length > 0, 'the protocol log has a session from 127.0.1.77:5555');
    assert.equal(session[0]?.['connector-id'], `${NS}/apps`);
    assert.equal(session[0]?.context, 'matched 127.0.1.0/24');
    assert.ok(session.every((l) => l['remote-endpoint'] === '127.0.1.77:5555'));
    assert.ok(!hub.logs.some((l) => l.log === 'protocol' && String(l['remote-endpoint']).startsWith(`${PROXY_IP}:`)), 'the proxy address itself never appears as a client');
  });

  test('a PROXY v2 header (with a TLV) from the trusted proxy works the same way', async () => {
    const client = await connect({ host: HUB_IP, port, localAddress: PROXY_IP, preface: proxyV2('127.0.1.78', 6666, HUB_IP, 25) });
    assert.equal(client.greeting.code, 220, client.greeting.text);
    const token = `proxy-v2-${Date.now()}`;
    assert.deepEqual(await relayThrough(client, token), { ehlo: 250, mail: 250, rcpt: 250, data: 250 });
    relayed.set(token, '127.0.1.78');
    await client.quit();
    const session = sessionOf((l) => l['remote-endpoint'] === '127.0.1.78:6666');
    assert.equal(session[0]?.['connector-id'], `${NS}/apps`);
  });

  test('the header and the first SMTP command in one packet: the command is not lost', async () => {
    const client = await connect({ host: HUB_IP, port, localAddress: PROXY_IP, preface: `PROXY TCP4 127.0.1.79 ${HUB_IP} 7777 25\r\nEHLO eager.relay.test\r\n` }, false);
    assert.equal((await client.reply()).code, 220);
    const ehlo = await client.reply();
    assert.equal(ehlo.code, 250, 'the EHLO sent right behind the header is answered');
    await client.quit();
  });

  test('the same headers from an untrusted peer (127.0.0.51) are not believed: no relay, nothing spooled, logged as 127.0.0.51', async () => {
    for (const [version, preface] of [['v1', `PROXY TCP4 127.0.1.77 ${HUB_IP} 5555 25\r\n`], ['v2', proxyV2('127.0.1.77', 5555, HUB_IP, 25)]] as const) {
      const client = await connect({ host: HUB_IP, port, localAddress: UNTRUSTED_IP, preface }, false);
      const first = await client.reply();
      const replies: number[] = [first.code];
      const token = `untrusted-${version}-${Date.now()}`;
      refusedTokens.push(token);
      if (!client.isClosed && first.code === 220) {
        // the header bytes are read as SMTP command lines (and answered as such); HELP marks
        // where their replies end, then the client tries to relay as the claimed client would
        client.write('HELP\r\n');
        for (let reply = await client.reply(); reply.code !== 214 && reply.code !== 0; reply = await client.reply()) replies.push(reply.code);
        const result = await relayThrough(client, token);
        replies.push(result.mail, result.rcpt, result.data);
        assert.notEqual(result.rcpt, 250, `${version}: RCPT to an outside domain must not be accepted: ${JSON.stringify(result)}`);
        assert.notEqual(result.data, 250);
        // v1: the line is a bad command (500) and the session goes on as 127.0.0.51 on `internet`:
        // 550 5.7.54. v2: its signature contains "QUIT\n", so the session ends right there.
        if (result.rcpt !== 0) assert.equal(result.rcpt, 550, `${version}: relay denied`);
      } else {
        assert.notEqual(first.code, 250);
      }
      await client.quit();
      const session = sessionOf((l) => l['remote-endpoint'] === `${UNTRUSTED_IP}:${client.localPort}`);
      assert.ok(session.length > 0, `${version}: the session is logged with the peer's real address`);
      assert.notEqual(session[0]?.['connector-id'], `${NS}/apps`, `${version}: not the connector of the claimed client`);
    }
  });

  test('a trusted proxy claiming a client outside every range gets 554 5.7.1 and the connection is closed', async () => {
    const client = await connect({ host: HUB_IP, port, localAddress: PROXY_IP, preface: `PROXY TCP4 127.9.9.9 ${HUB_IP} 4444 25\r\n` });
    assert.equal(client.greeting.code, 554, client.greeting.text);
    assert.match(client.greeting.text, /^5\.7\.1 /);
    await client.closed;
    const refusal = hub.logs.find((l) => l.log === 'protocol' && l['remote-endpoint'] === '127.9.9.9:4444');
    assert.ok(refusal, 'the refusal is in the protocol log with the claimed address');
    assert.match(String(refusal.data), /^554 5\.7\.1 /);
  });

  test('a trusted proxy that sends no PROXY header is disconnected without a session', async () => {
    const client = await connect({ host: HUB_IP, port, localAddress: PROXY_IP, preface: 'EHLO sneaky.relay.test\r\n' }, false);
    const reply = await client.reply();
    assert.equal(reply.code, 0, `closed without a reply, got ${reply.lines.join(' / ')}`);
    assert.ok(!hub.logs.some((l) => l.log === 'protocol' && String(l['remote-endpoint']).startsWith(`${PROXY_IP}:`)));
  });

  test('the spool shows the claimed client addresses, and nothing from the untrusted peer', async () => {
    assert.equal(await hub.stop(), 0);
    const stored = await readIncoming(hub.spoolDir);
    const find = (token: string): SpooledMessage | undefined => stored.find((m) => m.text.includes(`token ${token}`));
    assert.equal(relayed.size, 2);
    for (const [token, address] of relayed) {
      const message = find(token);
      assert.ok(message, `${token} was spooled`);
      assert.equal(message.clientAddress, address);
      assert.match(message.text, new RegExp(`^Received: from app\\.relay\\.test \\(\\[${address.replace(/\./g, '\\.')}\\]\\)`, 'm'));
      assert.match(message.text, new RegExp(`^X-Relay-Antispam: .*client-ip=${address.replace(/\./g, '\\.')}`, 'm'));
    }
    for (const token of refusedTokens) assert.equal(find(token), undefined, `${token} must not be spooled`);
    assert.ok(!stored.some((m) => m.clientAddress === UNTRUSTED_IP || m.clientAddress === PROXY_IP));
  });
});

/*
 * test/node/dedicated-ips - hub addresses as real LoadBalancer IPs: MetalLB's controller
 * assigns exactly the IP each RelayHub pins (metallb.io/loadBalancerIPs), kube-proxy on the
 * node answers for it, and with externalTrafficPolicy Local the relay sees the client's own
 * address, so RemoteIPRanges decide. Clients are hosts in relay-clients with addresses from
 * 198.51.100.0/24; the pool is 203.0.113.0/24, reached through a static route to the node
 * (standing in for L2/BGP announcement). Run by test/node/run.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startCapturePeer, type CapturePeer } from '../support/smtp-peers.ts';
import { addClientAddress, eventually, message, nodeTestCluster, smtpFromAddress, type NodeTestCluster } from '../support/node-cluster.ts';

const SINK_HOST = '192.0.2.1';
const SINK_PORT = 2527;
const RELEASE = 'relay-operator';
const OPERATOR_NS = 'relay-system';
const NS = 'dedicated';
const COPIER = '198.51.100.100';
const COPIER_2 = '198.51.100.101';
const APP = '198.51.100.200';
const STRANGER = '198.51.100.50';
const IP_A = '203.0.113.17';
const IP_B = '203.0.113.18';
const IP_B_MOVED = '203.0.113.19';
const IP6_A = '2001:db8:f:203::17';
const IP6_B = '2001:db8:f:203::18';
const COPIER6 = '2001:db8::100'; // inside the connector's 2001:db8::/48, as in the seed example
const STRANGER6 = '2001:db8:1::50';

function hub(name: string, addresses: string): string {
  return `apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: ${name}, namespace: ${NS}, labels: {site: east}}
spec:
  replicas: 1
  fqdn: ${name}.example.test
  addresses:
${addresses}
`;
}

function manifests(ipB: string): string {
  return [
    hub('hub-a', `    - {name: relay, ip: ${IP_A}}\n    - {name: relay6, ip: "${IP6_A}"}\n    - {name: internet}`),
    hub('hub-b', `    - {name: relay, ip: ${ipB}}\n    - {name: relay6, ip: "${IP6_B}"}`),
    `apiVersion: relayoperator.io/v1alpha1
kind: ReceiveConnector
metadata: {name: copiers, namespace: ${NS}}
spec:
  hubSelector: {matchLabels: {site: east}}
  usage: Custom
  banner: "220 copiers connector"
  bindings: ["relay:25", "relay6:25"]
  remoteIPRanges: [198.51.100.100-198.51.100.101, 198.51.100.128/25, "2001:db8::/48"]
  permissionGroups: [AnonymousUsers]
  permissions: [{principal: Anonymous, allow: [AcceptAnyRecipient]}]
`,
    // Narrower, on hub-a only, granting no more than copiers: the most specific range wins.
    `apiVersion: relayoperator.io/v1alpha1
kind: ReceiveConnector
metadata: {name: copier-100, namespace: ${NS}}
spec:
  hubs: [hub-a]
  usage: Custom
  banner: "220 copier-100 connector"
  bindings: ["relay:25"]
  remoteIPRanges: [198.51.100.100/32]
  permissionGroups: [AnonymousUsers]
  permissions: [{principal: Anonymous, allow: [AcceptAnyRecipient]}]
`,
    // Exchange's classic pair on one hub: a second address with its own connector.
    `apiVersion: relayoperator.io/v1alpha1
kind: ReceiveConnector
metadata: {name: internet, namespace: ${NS}}
spec:
  hubs: [hub-a]
  usage: Internet
  banner: "220 internet connector"
  bindings: ["internet:25"]
`,
    `apiVersion: relayoperator.io/v1alpha1
kind: AcceptedDomain
metadata: {name: contoso, namespace: ${NS}}
spec: {domainName: contoso.com, domainType: Authoritative, default: true}
`,
    `apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata: {name: to-sink, namespace: ${NS}}
spec:
  hubSelector: {matchLabels: {site: east}}
  addressSpaces: [{domain: "*"}]
  smartHosts: ["${SINK_HOST}:${SINK_PORT}"]
  tls: {mode: None}
`,
  ].join('---\n');
}

describe('dedicated IPs on real networking', () => {
  let cluster: NodeTestCluster;
  let sink: CapturePeer;
  const ingressIP = (service: string): string => cluster.kubectl(['get', 'service', '-n', NS, service, '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}']);
  const received = (subject: string): number => sink.messages.filter((m) => m.data.toString().includes(`Subject: ${subject}\r\n`)).length;
  const hubLog = (name: string): string => cluster.kubectl(['logs', '-n', NS, `${name}-relay-0`]);
  const send = (from: string, ip: string, subject: string) => smtpFromAddress(from, ip, 25, message('copier@contoso.com', 'someone@example.org', subject));

  before(async () => {
    cluster = await nodeTestCluster();
    sink = await startCapturePeer({ host: SINK_HOST, port: SINK_PORT });
    for (const address of [COPIER, COPIER_2, APP, STRANGER, COPIER6, STRANGER6]) addClientAddress(address);
    cluster.installChart(RELEASE, OPERATOR_NS, ['replicas=1']);
    cluster.kubectl(['create', 'namespace', NS]);
    cluster.kubectl(['apply', '-f', '-'], manifests(IP_B));
    for (const name of ['hub-a', 'hub-b']) {
      await eventually(`${name} Ready`, 240_000, () => cluster.kubectl(['get', 'relayhub', '-n', NS, name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']) === 'True');
    }
  });
  after(async () => {
    await sink?.stop();
    cluster?.tryKubectl(['delete', 'namespace', NS, '--wait=false']);
    try {
      cluster?.helm(['uninstall', RELEASE, '-n', OPERATOR_NS, '--wait', '--timeout', '2m']);
    } catch {
      // the next file installs afresh; a failed uninstall shows in its own assertions
    }
  });

  test('each hub address Service gets exactly the pinned IP; an address without one gets a pool IP, reported in the hub status', async () => {
    await eventually('pinned IPs assigned', 60_000, () => ingressIP('hub-a-relay') === IP_A && ingressIP('hub-b-relay') === IP_B);
    const assigned = await eventually('pool IP assigned', 60_000, () => ingressIP('hub-a-internet') || undefined);
    assert.match(assigned, /^203\.0\.113\.\d+$/, 'from the pool');
    assert.notEqual(assigned, IP_A);
    const reported = await eventually('hub status names the assigned address', 60_000, () => {
      const status = cluster.json<{ status?: { addresses?: { name: string; ip?: string }[] } }>(['get', 'relayhub', '-n', NS, 'hub-a']).status;
      return status?.addresses?.find((a) => a.name === 'internet')?.ip;
    });
    assert.equal(reported, assigned);
    for (const service of ['hub-a-relay', 'hub-b-relay', 'hub-a-internet']) {
      assert.equal(cluster.kubectl(['get', 'service', '-n', NS, service, '-o', 'jsonpath={.spec.externalTrafficPolicy}']), 'Local', `${service} keeps the client address`);
    }
  });

  test('the seed scenario on real IPs: the copier relays through both hub IPs, a stranger gets 554 5.7.1 from both, the relay logs the real client address', async () => {
    for (const ip of [IP_A, IP_B]) {
      const refused = send(STRANGER, ip, `stranger-${ip}`);
      assert.match(refused.replies[0] ?? '', /^554 5\.7\.1 /, `${STRANGER} at ${ip}: ${JSON.stringify(refused)}`);
      const relayed = send(COPIER_2, ip, `copier-${ip}`);
      assert.match(relayed.replies[0] ?? '', /^220 copiers connector/, `${COPIER_2} at ${ip}: ${JSON.stringify(relayed)}`);
      assert.match(relayed.replies[5] ?? '', /^250 /, `${COPIER_2} relays at ${ip}: ${JSON.stringify(relayed)}`);
      const app = send(APP, ip, `app-${ip}`);
      assert.match(app.replies[5] ?? '', /^250 /, `${APP} (app subnet) relays at ${ip}: ${JSON.stringify(app)}`);
    }
    for (const ip of [IP_A, IP_B]) await eventually(`copier-${ip} at the sink`, 60_000, () => received(`copier-${ip}`) === 1);
    for (const name of ['hub-a', 'hub-b']) {
      const log = hubLog(name);
      assert.match(log, new RegExp(`"remote-endpoint":"${COPIER_2.replaceAll('.', '\\.')}:\\d+"`), `${name} logs the copier's own address`);
      assert.match(log, new RegExp(`"remote-endpoint":"${STRANGER.replaceAll('.', '\\.')}:\\d+"`), `${name} logs the stranger's own address`);
      assert.doesNotMatch(log, /"remote-endpoint":"192\.0\.2\.\d+:/, `${name} never sees a translated (node) address`);
    }
  });

  test('on one hub IP and port, the narrower connector wins for its one address only', () => {
    const narrow = send(COPIER, IP_A, 'narrow-a');
    assert.match(narrow.replies[0] ?? '', /^220 copier-100 connector/, `.100 at hub-a: ${JSON.stringify(narrow)}`);
    const wide = send(COPIER_2, IP_A, 'wide-a');
    assert.match(wide.replies[0] ?? '', /^220 copiers connector/, `.101 at hub-a: ${JSON.stringify(wide)}`);
    const otherHub = send(COPIER, IP_B, 'narrow-b');
    assert.match(otherHub.replies[0] ?? '', /^220 copiers connector/, `.100 at hub-b (no narrow connector there): ${JSON.stringify(otherHub)}`);
  });

  test('two addresses on one hub: each IP lands on its own connector', () => {
    const internetIP = ingressIP('hub-a-internet');
    const internet = send(STRANGER, internetIP, 'internet');
    assert.match(internet.replies[0] ?? '', /^220 internet connector/, `any client at the internet address: ${JSON.stringify(internet)}`);
    assert.match(internet.replies[3] ?? '', /^550 5\.7\.54 /, `the internet connector does not relay: ${JSON.stringify(internet)}`);
    const relay = send(STRANGER, IP_A, 'relay-address');
    assert.match(relay.replies[0] ?? '', /^554 5\.7\.1 /, `the same client at the relay address: ${JSON.stringify(relay)}`);
  });

  test('IPv6: pinned IPv6 addresses on IPv6 Services; the copier relays through both, a stranger gets 554 5.7.1, the relay logs its own IPv6 address', async () => {
    await eventually('IPv6 addresses assigned', 60_000, () => ingressIP('hub-a-relay6') === IP6_A && ingressIP('hub-b-relay6') === IP6_B);
    for (const ip of [IP6_A, IP6_B]) {
      const refused = send(STRANGER6, ip, `stranger6-${ip}`);
      assert.match(refused.replies[0] ?? '', /^554 5\.7\.1 /, `${STRANGER6} at ${ip}: ${JSON.stringify(refused)}`);
      const relayed = send(COPIER6, ip, `copier6-${ip}`);
      assert.match(relayed.replies[5] ?? '', /^250 /, `${COPIER6} relays at ${ip}: ${JSON.stringify(relayed)}`);
    }
    for (const ip of [IP6_A, IP6_B]) await eventually(`copier6-${ip} at the sink`, 60_000, () => received(`copier6-${ip}`) === 1);
    for (const name of ['hub-a', 'hub-b']) {
      assert.match(hubLog(name), /"remote-endpoint":"\[?2001:db8::100\]?:\d+"/, `${name} logs the copier's own IPv6 address`);
    }
  });

  test('a hub address change moves the Service to the new IP, and the old IP stops answering', async () => {
    cluster.kubectl(['apply', '-f', '-'], manifests(IP_B_MOVED));
    await eventually('hub-b-relay on the new IP', 120_000, () => ingressIP('hub-b-relay') === IP_B_MOVED);
    const moved = await eventually('the new IP answers', 60_000, () => {
      const outcome = send(COPIER_2, IP_B_MOVED, 'moved');
      return /^250 /.test(outcome.replies[5] ?? '') && outcome;
    });
    assert.match(moved.replies[0] ?? '', /^220 copiers connector/);
    const old = send(COPIER_2, IP_B, 'old-ip');
    assert.equal(old.replies.length, 0, `nothing answers at the old IP: ${JSON.stringify(old)}`);
    assert.ok(old.error, 'the connection fails');
  });
});

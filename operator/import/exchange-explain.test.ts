/*
 * `relay-operator explain` on the imported fixtures gives the decision Exchange gives the same
 * client: which connector takes it (most specific range wins, disabled connectors take no one)
 * and whether it may relay, send as the authoritative domain, skip anti-spam. The expected
 * column is Exchange's documented behaviour for that connector and ACL set, not the relay's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runExplain } from '../cli/explain-command.ts';
import { hubsYaml, importFixture, writeImport, type FixtureVersion } from './testdata/fixtures.ts';

interface Row {
  exchange: string;
  hub: string;
  client: string;
  to: string;
  mailFrom?: string;
  rcpt?: string;
  /** Patterns the explain output must hold. */
  expect: RegExp[];
}

const OUTSIDE = 'someone@elsewhere.example';
const relays = /RCPT TO:<someone@elsewhere\.example>\s+250 2\.1\.5/;
const relayDenied = /RCPT TO:<someone@elsewhere\.example>\s+550 5\.7\.54/;

const TABLE: Record<FixtureVersion, Row[]> = {
  exchange2007: [
    { exchange: 'copier in Relay HUB07 relays (method 1)', hub: 'hub-hub07', client: '192.168.1.105', to: '192.168.1.17:25', rcpt: OUTSIDE, expect: [/connector mail\/relay /, relays, /anti-spam\s+runs/] },
    { exchange: 'other client on the relay IP gets Default HUB07, no relay anonymously', hub: 'hub-hub07', client: '192.168.1.200', to: '192.168.1.17:25', rcpt: OUTSIDE, expect: [/connector mail\/default /, relayDenied] },
    { exchange: 'internal client on 0.0.0.0:25 gets Default HUB07, may deliver to contoso.com', hub: 'hub-hub07', client: '192.168.1.105', to: '0.0.0.0:25', rcpt: 'user@contoso.com', expect: [/connector mail\/default /, /RCPT TO:<user@contoso\.com>\s+250/] },
  ],
  exchange2016: [
    { exchange: 'app in Anonymous Relay relays via EX1 (method 1)', hub: 'hub-ex1', client: '10.10.5.17', to: '0.0.0.0:25', rcpt: OUTSIDE, expect: [/connector mail\/anonymous-relay /, relays] },
    { exchange: 'the same app via EX2', hub: 'hub-ex2', client: '10.10.6.40', to: '0.0.0.0:25', rcpt: OUTSIDE, expect: [/connector mail\/anonymous-relay /, relays] },
    { exchange: 'one address past the range: Default Frontend, relay denied', hub: 'hub-ex1', client: '10.10.6.41', to: '0.0.0.0:25', rcpt: OUTSIDE, expect: [/connector mail\/default-frontend /, relayDenied] },
    { exchange: 'Internet sender to contoso.com accepted by Default Frontend', hub: 'hub-ex2', client: '203.0.113.9', to: '0.0.0.0:25', mailFrom: 'news@example.net', rcpt: 'user@contoso.com', expect: [/connector mail\/default-frontend /, /RCPT TO:<user@contoso\.com>\s+250/, /anti-spam\s+runs/] },
    { exchange: 'trusted app (method 2) is Externally Secured: relays, no anti-spam, no size limit', hub: 'hub-ex1', client: '192.168.20.9', to: '192.168.20.5:25', rcpt: OUTSIDE, expect: [/connector mail\/trusted-app-relay /, /session\s+TrustedServers/, relays, /anti-spam\s+skipped/, /size limit\s+none/, /- AcceptOrganizationHeaders/] },
    { exchange: 'IPv6 Internet client gets Default Frontend', hub: 'hub-ex1', client: '2001:db8:ffff::1', to: '0.0.0.0:25', rcpt: OUTSIDE, expect: [/connector mail\/default-frontend /, relayDenied] },
  ],
  exchange2019: [
    { exchange: 'the 1,400th range of App Relay relays', hub: 'hub-mbx1', client: '10.100.5.150', to: '0.0.0.0:25', rcpt: OUTSIDE, expect: [/connector mail\/app-relay-mbx1 \(matched entry 10\.100\.5\.150, 1 address/, relays] },
    { exchange: 'IPv6 application subnet relays', hub: 'hub-mbx1', client: '2001:db8:10::25', to: '0.0.0.0:25', rcpt: OUTSIDE, expect: [/connector mail\/app-relay-mbx1 /, relays] },
    { exchange: 'link-local app (zone id in Exchange) relays', hub: 'hub-mbx2', client: 'fe80::20c:29ff:fe12:3456', to: '0.0.0.0:25', rcpt: OUTSIDE, expect: [/connector mail\/app-relay-mbx2 /, relays] },
    { exchange: 'range only MBX2 has: relays on MBX2', hub: 'hub-mbx2', client: '10.200.3.4', to: '0.0.0.0:25', rcpt: OUTSIDE, expect: [/connector mail\/app-relay-mbx2 /, relays] },
    { exchange: 'the same client on MBX1 gets Default Frontend: relay denied', hub: 'hub-mbx1', client: '10.200.3.4', to: '0.0.0.0:25', rcpt: OUTSIDE, expect: [/connector mail\/default-frontend /, relayDenied] },
    { exchange: 'anonymous sender spoofing contoso.com is refused (deny ACE)', hub: 'hub-mbx1', client: '203.0.113.9', to: '0.0.0.0:25', mailFrom: 'ceo@contoso.com', expect: [/connector mail\/default-frontend /, /- AcceptAuthoritativeDomainSender\s+.*permission Anonymous deny/, /MAIL FROM:<ceo@contoso\.com>\s+550 5\.7\.1/] },
    { exchange: 'the legacy open relay on 2526 relays for anyone, as it did', hub: 'hub-mbx1', client: '198.18.0.1', to: '0.0.0.0:2526', rcpt: OUTSIDE, expect: [/connector mail\/legacy-open-relay /, relays] },
    { exchange: 'the disabled scanner connector takes no one: its clients get Default Frontend', hub: 'hub-mbx1', client: '192.168.50.10', to: '0.0.0.0:25', rcpt: OUTSIDE, expect: [/connector mail\/default-frontend /, relayDenied] },
    { exchange: 'the disabled connector\'s own address is answered by Default Frontend\'s 0.0.0.0:25, which answers on every address', hub: 'hub-mbx1', client: '192.168.50.10', to: '192.168.50.5:25', expect: [/^listener 0\.0\.0\.0:25 /, /connector mail\/default-frontend/] },
  ],
};

/** explain - runs the command in-process and returns what it printed. */
async function explain(args: string[]): Promise<{ status: number; stdout: string }> {
  const printed: string[] = [];
  const original = console.log;
  console.log = (...parts: unknown[]) => void printed.push(parts.join(' '));
  try {
    const status = await runExplain(args);
    return { status, stdout: printed.join('\n') };
  } finally {
    console.log = original;
  }
}

for (const version of Object.keys(TABLE) as FixtureVersion[]) {
  test(`${version}: explain on the import decides as Exchange does`, async (t) => {
    const { dir, remove } = writeImport(importFixture(version), hubsYaml(version));
    t.after(remove);
    for (const row of TABLE[version]) {
      // --exit-zero: the decision is read from the output here; the exit code of a refusal (3) is explain's own test
      const args = ['--manifests', dir, '--hub', row.hub, '--client', row.client, '--to', row.to, '--exit-zero'];
      if (row.mailFrom) args.push('--mail-from', row.mailFrom);
      if (row.rcpt) args.push('--rcpt', row.rcpt);
      const result = await explain(args);
      assert.equal(result.status, 0, row.exchange);
      for (const pattern of row.expect) assert.match(result.stdout, pattern, `${row.exchange}\n${result.stdout}`);
    }
  });
}

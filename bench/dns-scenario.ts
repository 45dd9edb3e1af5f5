/*
 * bench/dns-scenario - the hub of the "DNS on the accept path" scenarios (issue 14, item 7).
 *
 * The connector is the anonymous relay connector of examples/two-hubs-one-connector.yaml
 * (`copiers`: AnonymousUsers + AcceptAnyRecipient for Anonymous) as shipped: its limits,
 * logging and everything else are the product defaults, and its hub has no `antiSpam` field,
 * so SPF is on (the default). Only what cannot run on this machine is replaced: the hub
 * (bench/hub.yaml's `bench`, without its `antiSpam: {spf: false}`), the binding (a loopback
 * address of the bench), the remote ranges (the load comes from 127.0.0.1) and the two
 * per-source connection limits: the example's copiers are many addresses, while here all 20
 * smtp-source sessions come from one, and the default 20 per source would turn the warm-up's
 * closing connections plus the measured run's new ones into 421s; the Postfix side has no
 * per-client limit either (smtpd_client_connection_count_limit = 0).
 * The hub's DNS is a local test DNS server (test/support/dns-server.ts) that holds the
 * SPF record of the load's sender domain (bench.test) and answers every question 200 ms late
 * (`slow`) or never (`dead`); the hub is pointed at it with test/support/dns-preload.ts.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { startTestDnsServer, type TestDnsServer } from '../test/support/dns-server.ts';

export type DnsBehaviour = 'slow' | 'dead';
export const SLOW_DNS_MS = 200;
export const EXAMPLE_FILE = 'examples/two-hubs-one-connector.yaml';
export const EXAMPLE_CONNECTOR = 'copiers';
/** The one change to the example's connector besides where it listens (see the top). */
export const PER_SOURCE_LIMITS_OFF = { maxInboundConnectionsPerSource: 0, maxInboundConnectionPercentagePerSource: 100 } as const;

interface Manifest {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  spec?: Record<string, unknown>;
}

function documents(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Manifest).filter((d) => d !== null);
}

/** dnsHubManifests - bench/hub.yaml with its connector replaced by the example's, anti-spam on. */
export function dnsHubManifests(root: string, binding: string): string {
  const bench = documents(path.join(root, 'bench/hub.yaml'));
  const example = documents(path.join(root, EXAMPLE_FILE)).find((d) => d.kind === 'ReceiveConnector' && d.metadata?.name === EXAMPLE_CONNECTOR);
  if (!example?.spec) throw new Error(`${EXAMPLE_FILE} has no ReceiveConnector ${EXAMPLE_CONNECTOR}`);
  const namespace = bench.find((d) => d.kind === 'Namespace')?.metadata?.name ?? 'relay-bench';
  const out = bench.flatMap((d): Manifest[] => {
    if (d.kind === 'RelayHub') {
      const { antiSpam: _off, ...spec } = d.spec ?? {};
      return [{ ...d, spec }];
    }
    if (d.kind === 'ReceiveConnector') {
      const { hubSelector: _selector, ...spec } = example.spec ?? {};
      const limits = { ...((spec.limits as Record<string, unknown> | undefined) ?? {}), ...PER_SOURCE_LIMITS_OFF };
      return [{ ...example, metadata: { name: EXAMPLE_CONNECTOR, namespace }, spec: { ...spec, hubs: ['bench'], bindings: [binding], remoteIPRanges: ['127.0.0.0/8'], limits } }];
    }
    return [d];
  });
  return out.map((d) => stringify(d)).join('---\n');
}

export interface DnsScenarioRun {
  manifestFile: string;
  dns: TestDnsServer;
  /** Environment for the hub process: its DNS is the test server. */
  env: NodeJS.ProcessEnv;
}

/** startDnsScenario - the test DNS server (slow or dead) and the manifest file of the hub. */
export async function startDnsScenario(root: string, runDir: string, label: string, binding: string, behaviour: DnsBehaviour): Promise<DnsScenarioRun> {
  const dns = await startTestDnsServer(
    { 'bench.test': { TXT: [['v=spf1 ip4:127.0.0.0/8 -all']], ttl: 300 } },
    0,
    behaviour === 'slow' ? { delayMs: SLOW_DNS_MS } : { silent: true },
  );
  const manifestFile = path.join(runDir, `hub-dns-${label}.yaml`);
  await fs.writeFile(manifestFile, dnsHubManifests(root, binding));
  const preload = path.join(root, 'test/support/dns-preload.ts');
  return { manifestFile, dns, env: { ...process.env, NODE_OPTIONS: `--import ${preload}`, RELAY_DNS_SERVERS: dns.address } };
}

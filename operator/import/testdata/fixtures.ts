/*
 * operator/import/testdata/fixtures - the Exchange exports of the tests, imported and written
 * to a scratch directory with stand-in hubs, as an administrator would run it.
 *
 *   exchange2007: one Hub Transport server; flat strings (the remote shell's serialisation);
 *     the first anonymous-relay method on its own IP.
 *   exchange2016: two servers; Windows PowerShell 5.1 (enums as numbers, TimeSpan and IPRange
 *     objects, UTF-16LE files); both methods; built-in 717/2525/465 connectors.
 *   exchange2019: two servers; names and {Value: ...} wrappers; a relay with 1,500 ranges plus
 *     IPv6 (one copy drifted), a deny ACE, an open relay and a disabled connector.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readExportFile } from '../exchange-export.ts';
import { importExchange, type ImportResult } from '../import-exchange.ts';

export type FixtureVersion = 'exchange2007' | 'exchange2016' | 'exchange2019';

const SERVERS: Record<FixtureVersion, string[]> = { exchange2007: ['hub07'], exchange2016: ['ex1', 'ex2'], exchange2019: ['mbx1', 'mbx2'] };

export function importFixture(version: FixtureVersion): ImportResult {
  const file = (name: string): string => join(import.meta.dirname, version, name);
  return importExchange(
    {
      receiveConnectors: readExportFile(file('receive-connectors.json')),
      permissions: readExportFile(file('permissions.json')),
      acceptedDomains: readExportFile(file('accepted-domains.json')),
      sendConnectors: readExportFile(file('send-connectors.json')),
    },
    { hubSelector: { key: 'site', value: 'east' }, namespace: 'mail' },
  );
}

/** hubsYaml - a RelayHub per server, labelled as the import report asks. */
export function hubsYaml(version: FixtureVersion): string {
  return SERVERS[version].map((server) => [
    'apiVersion: relayoperator.io/v1alpha1',
    'kind: RelayHub',
    `metadata: {name: hub-${server}, namespace: mail, labels: {site: east, relayoperator.io/exchange-server: ${server}}}`,
    `spec: {fqdn: hub-${server}.contoso.com}`,
  ].join('\n')).join('\n---\n') + '\n';
}

/** writeImport - the import's files (and, with hubs, the stand-in hubs) in a scratch directory. */
export function writeImport(result: ImportResult, hubs?: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'relay-import-test-'));
  for (const [name, text] of result.files) writeFileSync(join(dir, name), text);
  if (hubs) writeFileSync(join(dir, 'hubs.yaml'), hubs);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

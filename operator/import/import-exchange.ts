/*
 * operator/import/import-exchange - `relay-operator import exchange`: Exchange exports in,
 * ReceiveConnector, AcceptedDomain and SendConnector YAML and a report out.
 *
 * Steps: map each exported receive connector with its ACEs (exchange-receive-connector),
 * group the servers' copies (server-grouping), map accepted domains and send connectors
 * (exchange-mail-routing), render everything on stand-in hubs to apply the narrower-connector
 * guardrail (narrower-guardrail), then write YAML with the report in comments (yaml-output).
 * Pure: no file is read or written here.
 */
import type { AcceptedDomain, ReceiveConnector, SendConnector } from '../api/types.generated.ts';
import { identityOf, identityText, parseIdentity } from './exchange-export.ts';
import { mapAcceptedDomain, mapSendConnector } from './exchange-mail-routing.ts';
import { readAce, type AceRecord } from './exchange-permissions.ts';
import { mapReceiveConnector, type MappedReceiveConnector } from './exchange-receive-connector.ts';
import type { JsonObject } from './exchange-values.ts';
import { ImportReport } from './import-report.ts';
import { addressNamesOf, applyNarrowerGuardrail, standInHubs } from './narrower-guardrail.ts';
import { groupByServers, kubernetesName, type HubSelector } from './server-grouping.ts';
import { yamlStream, type CommentedObject } from './yaml-output.ts';

export interface ExchangeExports {
  receiveConnectors: JsonObject[];
  permissions?: JsonObject[];
  acceptedDomains?: JsonObject[];
  sendConnectors?: JsonObject[];
}

export interface ImportOptions {
  hubSelector: { key: string; value: string };
  namespace?: string;
}

export interface ImportResult {
  /** File name -> YAML text. */
  files: Map<string, string>;
  report: ImportReport;
  /** What a hub would still refuse (should be empty); each is also in the report. */
  renderProblems: string[];
}

const API_VERSION = 'relayoperator.io/v1alpha1' as const;

function acesByConnector(records: readonly JsonObject[], report: ImportReport): Map<string, AceRecord[]> {
  const out = new Map<string, AceRecord[]>();
  for (const record of records) {
    const identity = parseIdentity(identityText(record.Identity) ?? '');
    const ace = readAce(record);
    if (!identity || !ace) {
      report.add('unmapped', 'Get-ADPermission', 'Identity', record.Identity ?? record, 'an ACE without a connector identity (SERVER\\Name) or account: not mapped');
      continue;
    }
    const key = `${identity.server}\\${identity.name}`.toLowerCase();
    out.set(key, [...(out.get(key) ?? []), ace]);
  }
  return out;
}

function uniqueName(base: string, used: Set<string>): string {
  let name = kubernetesName(base);
  for (let i = 2; used.has(name); i++) name = `${kubernetesName(base).slice(0, 58)}-${i}`;
  used.add(name);
  return name;
}

export function importExchange(exports: ExchangeExports, options: ImportOptions): ImportResult {
  const report = new ImportReport();
  const base: HubSelector = { matchLabels: { [options.hubSelector.key]: options.hubSelector.value } };
  const metadata = (name: string, annotations?: Record<string, string>): { name: string; namespace?: string; annotations?: Record<string, string> } => ({
    name,
    ...(options.namespace ? { namespace: options.namespace } : {}),
    ...(annotations ? { annotations } : {}),
  });
  const aces = acesByConnector(exports.permissions ?? [], report);
  const mapped = exports.receiveConnectors.flatMap((record): MappedReceiveConnector[] => {
    const identity = identityOf(record);
    const m = mapReceiveConnector(record, identity ? (aces.get(`${identity.server}\\${identity.name}`.toLowerCase()) ?? []) : [], report);
    return m && !m.skipped ? [m] : [];
  });
  if (exports.permissions === undefined) {
    report.add('action', 'Get-ADPermission', '--permissions', '', 'not given: only the permission groups are imported; an anonymous relay granted with Add-ADPermission (method 1) is missing until the permissions export is given');
  }
  const grouped = groupByServers(mapped, base, report);
  const receive: ReceiveConnector[] = grouped.map((g) => ({ apiVersion: API_VERSION, kind: 'ReceiveConnector', metadata: metadata(g.name, g.annotations), spec: g.spec }));

  const domainNames = new Set<string>();
  const domains = (exports.acceptedDomains ?? []).flatMap((record) => {
    const m = mapAcceptedDomain(record, report);
    if (!m) return [];
    const object: AcceptedDomain = { apiVersion: API_VERSION, kind: 'AcceptedDomain', metadata: metadata(uniqueName(m.spec.domainName.replace(/^\*\./, 'wildcard-'), domainNames)), spec: m.spec };
    return [{ object, subjects: [m.subject] }];
  });
  const sendNames = new Set<string>();
  const sends = (exports.sendConnectors ?? []).flatMap((record) => {
    const m = mapSendConnector(record, report);
    if (!m || m.skipped) return [];
    const object: SendConnector = { apiVersion: API_VERSION, kind: 'SendConnector', metadata: metadata(uniqueName(m.name, sendNames)), spec: { hubSelector: structuredClone(base), ...m.spec } };
    return [{ object, subjects: [m.subject] }];
  });

  const servers = [...new Set(mapped.map((m) => m.identity.server))].sort();
  const hubs = standInHubs(servers, base, options.namespace ?? 'default', addressNamesOf(receive));
  const renderProblems = applyNarrowerGuardrail(receive, grouped, domains.map((d) => d.object), hubs, report);

  const written = new Set([...grouped.flatMap((g) => g.subjects), ...domains.flatMap((d) => d.subjects), ...sends.flatMap((s) => s.subjects)]);
  // Report lines about objects that were not written (skipped, unreadable) go atop the file of their kind.
  const header = (what: string, prefixes: string[]): string[] => {
    const loose = [...new Set(report.entries.map((e) => e.subject))].filter((s) => !written.has(s) && prefixes.some((p) => s.startsWith(p)));
    return [
      `${what} imported from Exchange by relay-operator import exchange.`,
      `Hub selector: ${options.hubSelector.key}=${options.hubSelector.value}. Lines above each object: what the importer did not map, changed, or wants checked.`,
      ...loose.flatMap((s) => [`from ${s} (no object written):`, ...report.linesFor([s]).map((l) => `  ${l}`)]),
    ];
  };
  const commented = (object: Record<string, unknown>, subjects: string[]): CommentedObject => ({ object, comment: subjects.flatMap((s) => [`from ${s}:`, ...report.linesFor([s]).map((l) => `  ${l}`)]) });
  const files = new Map<string, string>();
  files.set('receive-connectors.yaml', yamlStream(header('ReceiveConnectors', ['ReceiveConnector', 'Get-ADPermission']), grouped.map((g, i) => commented(receive[i] as unknown as Record<string, unknown>, g.subjects))));
  if (exports.acceptedDomains) files.set('accepted-domains.yaml', yamlStream(header('AcceptedDomains', ['AcceptedDomain']), domains.map((d) => commented(d.object as unknown as Record<string, unknown>, d.subjects))));
  if (exports.sendConnectors) files.set('send-connectors.yaml', yamlStream(header('SendConnectors', ['SendConnector']), sends.map((s) => commented(s.object as unknown as Record<string, unknown>, s.subjects))));
  return { files, report, renderProblems };
}

/*
 * operator/import/exchange-mail-routing - Get-AcceptedDomain and Get-SendConnector exports as
 * AcceptedDomain and SendConnector specs. Both are organisation-wide in Exchange, so there is
 * no server grouping: each becomes one object for every hub the hub selector picks.
 */
import type { AcceptedDomainSpec, SendConnectorSpec } from '../api/types.generated.ts';
import { reportUnmappedProperties } from './exchange-unmapped.ts';
import { isObject, kubernetesQuantity, readBoolean, readByteSize, readEnum, readList, readString, unwrap, type Json, type JsonObject } from './exchange-values.ts';
import type { ImportReport } from './import-report.ts';

export interface MappedObject<Spec> {
  name: string;
  subject: string;
  spec: Spec;
  /** Why it is not written. */
  skipped?: string;
}

const ACCEPTED_MAPPED = new Set(['name', 'identity', 'domainname', 'domaintype', 'default', 'matchsubdomains']);

export function mapAcceptedDomain(record: JsonObject, report: ImportReport): MappedObject<AcceptedDomainSpec> | undefined {
  const raw = unwrap(record.DomainName);
  let domain = readString(isObject(raw) ? (raw.Domain ?? raw.Address) : raw);
  const name = readString(record.Name) ?? domain ?? '';
  const subject = `AcceptedDomain ${name}`;
  if (!domain) {
    report.add('unmapped', subject, 'DomainName', record.DomainName, 'no domain name: not written');
    return undefined;
  }
  const includeSub = (isObject(raw) && readBoolean(raw.IncludeSubDomains) === true) || readBoolean(record.MatchSubDomains) === true;
  if (includeSub && !domain.startsWith('*.')) domain = `*.${domain}`;
  // 0, 1, 2 as the AcceptedDomainType enum numbers them (Windows PowerShell 5.1 writes numbers).
  const type = readEnum(record.DomainType, ['Authoritative', 'ExternalRelay', 'InternalRelay'] as const);
  if (!type) report.add('unmapped', subject, 'DomainType', record.DomainType, 'not readable: Authoritative assumed');
  const spec: AcceptedDomainSpec = { domainName: domain.toLowerCase(), domainType: type ?? 'Authoritative', default: readBoolean(record.Default) === true };
  reportUnmappedProperties(record, ACCEPTED_MAPPED, report, subject);
  return { name, subject, spec };
}

const SEND_MAPPED = new Set(['name', 'identity', 'addressspaces', 'smarthosts', 'smarthostsstring', 'dnsroutingenabled', 'port', 'fqdn', 'requiretls', 'ignorestarttls', 'tlsauthlevel', 'smarthostauthmechanism', 'authenticationcredential', 'maxmessagesize', 'enabled']);

function readAddressSpace(item: Json, report: ImportReport, subject: string): { domain: string; cost: number } | undefined {
  let type = 'SMTP';
  let domain: string | undefined;
  let cost = 1;
  if (isObject(item)) {
    domain = readString(item.Address) ?? readString(item.Domain);
    type = readString(item.Type) ?? type;
    cost = typeof item.Cost === 'number' ? item.Cost : cost;
  } else {
    // "SMTP:*.contoso.com;1", "*.contoso.com;1" or "contoso.com"
    const match = /^(?:([A-Za-z0-9]+):)?([^;]+?)(?:;(\d+))?$/.exec(readString(item)?.trim() ?? '');
    if (match) [type, domain, cost] = [match[1] ?? 'SMTP', match[2], Number(match[3] ?? 1)];
  }
  if (!domain || type.toUpperCase() !== 'SMTP') {
    report.add('unmapped', subject, 'AddressSpaces', item, 'not an SMTP address space (X.400 and other types have no counterpart)');
    return undefined;
  }
  return { domain: domain.toLowerCase(), cost };
}

function readSmartHost(item: Json): string | undefined {
  const host = readString(isObject(item) ? (item.Address ?? item.Domain ?? item.HostnameString) : item);
  return host?.trim().replace(/^\[(.*)\]$/, '$1') || undefined;
}

export function mapSendConnector(record: JsonObject, report: ImportReport): MappedObject<SendConnectorSpec> | undefined {
  const name = readString(record.Name) ?? readString(record.Identity);
  if (!name) return undefined;
  const subject = `SendConnector ${name}`;
  const addressSpaces = readList(record.AddressSpaces).flatMap((item) => readAddressSpace(item, report, subject) ?? []);
  const spec: SendConnectorSpec = { addressSpaces };
  const dnsRouting = readBoolean(record.DNSRoutingEnabled);
  const smartHosts = readList(record.SmartHosts).flatMap((item) => readSmartHost(item) ?? []);
  if (dnsRouting !== true && smartHosts.length > 0) spec.smartHosts = smartHosts;
  if (typeof unwrap(record.Port) === 'number') spec.port = unwrap(record.Port) as number;
  const fqdn = readString(record.Fqdn);
  if (fqdn) spec.fqdn = fqdn;
  const requireTLS = readBoolean(record.RequireTLS) === true;
  const ignoreStartTls = readBoolean(record.IgnoreSTARTTLS) === true;
  const level = readEnum(record.TlsAuthLevel, ['EncryptionOnly', 'CertificateValidation', 'DomainValidation'] as const);
  spec.tls = { mode: ignoreStartTls ? 'None' : requireTLS ? 'Required' : 'Opportunistic', ...(requireTLS ? { verify: level !== 'EncryptionOnly' } : {}) };
  const auth = readEnum(record.SmartHostAuthMechanism, ['None', 'BasicAuth', 'BasicAuthRequireTLS', 'ExchangeServer', 'ExternalAuthoritative'] as const);
  if (auth === 'BasicAuth' || auth === 'BasicAuthRequireTLS') {
    const secretName = `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'send'}-smarthost`;
    spec.authentication = { secretName };
    report.add('action', subject, 'SmartHostAuthMechanism', auth, `create Secret ${secretName} with keys username and password: Exchange does not export the credential`);
  } else if (auth && auth !== 'None') report.add('unmapped', subject, 'SmartHostAuthMechanism', auth, 'Exchange-to-Exchange authentication has no counterpart; the smart host must accept the hub by address or by a username and password');
  const size = readByteSize(record.MaxMessageSize);
  if (typeof size === 'number') spec.maxMessageSize = kubernetesQuantity(size);
  else if (record.MaxMessageSize !== undefined) report.add('unmapped', subject, 'MaxMessageSize', record.MaxMessageSize, 'unlimited (or unreadable): the default 36Mi applies');
  const mapped: MappedObject<SendConnectorSpec> = { name, subject, spec };
  if (addressSpaces.length === 0) {
    mapped.skipped = 'no SMTP address space';
    report.add('action', subject, 'AddressSpaces', record.AddressSpaces, 'no SMTP address space: not written');
  } else if (readBoolean(record.Enabled) === false) {
    mapped.skipped = 'disabled';
    report.add('action', subject, 'Enabled', false, 'disabled in Exchange: not written, since a SendConnector has no enabled field and a written one would route mail; write it by hand when it is meant to carry mail');
  }
  reportUnmappedProperties(record, SEND_MAPPED, report, subject);
  return mapped;
}

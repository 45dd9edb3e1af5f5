/*
 * operator/import/exchange-unmapped - why each Exchange property the importer does not map
 * has no counterpart, so the report can say it instead of dropping the property silently.
 *
 * Active Directory bookkeeping (identity, versions, timestamps) is listed once per object;
 * every other property gets its own line with its value.
 */
import type { Json, JsonObject } from './exchange-values.ts';
import { shortValue, type ImportReport } from './import-report.ts';

const BOOKKEEPING = new Set([
  'adminDisplayName', 'DistinguishedName', 'Guid', 'ObjectCategory', 'ObjectClass', 'WhenChanged', 'WhenCreated', 'WhenChangedUTC',
  'WhenCreatedUTC', 'OrganizationId', 'OriginatingServer', 'IsValid', 'ExchangeVersion', 'ObjectState', 'IsReadOnly', 'Id', 'PSComputerName',
  'PSShowComputerName', 'RunspaceId', 'ExchangeObjectId', 'ObjectId', 'ValidationErrors', 'IsToolsCompatible', 'DomainController', 'PSSourceJobInstanceId',
].map((p) => p.toLowerCase()));

const REASONS: ReadonlyArray<[RegExp, string]> = [
  [/^(pipelining|chunking|binarymime|eightbitmime|deliverystatusnotification|enhancedstatuscodes)enabled$/, 'the relay always advertises this SMTP extension (smtp-server); it cannot be turned off per connector'],
  [/^sizeenabled$/, 'the relay always advertises SIZE with the limit'],
  [/^(longaddressesenabled|orarenabled|smtputf8enabled)$/, 'an Exchange-specific SMTP extension the relay does not offer'],
  [/^(tlscertificatename|tlsdomaincapabilities)$/, 'certificates are Kubernetes TLS Secrets: set tls.secretName (the hub tls.secretName applies otherwise)'],
  [/^domainsecureenabled$/, 'domain-secure partners need a client CA: add MutualTLS to authMechanisms and tls.clientCASecretName by hand'],
  [/^(enableauthgssapi|extendedprotectionpolicy|suppressxanonymoustls)$/, 'belongs to Integrated or Exchange server authentication, which the relay does not offer'],
  [/^authtarpitinterval$/, 'the relay applies tarpitInterval to every failure and locks out repeated AUTH failures hub-wide (RelayHub spec.users.lockout)'],
  [/^reject(reservedtoplevel|reservedsecondlevel|singlelabel)recipientdomains$/, 'the relay has no such RCPT filter; recipients outside the accepted domains still need the relay right'],
  [/^(advertiseclientsettings|servicediscoveryfqdn)$/, 'Outlook on the web display setting; no effect on SMTP'],
  [/^(defaultdomain)$/, 'the default accepted domain is AcceptedDomain spec.default'],
  [/^(liveCredentialEnabled|proxyenabled|templateinstance|maxacknowledgementdelay)$/i, 'legacy Exchange setting with no effect on a relay'],
  [/^(addressbookenabled|pendingremoval|pendingcompletion|authenticationtype|liveidinstancetype|outboundonly|enablenego2authentication)$/, 'recipient lookup and Exchange Online federation settings; the relay does not look recipients up'],
  [/^(protocollogginglevel)$/, 'a send-side protocol log: the relay records every delivery attempt in its message tracking log'],
  [/^(connectioninactivitytimeout|forcehelo|usexternaldnsserversenabled|useexternaldnsserversenabled|errorpolicies|smtpmaxmessagesperconnection|linkedreceiveconnector|tlsdomain|tlscertificatename|cloudservicesmailenabled|frontendproxyenabled)$/, 'a Send connector setting with no SendConnector field: the relay uses its own delivery defaults (cluster DNS, EHLO, per-host timeouts)'],
  [/^(connectorsource|connectortype|iscoexistenceconnector|isscopedconnector|sourcetransportservers|homemta|homemtaserverid|ismsexchangeforeignconnector|sourceiPaddress|sourceroutinggroup)$/i, 'Exchange routing topology; hubs are chosen by the hub selector'],
];

/** unmappedReason - why one Exchange property has no counterpart. */
export function unmappedReason(property: string, value: Json | undefined): string {
  const key = property.toLowerCase();
  if (value === null || (Array.isArray(value) && value.length === 0)) return 'empty in the export';
  return REASONS.find(([pattern]) => pattern.test(key))?.[1] ?? 'not known to the importer: check whether it matters for this connector';
}

/** reportUnmappedProperties - every property of `record` not in `mapped`, with its reason. */
export function reportUnmappedProperties(record: JsonObject, mapped: ReadonlySet<string>, report: ImportReport, subject: string): void {
  const bookkeeping: string[] = [];
  // One line per reason, so forty always-on SMTP extensions do not drown the lines that matter.
  const byReason = new Map<string, string[]>();
  for (const [property, value] of Object.entries(record)) {
    const key = property.toLowerCase();
    if (mapped.has(key)) continue;
    if (BOOKKEEPING.has(key)) {
      bookkeeping.push(property);
      continue;
    }
    const reason = unmappedReason(property, value);
    const shown = value === null || (Array.isArray(value) && value.length === 0) ? property : `${property}=${shortValue(value)}`;
    byReason.set(reason, [...(byReason.get(reason) ?? []), shown]);
  }
  for (const [reason, properties] of byReason) report.add('unmapped', subject, properties.join(', '), '', reason);
  if (bookkeeping.length > 0) report.add('unmapped', subject, bookkeeping.join(', '), '', 'Active Directory bookkeeping (identity, version, timestamps); no meaning outside AD');
}

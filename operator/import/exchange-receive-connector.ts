/*
 * operator/import/exchange-receive-connector - one exported Exchange receive connector (one
 * server's object) as a ReceiveConnector spec, with every property either mapped or reported.
 *
 * Bindings are kept apart as read (server grouping decides how literal IPs are written); the
 * rest becomes the spec. PermissionGroups and AuthMechanism are always written explicitly, so
 * the usage presets (which differ from Exchange's in places) never fill them in.
 */
import type { ReceiveConnectorSpec } from '../api/types.generated.ts';
import { openRelayProblem, protocolLoggingProblem } from '../render/security.ts';
import { readBinding, readRemoteIPRanges, type Binding } from './exchange-addresses.ts';
import { identityOf, type ConnectorIdentity } from './exchange-export.ts';
import { GROUP_MAP, GROUP_UNMAPPED_REASON, mapPermissions, PERMISSION_GROUP_BITS, type AceRecord, type PermissionGroup } from './exchange-permissions.ts';
import { reportUnmappedProperties } from './exchange-unmapped.ts';
import { kubernetesDuration, kubernetesQuantity, readBoolean, readByteSize, readEnum, readFlags, readList, readString, readTimeSpanSeconds, readUnlimitedInteger, type Json, type JsonObject } from './exchange-values.ts';
import type { ImportReport } from './import-report.ts';

type AuthMechanism = NonNullable<ReceiveConnectorSpec['authMechanisms']>[number];
type Limits = NonNullable<ReceiveConnectorSpec['limits']>;

/** Exchange AuthMechanism bits, in the documented order (None = 0). */
const AUTH_BITS = ['Tls', 'Integrated', 'BasicAuth', 'BasicAuthRequireTLS', 'ExchangeServer', 'ExternalAuthoritative'] as const;
const AUTH_MAP: Readonly<Record<string, AuthMechanism>> = {
  none: 'None', tls: 'TLS', basicauth: 'BasicAuth', basicauthrequiretls: 'BasicAuthRequireTLS', externalauthoritative: 'ExternalAuthoritative',
};
const AUTH_UNMAPPED_REASON: Readonly<Record<string, string>> = {
  integrated: 'NTLM/Kerberos needs a Windows domain; clients authenticate with BasicAuth (AUTH PLAIN/LOGIN) against the hub users Secret',
  exchangeserver: 'Exchange server-to-server authentication; hubs trust servers by MutualTLS or ExternalAuthoritative instead',
};
const USAGES = ['Custom', 'Internet', 'Internal', 'Client', 'Partner'] as const;

export interface MappedReceiveConnector {
  identity: ConnectorIdentity;
  /** `ReceiveConnector EX1\Relay`, the report subject. */
  subject: string;
  bindings: Binding[];
  spec: ReceiveConnectorSpec;
  /** The administrator's Comment, kept as an annotation. */
  comment?: string;
  /** Why the connector is not written at all (Exchange-internal plumbing). */
  skipped?: string;
}

/** Properties this module maps (lower case); everything else goes to the report. */
export const RECEIVE_CONNECTOR_MAPPED_PROPERTIES: ReadonlySet<string> = new Set([
  'identity', 'name', 'server', 'bindings', 'remoteipranges', 'enabled', 'usage', 'fqdn', 'banner', 'permissiongroups', 'authmechanism',
  'maxmessagesize', 'maxrecipientspermessage', 'maxinboundconnection', 'maxinboundconnectionpersource', 'maxinboundconnectionpercentagepersource',
  'messageratelimit', 'messageratesource', 'connectiontimeout', 'connectioninactivitytimeout', 'tarpitinterval', 'maxhopcount', 'maxlocalhopcount',
  'maxheadersize', 'maxprotocolerrors', 'maxlogonfailures', 'requiretls', 'requireehlodomain', 'protocollogginglevel', 'barelinefeedrejectionenabled',
  'transportrole', 'comment',
]);

interface Reader {
  record: JsonObject;
  report: ImportReport;
  subject: string;
}

function get(r: Reader, property: string): Json | undefined {
  const key = Object.keys(r.record).find((k) => k.toLowerCase() === property.toLowerCase());
  return key === undefined ? undefined : r.record[key];
}

function unreadable(r: Reader, property: string, value: Json | undefined): undefined {
  if (value !== undefined && value !== null) r.report.add('unmapped', r.subject, property, value, 'value not readable in any known ConvertTo-Json form; set it by hand');
  return undefined;
}

function readLimits(r: Reader): Limits {
  const limits: Limits = {};
  const bytes = (property: string, write: (v: number | string) => void): void => {
    const raw = get(r, property);
    const size = readByteSize(raw);
    if (size === undefined) return void unreadable(r, property, raw);
    write(size === 'unlimited' ? 0 : kubernetesQuantity(size));
  };
  const count = (property: string, write: (v: number) => void, unlimitedAs?: number): void => {
    const raw = get(r, property);
    const value = readUnlimitedInteger(raw);
    if (value === undefined) return void unreadable(r, property, raw);
    if (value !== 'unlimited') return write(value);
    if (unlimitedAs !== undefined) return write(unlimitedAs);
    r.report.add('unmapped', r.subject, property, raw, 'unlimited has no counterpart here; the relay default applies');
  };
  const duration = (property: string, write: (v: string) => void): void => {
    const raw = get(r, property);
    const seconds = readTimeSpanSeconds(raw);
    if (seconds === undefined) return void unreadable(r, property, raw);
    write(kubernetesDuration(seconds));
  };
  bytes('MaxMessageSize', (v) => (limits.maxMessageSize = v));
  bytes('MaxHeaderSize', (v) => (limits.maxHeaderSize = v));
  count('MaxRecipientsPerMessage', (v) => (limits.maxRecipientsPerMessage = v));
  count('MaxInboundConnection', (v) => (limits.maxInboundConnections = v), 0);
  count('MaxInboundConnectionPerSource', (v) => (limits.maxInboundConnectionsPerSource = v), 0);
  count('MaxInboundConnectionPercentagePerSource', (v) => (limits.maxInboundConnectionPercentagePerSource = v));
  count('MessageRateLimit', (v) => (limits.messageRateLimit = v), 0);
  count('MaxHopCount', (v) => (limits.maxHopCount = v));
  count('MaxLocalHopCount', (v) => (limits.maxLocalHopCount = v));
  count('MaxProtocolErrors', (v) => (limits.maxProtocolErrors = v));
  count('MaxLogonFailures', (v) => (limits.maxLogonFailures = v));
  duration('ConnectionTimeout', (v) => (limits.connectionTimeout = v));
  duration('ConnectionInactivityTimeout', (v) => (limits.connectionInactivityTimeout = v));
  duration('TarpitInterval', (v) => (limits.tarpitInterval = v));
  const sourceRaw = get(r, 'MessageRateSource');
  const source = readEnum(sourceRaw, ['None', 'IPAddress', 'User', 'All'] as const);
  if (source === 'None') {
    limits.messageRateLimit = 0;
    r.report.add('changed', r.subject, 'MessageRateSource', sourceRaw, 'None turns message rate limiting off: written as messageRateLimit 0 (unlimited)');
  } else if (source) limits.messageRateSource = source;
  else unreadable(r, 'MessageRateSource', sourceRaw);
  return limits;
}

/** A [Flags] property mapped name by name; names without a counterpart are reported. */
interface FlagMapping<T> {
  property: string;
  bits: readonly string[];
  map: Readonly<Record<string, T>>;
  unmappedReasons: Readonly<Record<string, string>>;
  unknown: string;
}

function readMappedFlags<T>(r: Reader, m: FlagMapping<T>): T[] | undefined {
  const raw = get(r, m.property);
  const names = readFlags(raw, m.bits);
  if (!names) return unreadable(r, m.property, raw);
  const out: T[] = [];
  for (const name of names) {
    const key = name.toLowerCase();
    const mapped = m.map[key];
    if (mapped !== undefined) out.push(mapped);
    // PermissionGroups "None" is no group at all: nothing to map, nothing lost.
    else if (key !== 'none') r.report.add('unmapped', r.subject, m.property, name, m.unmappedReasons[key] ?? m.unknown);
  }
  return [...new Set(out)];
}

function readGroups(r: Reader): PermissionGroup[] {
  return readMappedFlags(r, { property: 'PermissionGroups', bits: PERMISSION_GROUP_BITS, map: GROUP_MAP, unmappedReasons: GROUP_UNMAPPED_REASON, unknown: 'not a permission group the relay knows' }) ?? [];
}

function readAuth(r: Reader): AuthMechanism[] {
  const mechanisms = readMappedFlags(r, { property: 'AuthMechanism', bits: AUTH_BITS, map: AUTH_MAP, unmappedReasons: AUTH_UNMAPPED_REASON, unknown: 'not an authentication mechanism the relay knows' });
  if (!mechanisms) return [];
  if (mechanisms.length > 1) return mechanisms.filter((m) => m !== 'None');
  if (mechanisms.length === 0) {
    r.report.add('changed', r.subject, 'AuthMechanism', get(r, 'AuthMechanism'), 'nothing left that the relay offers: written as None (no STARTTLS, no AUTH)');
    return ['None'];
  }
  return mechanisms;
}

/** internalPlumbing - why a connector only carries Exchange's own traffic, if it does. */
function internalPlumbing(r: Reader, bindings: Binding[]): string | undefined {
  // TransportRole by name only: its enum numbers are not documented.
  const role = readString(get(r, 'TransportRole'));
  const onPorts = (ports: number[]): boolean => bindings.length > 0 && bindings.every((b) => ports.includes(b.port));
  if (onPorts([717])) return 'Exchange 2013+ Outbound Proxy Frontend (port 717): Exchange servers hand outbound mail to the front end through it; no client connects';
  if (onPorts([2525]) || (onPorts([465]) && (role === 'HubTransport' || /^Client Proxy/i.test(r.subject.slice(r.subject.indexOf('\\') + 1))))) {
    return 'Exchange 2013+ Transport service connector (port 2525/465): only the Frontend Transport service of the same server proxies to it; clients reach the relay through the Frontend connectors';
  }
  return undefined;
}

export function mapReceiveConnector(record: JsonObject, aces: readonly AceRecord[], report: ImportReport): MappedReceiveConnector | undefined {
  const identity = identityOf(record);
  if (!identity) {
    report.add('unmapped', 'ReceiveConnector (no identity)', 'Identity', record.Identity ?? record.Name, 'neither Identity (SERVER\\Name) nor Name and Server: the connector cannot be placed and is not written');
    return undefined;
  }
  const subject = `ReceiveConnector ${identity.server}\\${identity.name}`;
  const r: Reader = { record, report, subject };
  const bindings: Binding[] = [];
  for (const item of readList(get(r, 'Bindings'))) {
    const binding = readBinding(item);
    if (binding) bindings.push(binding);
    else report.add('unmapped', subject, 'Bindings', item, 'not IP:port');
  }
  const mapped: MappedReceiveConnector = { identity, subject, bindings, spec: {} };
  const plumbing = internalPlumbing(r, bindings);
  if (plumbing) {
    report.add('unmapped', subject, 'TransportRole', get(r, 'TransportRole') ?? bindings.map((b) => b.port).join(','), `not written: ${plumbing}`);
    return { ...mapped, skipped: plumbing };
  }
  const spec = mapped.spec;
  const comment = readString(get(r, 'Comment'))?.trim();
  if (comment) mapped.comment = comment;
  const enabled = readBoolean(get(r, 'Enabled'));
  spec.enabled = enabled ?? true;
  if (enabled === false) report.add('action', subject, 'Enabled', false, 'disabled in Exchange: written with enabled: false, so no hub loads it; enable it only once its clients are meant to move');
  const usage = readEnum(get(r, 'Usage'), USAGES);
  spec.usage = usage ?? 'Custom';
  const ranges = readRemoteIPRanges(readList(get(r, 'RemoteIPRanges')));
  spec.remoteIPRanges = ranges.entries;
  for (const w of ranges.rewritten) report.add('changed', subject, 'RemoteIPRanges', w.from, `written as ${w.to}: ${w.why}`);
  for (const x of ranges.rejected) report.add('unmapped', subject, 'RemoteIPRanges', x.value, `entry left out: ${x.why}`);
  if (ranges.entries.length > 1250) report.add('changed', subject, 'RemoteIPRanges', `${ranges.entries.length} entries`, 'past Exchange\'s practical limit of about 1,250 entries per connector; the relay has no such limit and keeps them in one connector');
  const fqdn = readString(get(r, 'Fqdn'));
  if (fqdn && /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$/.test(fqdn)) spec.fqdn = fqdn;
  else if (fqdn) report.add('unmapped', subject, 'Fqdn', fqdn, 'not a host name; the hub fqdn applies');
  const banner = readString(get(r, 'Banner'));
  if (banner && banner.startsWith('220 ')) spec.banner = banner;
  else if (banner) report.add('unmapped', subject, 'Banner', banner, 'does not start with "220 "; the default banner applies');
  spec.permissionGroups = readGroups(r);
  spec.authMechanisms = readAuth(r);
  const permissions = mapPermissions(aces, spec.permissionGroups, report, subject);
  // Exchange gives ExternalAuthoritative sessions the "Externally Secured Servers" rights: the
  // TrustedServers rights without Accept-Headers-Organization. The relay's TrustedServers
  // session holds every right, so the difference is written as a denial.
  if (spec.authMechanisms.includes('ExternalAuthoritative') && spec.permissionGroups.includes('TrustedServers')) {
    const trusted = permissions.find((p) => p.principal === 'TrustedServers');
    if (!trusted?.allow?.includes('AcceptOrganizationHeaders')) {
      if (trusted) trusted.deny = [...new Set([...(trusted.deny ?? []), 'AcceptOrganizationHeaders' as const])].sort();
      else permissions.push({ principal: 'TrustedServers', deny: ['AcceptOrganizationHeaders'] });
      report.add('changed', subject, 'AuthMechanism', 'ExternalAuthoritative', 'Externally Secured Servers do not get Accept-Headers-Organization in Exchange: written as a TrustedServers denial of AcceptOrganizationHeaders');
    }
  }
  if (permissions.length > 0) spec.permissions = permissions;
  spec.limits = readLimits(r);
  const requireTLS = readBoolean(get(r, 'RequireTLS'));
  if (requireTLS === true) spec.tls = { requireTLS: true };
  const requireEHLODomain = readBoolean(get(r, 'RequireEHLODomain'));
  if (requireEHLODomain !== undefined) spec.requireEHLODomain = requireEHLODomain;
  const bareLf = readBoolean(get(r, 'BareLinefeedRejectionEnabled'));
  spec.bareLineFeeds = bareLf === true ? 'Reject' : 'Normalize';
  if (bareLf !== true) report.add('changed', subject, 'BareLinefeedRejectionEnabled', bareLf ?? '(not exported)', 'Exchange passed bare LF through; the relay rewrites bare LF/CR to CRLF (SMTP smuggling defence, bareLineFeeds: Normalize)');
  const loggingRaw = get(r, 'ProtocolLoggingLevel');
  const logging = readEnum(loggingRaw, ['None', 'Verbose'] as const);
  spec.protocolLogging = logging ?? 'Verbose';
  if (logging === 'None' && protocolLoggingProblem(spec)) {
    spec.protocolLogging = 'Verbose';
    report.add('changed', subject, 'ProtocolLoggingLevel', loggingRaw, 'the connector grants the relay right, and the contract requires a protocol log then (relayNeedsProtocolLogging): written as Verbose');
  }
  const openRelay = openRelayProblem(spec);
  if (openRelay) {
    spec.allowOpenRelay = true;
    report.add('action', subject, 'RemoteIPRanges', `${ranges.entries.length} entries`, `OPEN RELAY, as it was in Exchange: ${openRelay.message.replace(/; narrow remoteIPRanges.*$/, '')}. Written with allowOpenRelay: true so it is not silent; narrow remoteIPRanges and delete allowOpenRelay unless that is really meant`);
  }
  reportUnmappedProperties(record, RECEIVE_CONNECTOR_MAPPED_PROPERTIES, report, subject);
  return mapped;
}

/*
 * operator/validate/cel-rules - the CRDs' x-kubernetes-validations (CEL), mirrored in TypeScript.
 *
 * Each CEL rule in crds/ ends its message with `(rule NAME)`; CEL_RULE_NAMES lists the names
 * implemented here and a test fails when the CRDs and this file disagree. The checks read the
 * object after the defaults the API server applies (usage: Custom), so verdicts match.
 */
import type { Kind } from '../api/crds.ts';
import { grantsRelayRight } from '../render/security.ts';
import { addressFamily, isCIDR, isIP } from '../../relay/common/addresses.ts';
import type { SchemaProblem } from './schema-check.ts';
import { SECRET_NAME_PATTERN } from '../../relay/config/secret-names.ts';

type Json = Record<string, unknown>;

const asObject = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const asStrings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

const BINDING_SYNTAX = /^(\[[0-9A-Fa-f:.]+\]|[0-9]{1,3}(\.[0-9]{1,3}){3}|[a-z0-9]([-a-z0-9]*[a-z0-9])?):[0-9]{1,5}$/;
const PRINCIPALS = ['Anonymous', 'Authenticated', 'TrustedServers', 'Partners'];

function problem(field: string, rule: string, message: string): SchemaProblem {
  return { field, rule, message: `${message} (rule ${rule})` };
}

const SECRET_NAME = new RegExp(SECRET_NAME_PATTERN);

/**
 * secretNameProblems - each secretName field that is not empty must be a Kubernetes object
 * name (DNS subdomain): standalone mode makes it a directory under the spool, so "../x" or
 * "/etc" would be a path out of it (issue 17 item 12). Same rule as the CRDs' CEL.
 */
function secretNameProblems(spec: Json, fields: string[]): SchemaProblem[] {
  return fields.flatMap((path) => {
    const parts = path.split('.');
    const value = asObject(spec[parts[0] ?? ''])[parts[1] ?? ''];
    if (typeof value !== 'string' || value === '' || SECRET_NAME.test(value)) return [];
    return [problem(`spec.${path}`, 'secretName', "a Secret name must be a Kubernetes object name: a DNS subdomain of lowercase letters, digits, '-' and '.', never a path")];
  });
}

function bindingProblems(binding: string, field: string): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  if (!BINDING_SYNTAX.test(binding)) out.push(problem(field, 'bindingSyntax', 'binding must be IP:port, [IPv6]:port, 0.0.0.0:port or NAME:port'));
  const port = /:([0-9]{1,5})$/.exec(binding);
  if (port && (Number(port[1]) < 1 || Number(port[1]) > 65535)) out.push(problem(field, 'bindingPort', 'binding port must be 1-65535'));
  if (/^[0-9]{1,3}(\.[0-9]{1,3}){3}:/.test(binding) && !isIP(binding.slice(0, binding.lastIndexOf(':')))) {
    out.push(problem(field, 'bindingAddress', 'binding address is not a valid IPv4 address'));
  }
  if (binding.startsWith('[') && binding.includes(']')) {
    const inner = binding.slice(1, binding.indexOf(']'));
    if (addressFamily(inner) !== 6) out.push(problem(field, 'bindingAddress', 'binding address in brackets must be a valid IPv6 address'));
  }
  return out;
}

function rangeProblems(entry: string, field: string): SchemaProblem[] {
  const ok = entry.includes('/') ? isCIDR(entry) : entry.includes('-') || isIP(entry);
  return ok ? [] : [problem(field, 'remoteIPRangeSyntax', 'remoteIPRanges entry must be an IP address, a range a-b within one family, or a CIDR with a valid prefix')];
}

function receiveConnectorProblems(spec: Json): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  const usage = typeof spec.usage === 'string' ? spec.usage : 'Custom';
  const hubs = asStrings(spec.hubs);
  const bindings = asStrings(spec.bindings);
  const groups = asStrings(spec.permissionGroups);
  const hasMechanisms = Array.isArray(spec.authMechanisms);
  const mechanisms = asStrings(spec.authMechanisms);
  const tls = asObject(spec.tls);
  if (hubs.length === 0 && spec.hubSelector === undefined) {
    out.push(problem('spec', 'hubsOrSelector', 'spec.hubs or spec.hubSelector must select at least one hub'));
  }
  if (usage !== 'Client' && bindings.length === 0) {
    out.push(problem('spec', 'bindingsRequired', 'spec.bindings must list at least one binding unless usage is Client'));
  }
  if (mechanisms.includes('ExternalAuthoritative') && !(groups.length > 0 ? groups.includes('TrustedServers') : usage === 'Internal')) {
    out.push(problem('spec', 'externalAuthoritativeNeedsTrustedServers', 'authMechanisms ExternalAuthoritative requires the TrustedServers permission group'));
  }
  if (tls.requireTLS === true && hasMechanisms && mechanisms.length > 0 && !mechanisms.includes('TLS')) {
    out.push(problem('spec', 'requireTLSNeedsTLS', 'tls.requireTLS requires TLS in authMechanisms'));
  }
  if (mechanisms.includes('MutualTLS') && !(typeof tls.clientCASecretName === 'string' && tls.clientCASecretName.length > 0)) {
    out.push(problem('spec', 'mutualTLSNeedsClientCA', 'authMechanisms MutualTLS requires tls.clientCASecretName'));
  }
  bindings.forEach((binding, i) => out.push(...bindingProblems(binding, `spec.bindings[${i}]`)));
  asStrings(spec.remoteIPRanges).forEach((entry, i) => out.push(...rangeProblems(entry, `spec.remoteIPRanges[${i}]`)));
  if (typeof spec.banner === 'string' && !spec.banner.startsWith('220 ')) {
    out.push(problem('spec.banner', 'bannerStarts220', 'banner must start with "220 "'));
  }
  if (hasMechanisms) {
    if (mechanisms.includes('None') && mechanisms.length !== 1) out.push(problem('spec.authMechanisms', 'authNoneAlone', 'authMechanisms None must stand alone'));
    if (mechanisms.includes('BasicAuthRequireTLS') && !(mechanisms.includes('BasicAuth') && mechanisms.includes('TLS'))) {
      out.push(problem('spec.authMechanisms', 'basicAuthRequireTLSNeedsBasicAuthAndTLS', 'authMechanisms BasicAuthRequireTLS requires BasicAuth and TLS'));
    }
    if (mechanisms.includes('ExternalAuthoritative') && !mechanisms.every((m) => m === 'ExternalAuthoritative' || m === 'TLS')) {
      out.push(problem('spec.authMechanisms', 'externalAuthoritativeOnlyWithTLS', 'authMechanisms ExternalAuthoritative may be combined only with TLS'));
    }
    if (mechanisms.includes('MutualTLS') && !mechanisms.includes('TLS')) out.push(problem('spec.authMechanisms', 'mutualTLSNeedsTLS', 'authMechanisms MutualTLS requires TLS'));
  }
  const permissions = (Array.isArray(spec.permissions) ? spec.permissions : []).map(asObject);
  // protocolLogging defaults to Verbose on the API server, so only an explicit None is refused
  if (spec.protocolLogging === 'None' && grantsRelayRight({ usage, permissionGroups: groups, permissions: permissions.map((p) => ({ allow: asStrings(p.allow) })) })) {
    out.push(problem('spec', 'relayNeedsProtocolLogging', 'protocolLogging None is not allowed on a connector that grants the relay right AcceptAnyRecipient (groups AuthenticatedUsers or TrustedServers, usage Client or Internal, or a permissions entry allowing it)'));
  }
  out.push(...secretNameProblems(spec, ['tls.secretName', 'tls.clientCASecretName']));
  (Array.isArray(spec.permissions) ? spec.permissions : []).forEach((entry, i) => {
    const principal = asObject(entry).principal;
    if (typeof principal === 'string' && !PRINCIPALS.includes(principal) && !/^user:[A-Za-z0-9._@+-]{1,255}$/.test(principal)) {
      out.push(problem(`spec.permissions[${i}].principal`, 'principal', 'principal must be Anonymous, Authenticated, TrustedServers, Partners or user:NAME'));
    }
  });
  return out;
}

function relayHubProblems(spec: Json): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  const addresses = Array.isArray(spec.addresses) ? spec.addresses.map(asObject) : [];
  const ips = addresses.map((a) => a.ip).filter((ip): ip is string => typeof ip === 'string');
  if (ips.some((ip) => ips.filter((other) => other === ip).length !== 1)) {
    out.push(problem('spec.addresses', 'addressIPUnique', 'addresses: each ip may be listed once'));
  }
  addresses.forEach((address, i) => {
    if (typeof address.ip === 'string' && !isIP(address.ip)) out.push(problem(`spec.addresses[${i}].ip`, 'addressIP', 'addresses[].ip must be a valid IP address'));
  });
  out.push(...secretNameProblems(spec, ['tls.secretName', 'users.secretName']));
  asStrings(asObject(spec.proxyProtocol).trustedProxies).forEach((entry, i) => {
    if (!(entry.includes('/') ? isCIDR(entry) : isIP(entry))) {
      out.push(problem(`spec.proxyProtocol.trustedProxies[${i}]`, 'trustedProxy', 'trustedProxies entry must be an IP address or CIDR'));
    }
  });
  return out;
}

function sendConnectorProblems(spec: Json): SchemaProblem[] {
  const out = secretNameProblems(spec, ['authentication.secretName']);
  const drop = typeof spec.dropDirectory === 'string' && spec.dropDirectory.length > 0;
  if (drop && asStrings(spec.smartHosts).length > 0) {
    out.push(problem('spec', 'dropDirectoryOrSmartHosts', 'dropDirectory and smartHosts exclude each other'));
  }
  return out;
}

function acceptedDomainProblems(spec: Json): SchemaProblem[] {
  if (typeof spec.domainName !== 'string') return [];
  const name = spec.domainName.startsWith('*.') ? spec.domainName.slice(2) : spec.domainName;
  return name.includes('.')
    ? []
    : [problem('spec.domainName', 'domainTopLevel', 'domainName must be below a top-level domain: a single label or *.TLD would accept mail for, and relay to, a whole top-level domain')];
}

/** The rule names implemented here; must equal the `(rule NAME)` names in crds/. */
export const CEL_RULE_NAMES: ReadonlySet<string> = new Set([
  'hubsOrSelector', 'bindingsRequired', 'externalAuthoritativeNeedsTrustedServers', 'requireTLSNeedsTLS', 'mutualTLSNeedsClientCA',
  'bindingSyntax', 'bindingPort', 'bindingAddress', 'remoteIPRangeSyntax', 'bannerStarts220',
  'authNoneAlone', 'basicAuthRequireTLSNeedsBasicAuthAndTLS', 'externalAuthoritativeOnlyWithTLS', 'mutualTLSNeedsTLS', 'principal',
  'addressIPUnique', 'addressIP', 'trustedProxy', 'dropDirectoryOrSmartHosts', 'relayNeedsProtocolLogging', 'domainTopLevel', 'secretName',
]);

/** checkCelRules - the CEL verdicts of the API server for one object whose schema is valid. */
export function checkCelRules(kind: Kind, object: Json): SchemaProblem[] {
  const spec = asObject(object.spec);
  switch (kind) {
    case 'ReceiveConnector':
      return receiveConnectorProblems(spec);
    case 'RelayHub':
      return relayHubProblems(spec);
    case 'SendConnector':
      return sendConnectorProblems(spec);
    case 'AcceptedDomain':
      return acceptedDomainProblems(spec);
  }
}

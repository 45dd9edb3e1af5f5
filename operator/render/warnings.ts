/*
 * operator/render/warnings - the safety rails that warn instead of refusing (issue 12 item 5),
 * as pure functions of a ReceiveConnector and the RelayHubs it selects, shared by
 * `relay-operator validate` (warning lines, exit 0), `explain`, the standalone hub (warn log on
 * start and reload) and the operator (the connector's Warning condition and a Warning event).
 *
 * A warning is a spec that loads and does what it says, only not what its author most likely
 * meant; nothing here makes the hub accept more than the spec says, which is why these are not
 * refusals (the open-relay rails in security.ts are: they would accept too much).
 *
 * - rightsNeverUsed: a permissions entry allows rights to a principal that no session on this
 *   connector can ever be (Partners without the Partners group and MutualTLS, Authenticated
 *   without BasicAuth, anyone but TrustedServers under ExternalAuthoritative, ...): the rights
 *   never apply, and the clients they were meant for get less than the author thinks.
 * - tlsWithoutCertificate: the connector asks for TLS (authMechanisms lists TLS, or the usage
 *   default brings MutualTLS or BasicAuthRequireTLS) while neither it nor a hub it runs on
 *   names a certificate: STARTTLS is not offered there, mail arrives in clear text, MutualTLS
 *   never verifies anyone and BasicAuthRequireTLS never lets anyone AUTH. The usage default
 *   TLS alone (Custom, Internet, Partner) is not warned about: it means "TLS when there is a
 *   certificate". requireTLS without a certificate is a refusal (requireTLSNeedsCertificate).
 */
import type { ReceiveConnector, RelayHub } from '../api/types.generated.ts';
import { effectiveConnectorSpec } from './receive-connectors.ts';

export const WarningRule = {
  rightsNeverUsed: 'rightsNeverUsed',
  tlsWithoutCertificate: 'tlsWithoutCertificate',
} as const;

/** The condition reasons the operator writes for them (the Warning condition, the event). */
export const WarningReason = {
  RightsNeverUsed: 'RightsNeverUsed',
  TLSWithoutCertificate: 'TLSWithoutCertificate',
} as const;

export interface ConnectorWarning {
  field: string;
  rule: string;
  reason: string;
  message: string;
}

const list = (values: readonly string[]): string => (values.length > 0 ? values.join(', ') : 'none');

/**
 * neverSession - why no session on this connector is ever `principal`, or null when one can be
 * (relay/session/rights.ts sessionIdentityFor decides who a session is).
 */
function neverSession(principal: string, groups: readonly string[], mechanisms: readonly string[]): string | null {
  const has = `this connector has permissionGroups ${list(groups)} and authMechanisms ${list(mechanisms)}`;
  if (principal === 'TrustedServers') {
    if (mechanisms.includes('ExternalAuthoritative') || (mechanisms.includes('MutualTLS') && groups.includes('TrustedServers'))) return null;
    return `a session is TrustedServers only with permission group TrustedServers and authMechanisms MutualTLS (a verified client certificate) or ExternalAuthoritative, and ${has}`;
  }
  if (mechanisms.includes('ExternalAuthoritative')) return `authMechanisms ExternalAuthoritative makes every session a TrustedServers session, never ${principal}`;
  if (principal === 'Partners') {
    if (mechanisms.includes('MutualTLS') && groups.includes('Partners') && !groups.includes('TrustedServers')) return null;
    return `a session is Partners only with permission group Partners (and not TrustedServers) and authMechanisms MutualTLS, and ${has}`;
  }
  if (principal === 'Authenticated' || principal.startsWith('user:')) {
    if (mechanisms.includes('BasicAuth')) return null;
    return `nobody can authenticate here (authMechanisms has no BasicAuth: ${list(mechanisms)})`;
  }
  return null;
}

/** rightsNeverUsed - one warning per permissions entry whose allowed rights can never apply. */
export function rightsNeverUsed(connector: ReceiveConnector): ConnectorWarning[] {
  const spec = effectiveConnectorSpec(connector);
  const groups = spec.permissionGroups ?? [];
  const mechanisms = spec.authMechanisms ?? [];
  const out: ConnectorWarning[] = [];
  (spec.permissions ?? []).forEach((entry, index) => {
    const allowed = entry.allow ?? [];
    if (allowed.length === 0) return;
    const why = neverSession(entry.principal, groups, mechanisms);
    if (why === null) return;
    out.push({
      field: `spec.permissions[${index}].principal`,
      rule: WarningRule.rightsNeverUsed,
      reason: WarningReason.RightsNeverUsed,
      message: `rights ${allowed.join(', ')} allowed to ${entry.principal} never apply: ${why}; give the connector what makes a client ${entry.principal}, or remove the entry`,
    });
  });
  return out;
}

/** tlsWithoutCertificate - the connector asks for TLS on hubs where no certificate is named; null when fine. */
export function tlsWithoutCertificate(connector: ReceiveConnector, hubs: readonly RelayHub[]): ConnectorWarning | null {
  if (connector.spec.tls?.secretName || connector.spec.tls?.requireTLS) return null;
  const spec = effectiveConnectorSpec(connector);
  const mechanisms = spec.authMechanisms ?? [];
  const explicitTls = (connector.spec.authMechanisms ?? []).includes('TLS');
  const broken: string[] = [];
  if (mechanisms.includes('MutualTLS')) broken.push('MutualTLS never verifies a client certificate');
  if (mechanisms.includes('BasicAuthRequireTLS')) broken.push('BasicAuthRequireTLS lets nobody AUTH');
  if (!explicitTls && broken.length === 0) return null;
  const without = hubs.filter((hub) => !hub.spec.tls?.secretName).map((hub) => hub.metadata.name ?? '');
  if (without.length === 0) return null;
  return {
    field: 'spec.authMechanisms',
    rule: WarningRule.tlsWithoutCertificate,
    reason: WarningReason.TLSWithoutCertificate,
    message: `authMechanisms ${list(mechanisms)}${explicitTls ? '' : ` (usage ${spec.usage} default)`} asks for TLS, but neither spec.tls.secretName nor the tls.secretName of RelayHub ${without.join(', ')} names a certificate: STARTTLS is not offered there, so mail arrives in clear text${broken.length > 0 ? ` and ${broken.join(' and ')}` : ''}; set spec.tls.secretName or the hub's tls.secretName`,
  };
}

/** connectorWarnings - every warning of a connector on the hubs it selects, in a fixed order. */
export function connectorWarnings(connector: ReceiveConnector, hubs: readonly RelayHub[]): ConnectorWarning[] {
  const tls = tlsWithoutCertificate(connector, hubs);
  return [...rightsNeverUsed(connector), ...(tls ? [tls] : [])];
}

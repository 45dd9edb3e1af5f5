/*
 * operator/import/exchange-permissions - PermissionGroups and the Get-ADPermission ACEs of a
 * receive connector as the contract's permissionGroups and permissions.
 *
 * In Exchange a permission group is a shorthand that writes ACEs; the ACEs decide. So every
 * allow ACE carrying an SMTP extended right becomes an `allow` unless a written group already
 * grants that right to that principal, and every deny ACE becomes a `deny`. Deny wins over
 * allow in Exchange (Windows ACL order puts explicit denies first) and in the relay
 * (relay/session/rights.ts), so denials carry over as they are, inherited or not.
 * ACEs with no SMTP extended right govern AD administration of the object and are counted in
 * the report, not mapped.
 */
import type { ReceiveConnectorSpec } from '../api/types.generated.ts';
import { readBoolean, readList, readString, type JsonObject } from './exchange-values.ts';
import type { ImportReport } from './import-report.ts';
import { EXCHANGE_EXTENDED_RIGHTS, EXCHANGE_PERMISSION_GROUPS } from '../validate/exchange-names.ts';

export type PermissionGroup = NonNullable<ReceiveConnectorSpec['permissionGroups']>[number];
type Permission = NonNullable<ReceiveConnectorSpec['permissions']>[number];
export type Right = NonNullable<Permission['allow']>[number];

/** Exchange PermissionGroups bits, in the documented order (None = 0). */
export const PERMISSION_GROUP_BITS = ['AnonymousUsers', 'ExchangeUsers', 'ExchangeServers', 'ExchangeLegacyServers', 'Partners', 'Custom'] as const;

/** Exchange group names: one table with validate's "did you mean" (operator/validate/exchange-names.ts). */
export const GROUP_MAP = EXCHANGE_PERMISSION_GROUPS;

export const GROUP_UNMAPPED_REASON: Readonly<Record<string, string>> = {
  exchangelegacyservers: 'Exchange 2003 interop (ExchangeLegacyInterop) has no counterpart: no Exchange 2003 server talks to a hub',
  custom: 'marks hand-set ACLs; those come across from the Get-ADPermission export as permissions',
};

/** api.md "Group grants", per principal: what a written group already gives. */
const GROUP_GRANTS: Readonly<Record<PermissionGroup, { principal: string; rights: readonly Right[] }>> = {
  AnonymousUsers: { principal: 'Anonymous', rights: ['Submit', 'AcceptAnySender', 'AcceptAuthoritativeDomainSender', 'AcceptRoutingHeaders'] },
  AuthenticatedUsers: { principal: 'Authenticated', rights: ['Submit', 'AcceptAnyRecipient', 'BypassAntiSpam', 'AcceptRoutingHeaders'] },
  TrustedServers: {
    principal: 'TrustedServers',
    rights: ['Submit', 'AcceptAnyRecipient', 'AcceptAnySender', 'AcceptAuthoritativeDomainSender', 'BypassAntiSpam', 'BypassMessageSizeLimit', 'AcceptRoutingHeaders', 'AcceptOrganizationHeaders', 'AcceptAuthenticationFlag'],
  },
  Partners: { principal: 'Partners', rights: ['Submit', 'AcceptRoutingHeaders'] },
};

/** Exchange extended-right names: one table with validate's "did you mean" (operator/validate/exchange-names.ts). */
export const RIGHT_MAP = EXCHANGE_EXTENDED_RIGHTS;

const UNMAPPED_RIGHT_REASON: ReadonlyArray<[RegExp, string]> = [
  [/^ms-exch-accept-headers-forest$/, 'X-MS-Exchange-Forest-* headers are Exchange-internal; the relay has no forest headers'],
  [/^ms-exch-smtp-accept-exch50$/, 'XEXCH50 is Exchange 2003 interop; the relay does not offer it'],
  [/^ms-exch-smtp-accept-x|^ms-exch-smtp-send-x/, 'an internal right of Exchange servers talking to each other; no client uses it'],
  [/^ms-exch-send-/, 'a Send connector right; receive connectors do not use it'],
];

/** Principals by their Exchange account name (lower case). */
const PRINCIPAL_MAP: Readonly<Record<string, string>> = {
  'nt authority\\anonymous logon': 'Anonymous',
  'nt authority\\authenticated users': 'Authenticated',
  'ms exchange\\externally secured servers': 'TrustedServers',
  'ms exchange\\hub transport servers': 'TrustedServers',
  'ms exchange\\edge transport servers': 'TrustedServers',
  'ms exchange\\partner servers': 'Partners',
};
const SERVER_GROUPS = new Set(['exchange servers']);
const ADMIN_ACCOUNTS = /^(nt authority\\(system|network service|self|enterprise domain controllers)|everyone|creator owner|builtin\\.*|.*\\(domain admins|enterprise admins|schema admins|organization management|exchange trusted subsystem|exchange windows permissions|exchangelegacyinterop|delegated setup|exchange enterprise servers|exchange domain servers))$/;

/** principalFor - the contract principal of an ACE's account, or why there is none. */
export function principalFor(account: string): { principal: string } | { unmapped: string } {
  const key = account.trim().toLowerCase();
  const known = PRINCIPAL_MAP[key];
  if (known) return { principal: known };
  const [domain, name] = key.includes('\\') ? key.split('\\', 2) : ['', key];
  if (SERVER_GROUPS.has(name ?? '')) return { principal: 'TrustedServers' };
  if (ADMIN_ACCOUNTS.test(key)) return { unmapped: 'an AD administration or system account, not an SMTP client identity' };
  if (/^s-1-\d/.test(key)) return { unmapped: 'an unresolved SID (deleted account?); no SMTP client can be it' };
  const user = account.trim().slice(account.trim().indexOf('\\') + 1);
  if (domain && /^[A-Za-z0-9._@+-]{1,255}$/.test(user)) return { principal: `user:${user}` };
  return { unmapped: 'an account name that is not a valid relay user name (an AD group? list its members as users)' };
}

export interface AceRecord {
  account: string;
  rights: string[];
  deny: boolean;
  inherited: boolean;
}

/** readAce - one Get-ADPermission object. */
export function readAce(record: JsonObject): AceRecord | undefined {
  const account = readString(record.User);
  if (!account) return undefined;
  const rights = readList(record.ExtendedRights).flatMap((r) => {
    const name = readString(r);
    return name ? name.split(/[,\s]+/).filter((s) => s.length > 0) : [];
  });
  return { account, rights, deny: readBoolean(record.Deny) === true, inherited: readBoolean(record.IsInherited ?? record.Inherited) === true };
}

/**
 * mapPermissions - permissions entries from the connector's ACEs, with the groups' grants taken
 * out of the allows. `subject` names the connector in the report.
 */
export function mapPermissions(aces: readonly AceRecord[], groups: readonly PermissionGroup[], report: ImportReport, subject: string): Permission[] {
  const granted = new Map<string, Set<Right>>();
  for (const group of groups) {
    const grant = GROUP_GRANTS[group];
    const set = granted.get(grant.principal) ?? new Set<Right>();
    grant.rights.forEach((r) => set.add(r));
    granted.set(grant.principal, set);
  }
  const byPrincipal = new Map<string, { allow: Set<Right>; deny: Set<Right> }>();
  let administrative = 0;
  // Exchange writes one ACE per right: the report says it once per account and reason.
  const unmappedAces = new Map<string, { label: string; rights: string[]; reason: string }>();
  const unmapped = (label: string, rights: string[], reason: string): void => {
    const key = `${label}\n${reason}`;
    const entry = unmappedAces.get(key) ?? { label, rights: [], reason };
    entry.rights.push(...rights.filter((r) => !entry.rights.includes(r)));
    unmappedAces.set(key, entry);
  };
  for (const ace of aces) {
    const smtpRights = ace.rights.filter((r) => /^ms-exch-/i.test(r));
    if (smtpRights.length === 0) {
      administrative++;
      continue;
    }
    const label = `ACE ${ace.deny ? 'deny' : 'allow'} ${ace.account}`;
    const who = principalFor(ace.account);
    if ('unmapped' in who) {
      unmapped(label, smtpRights, who.unmapped);
      continue;
    }
    const entry = byPrincipal.get(who.principal) ?? { allow: new Set<Right>(), deny: new Set<Right>() };
    byPrincipal.set(who.principal, entry);
    for (const raw of smtpRights) {
      const right = RIGHT_MAP[raw.toLowerCase()];
      if (!right) {
        const reason = UNMAPPED_RIGHT_REASON.find(([pattern]) => pattern.test(raw.toLowerCase()))?.[1] ?? 'an extended right the relay does not know';
        unmapped(label, [raw], reason);
        continue;
      }
      if (ace.deny) entry.deny.add(right);
      else if (!granted.get(who.principal)?.has(right)) entry.allow.add(right);
    }
  }
  for (const { label, rights, reason } of unmappedAces.values()) report.add('unmapped', subject, label, rights.join(' '), reason);
  if (administrative > 0) {
    report.add('unmapped', subject, 'Get-ADPermission', `${administrative} ACE(s) without an SMTP extended right`, 'they govern who may administer the AD object (AccessRights), not what an SMTP client may do');
  }
  const order = ['Anonymous', 'Authenticated', 'TrustedServers', 'Partners'];
  const rank = (p: string): number => (order.includes(p) ? order.indexOf(p) : order.length);
  return [...byPrincipal.entries()]
    .filter(([, e]) => e.allow.size > 0 || e.deny.size > 0)
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([principal, e]) => ({
      principal,
      ...(e.allow.size > 0 ? { allow: [...e.allow].sort() } : {}),
      ...(e.deny.size > 0 ? { deny: [...e.deny].sort() } : {}),
    }));
}

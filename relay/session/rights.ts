/*
 * relay/session/rights - who a session is, and which extended rights it holds on a connector.
 *
 * Job: turn a connector's permissionGroups and permissions (Exchange's Add-ADPermission ACEs)
 * into the right set of one session. A group grants only to its own principal (AnonymousUsers
 * to Anonymous sessions, ...); permission entries whose principal matches the session add
 * allow rights; deny entries remove rights and win over every grant.
 * Trust: the connector is operator-rendered and trusted; the identity comes from the session
 * layer (a verified password, a verified client certificate, or nothing) and is taken as given.
 * Failure modes: none thrown. An unknown group or right in the config grants nothing; a session
 * that matches nothing holds no right at all (no Submit: every MAIL FROM gets 530 5.7.1).
 * `sources` keeps every grant and every denial so logs and `explain` can say why.
 */
import { RIGHTS } from '../config/schema.ts';
import type { ConnectorConfig, PermissionEntry, PermissionGroup, Right } from '../config/schema.ts';

export type SessionKind = 'Anonymous' | 'Authenticated' | 'TrustedServers' | 'Partners';

export interface SessionIdentity {
  kind: SessionKind;
  /** The authenticated user name (AUTH), when there is one. */
  user?: string;
}

export interface SessionRights {
  rights: Set<Right>;
  /** Per right: where it came from, and denials ('permission user:bob deny'). */
  sources: Map<Right, string[]>;
}

interface GroupGrant {
  principal: SessionKind;
  rights: readonly Right[];
}

/** api.md "Group grants": the group, the only principal it grants to, and its rights. */
export const GROUP_GRANTS: Readonly<Record<PermissionGroup, GroupGrant>> = {
  AnonymousUsers: {
    principal: 'Anonymous',
    rights: ['Submit', 'AcceptAnySender', 'AcceptAuthoritativeDomainSender', 'AcceptRoutingHeaders'],
  },
  AuthenticatedUsers: {
    principal: 'Authenticated',
    rights: ['Submit', 'AcceptAnyRecipient', 'BypassAntiSpam', 'AcceptRoutingHeaders'],
  },
  TrustedServers: { principal: 'TrustedServers', rights: RIGHTS },
  Partners: { principal: 'Partners', rights: ['Submit', 'AcceptRoutingHeaders'] },
};

const KNOWN_RIGHTS: ReadonlySet<string> = new Set(RIGHTS);

function addSource(sources: Map<Right, string[]>, right: Right, source: string): void {
  const list = sources.get(right);
  if (list) list.push(source);
  else sources.set(right, [source]);
}

/** Whether a permission entry's principal names this session. */
export function principalMatches(principal: PermissionEntry['principal'], identity: SessionIdentity): boolean {
  if (principal.startsWith('user:')) {
    return identity.user !== undefined && principal.slice(5) === identity.user;
  }
  return principal === identity.kind;
}

export function resolveSessionRights(connector: ConnectorConfig, identity: SessionIdentity): SessionRights {
  const rights = new Set<Right>();
  const sources = new Map<Right, string[]>();
  for (const group of connector.permissionGroups) {
    const grant = GROUP_GRANTS[group] as GroupGrant | undefined;
    if (!grant || grant.principal !== identity.kind) continue;
    for (const right of grant.rights) {
      rights.add(right);
      addSource(sources, right, `group ${group}`);
    }
  }
  const matching = connector.permissions.filter((entry) => principalMatches(entry.principal, identity));
  for (const entry of matching) {
    for (const right of entry.allow) {
      if (!KNOWN_RIGHTS.has(right)) continue;
      rights.add(right);
      addSource(sources, right, `permission ${entry.principal} allow`);
    }
  }
  // Denials last: they win over group grants and over every allow entry.
  for (const entry of matching) {
    for (const right of entry.deny) {
      if (!KNOWN_RIGHTS.has(right)) continue;
      rights.delete(right);
      addSource(sources, right, `permission ${entry.principal} deny`);
    }
  }
  return { rights, sources };
}

/** The rights in the schema's canonical order, e.g. for the protocol log's "Set Session Permissions". */
export function orderedRights(rights: ReadonlySet<Right>): Right[] {
  return RIGHTS.filter((right) => rights.has(right));
}

export interface SessionFacts {
  /** Set once AUTH succeeded. */
  authenticatedUser?: string;
  /** The client certificate verified against tls.clientCAFile. */
  mutualTlsVerified: boolean;
}

/**
 * Who the session is. ExternalAuthoritative: everyone is TrustedServers. A verified client
 * certificate on a MutualTLS connector: TrustedServers if the connector has that group, else
 * Partners if it has that one. Otherwise an authenticated user is Authenticated, else Anonymous.
 * The user name is kept on every kind, so `user:NAME` entries still match after AUTH.
 */
export function sessionIdentityFor(connector: ConnectorConfig, facts: SessionFacts): SessionIdentity {
  const user = facts.authenticatedUser;
  const withUser = (kind: SessionKind): SessionIdentity => (user === undefined ? { kind } : { kind, user });
  if (connector.authMechanisms.includes('ExternalAuthoritative')) return withUser('TrustedServers');
  if (facts.mutualTlsVerified && connector.authMechanisms.includes('MutualTLS')) {
    if (connector.permissionGroups.includes('TrustedServers')) return withUser('TrustedServers');
    if (connector.permissionGroups.includes('Partners')) return withUser('Partners');
  }
  if (user !== undefined) return { kind: 'Authenticated', user };
  return { kind: 'Anonymous' };
}

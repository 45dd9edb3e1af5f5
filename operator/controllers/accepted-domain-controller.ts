/*
 * operator/controllers/accepted-domain-controller - the Ready condition of one AcceptedDomain:
 * whether the hubs of its namespace accept mail for it as its spec says and, if not, why.
 *
 * Every RelayHub renders every AcceptedDomain of its namespace, in precedence order (older
 * creationTimestamp, then name: render/accepted-domains.ts), and the relay takes the first
 * entry that matches a domain exactly (relay/session/domains.ts) and the first with
 * default: true for postmaster@ (relay/delivery/delivery-report.ts). So of two objects
 * declaring one domain the earlier decides, and of two defaults the earlier is the default.
 * The status says just that.
 *
 * Ready=True, Rendered: in the config of the hubs the message names (every hub of the
 * namespace). Whether their pods run that config yet is each RelayHub's Ready: the render
 * store records connectors per hub, not domains, so this status does not claim it.
 * Ready=False, reasons a person can act on (the first applies, the message lists all):
 *   InvalidDomainName  domainName is no host name, so the relay matches nothing against it
 *   PublicSuffixDomain domainName is (a wildcard over) a public suffix; render leaves it out
 *   DuplicateDomain    an earlier AcceptedDomain (named) declares the same domain
 *   DuplicateDefault   default: true, but an earlier AcceptedDomain (named) is the default
 *   NoRelayHub         the namespace has no RelayHub
 */
import type { AcceptedDomain, RelayHub } from '../api/types.generated.ts';
import { byPrecedence } from '../render/selection.ts';
import type { Applier } from '../runtime/apply.ts';
import { ConditionReason, readyVerdict, type ReadyVerdict } from '../runtime/conditions.ts';
import { Controller, type ReconcileResult } from '../runtime/controller.ts';
import { splitKey } from '../runtime/objects.ts';
import { WorkQueue } from '../runtime/workqueue.ts';
import { normalizeDomain } from '../../relay/session/domains.ts';
import { domainPublicSuffixProblem } from '../render/security.ts';
import type { Caches } from './caches.ts';
import { applyReadyStatus } from './ready-status.ts';
import { enqueueEach, hubPresenceOrLabelsChanged, type ControllerManager } from './watches.ts';

export interface AcceptedDomainControllerDeps {
  caches: Caches;
  applier: Applier;
}

export interface AcceptedDomainStatusInputs {
  namespace: string;
  domain: AcceptedDomain;
  /** Every AcceptedDomain of the namespace, the domain itself included. */
  domains: readonly AcceptedDomain[];
  /** The RelayHubs of the namespace (not being deleted). */
  hubs: readonly RelayHub[];
}

/**
 * canonicalDomain - the name the relay matches with (lower case, A-labels, no trailing dot;
 * `*.` kept), or null when the relay would skip the entry (relay/session/domains.ts compile).
 */
export function canonicalDomain(domainName: string): string | null {
  const wildcard = domainName.startsWith('*.');
  const name = normalizeDomain((wildcard ? domainName.slice(2) : domainName).toLowerCase());
  return name === null ? null : `${wildcard ? '*.' : ''}${name}`;
}

/** why `first` precedes `other`, in words (the order render/accepted-domains.ts and the relay use). */
function precedenceWhy(first: AcceptedDomain, other: AcceptedDomain): string {
  return (first.metadata.creationTimestamp ?? '') === (other.metadata.creationTimestamp ?? '')
    ? 'created at the same time and first by name'
    : 'created earlier';
}

/** decideAcceptedDomainStatus - the Ready condition of one AcceptedDomain (pure). */
export function decideAcceptedDomainStatus(inputs: AcceptedDomainStatusInputs): ReadyVerdict {
  const { namespace, domain, domains, hubs } = inputs;
  const name = domain.metadata.name ?? '';
  const ordered = [...domains].sort(byPrecedence);
  const problems: Array<{ reason: ConditionReason; message: string }> = [];
  const own = canonicalDomain(domain.spec.domainName);
  const publicSuffix = own === null ? null : domainPublicSuffixProblem(own);

  let shadowed: AcceptedDomain[] = [];
  if (own === null) {
    problems.push({
      reason: ConditionReason.InvalidDomainName,
      message: `domainName "${domain.spec.domainName}" is not a host name the relay can match (labels of 1-63 letters, digits or hyphens, at most 253 characters, a top-level label not all digits): no address matches it`,
    });
  } else if (publicSuffix) {
    // render leaves it out of every hub: no relay to the domains under a public suffix
    problems.push({ reason: ConditionReason.PublicSuffixDomain, message: `${publicSuffix.message}; it is in no hub's config` });
  } else {
    const sameDomain = ordered.filter((d) => canonicalDomain(d.spec.domainName) === own);
    const winner = sameDomain[0];
    if (winner && winner.metadata.name !== name) {
      problems.push({
        reason: ConditionReason.DuplicateDomain,
        message: `domain ${own} is also declared by AcceptedDomain ${winner.metadata.name ?? ''} (${precedenceWhy(winner, domain)}), whose domainType ${winner.spec.domainType ?? 'Authoritative'} applies to it: delete one of the two or change domainName`,
      });
    } else {
      shadowed = sameDomain.slice(1);
    }
  }

  if (domain.spec.default) {
    const firstDefault = ordered.find((d) => d.spec.default);
    if (firstDefault && firstDefault.metadata.name !== name) {
      problems.push({
        reason: ConditionReason.DuplicateDefault,
        message: `spec.default is true, but AcceptedDomain ${firstDefault.metadata.name ?? ''} (${precedenceWhy(firstDefault, domain)}) is the default of namespace ${namespace}, so DSNs come from postmaster@${firstDefault.spec.domainName.replace(/^\*\./, '').toLowerCase()}: set default: false on one of them`,
      });
    }
  }

  const hubNames = [...hubs].sort(byPrecedence).map((h) => h.metadata.name ?? '');
  if (hubNames.length === 0) {
    problems.push({ reason: ConditionReason.NoRelayHub, message: `no RelayHub in namespace ${namespace}: an AcceptedDomain applies to every hub of its namespace` });
  }

  const also = shadowed.length > 0 ? `; also declared by AcceptedDomain ${shadowed.map((d) => d.metadata.name ?? '').join(', ')}, which this one takes precedence over` : '';
  return readyVerdict(problems, { reason: ConditionReason.Rendered, message: `in the config of RelayHub ${hubNames.join(', ')} (every hub of namespace ${namespace})${also}` });
}

export function createAcceptedDomainReconciler(deps: AcceptedDomainControllerDeps): (key: string) => Promise<ReconcileResult | void> {
  const { caches, applier } = deps;
  return async (key) => {
    const { namespace, name } = splitKey(key);
    const domain = caches.acceptedDomains.get(namespace, name);
    if (!domain || domain.metadata.deletionTimestamp) return;
    const ready = decideAcceptedDomainStatus({
      namespace,
      domain,
      // a domain being deleted is still rendered until it is gone: it still counts
      domains: caches.acceptedDomains.list(namespace),
      hubs: caches.hubs.list(namespace).filter((h) => !h.metadata.deletionTimestamp),
    });
    await applyReadyStatus(applier, 'AcceptedDomain', { namespace, name }, domain, ready);
  };
}

/**
 * setupAcceptedDomainController - the AcceptedDomain controller and its watches (SetupWithManager):
 *   AcceptedDomain -> every AcceptedDomain of the namespace (a duplicate domain or default
 *                     involves the others)
 *   RelayHub       -> every AcceptedDomain of the namespace, when a hub comes, goes or
 *                     changes its labels
 * and at start every domain.
 */
export function setupAcceptedDomainController(manager: ControllerManager): Controller {
  const { caches, applier } = manager;
  const queue = new WorkQueue({ name: 'accepteddomain' });
  const controller = new Controller({ name: 'accepteddomain', queue, reconcile: createAcceptedDomainReconciler({ caches, applier }) });
  const domainsOfNamespace = (namespace: string | undefined): void => enqueueEach(queue, caches.acceptedDomains.list(namespace));
  caches.acceptedDomains.onChange((o) => domainsOfNamespace(o.metadata?.namespace));
  const hubChanged = hubPresenceOrLabelsChanged(caches);
  caches.hubs.onChange((hub) => {
    if (hubChanged(hub)) domainsOfNamespace(hub.metadata?.namespace);
  });
  domainsOfNamespace(manager.namespace);
  return controller;
}

/*
 * operator/render/accepted-domains - the AcceptedDomains of one hub's rendered config: every
 * AcceptedDomain of the namespace, in precedence order, in the form the relay matches.
 *
 * A domain at or above a public suffix would make the hub relay to other people's domains
 * without any relay right: it is left out (its status says PublicSuffixDomain).
 */
import type { AcceptedDomainConfig } from '../../relay/config/schema.ts';
import { canonicalDomainPattern } from '../../relay/delivery/address-canonical.ts';
import { objectKey, type NamespaceObjects } from './inputs.ts';
import type { RenderProblem } from './result.ts';
import { domainPublicSuffixProblem } from './security.ts';
import { byPrecedence } from './selection.ts';

/** acceptedDomainConfigs - the namespace's AcceptedDomains as the relay reads them; problems for those left out. */
export function acceptedDomainConfigs(objects: NamespaceObjects, problems: RenderProblem[]): AcceptedDomainConfig[] {
  return [...objects.acceptedDomains].sort(byPrecedence).filter((d) => {
    const problem = domainPublicSuffixProblem(d.spec.domainName);
    if (problem) problems.push({ object: `AcceptedDomain ${objectKey(objects.namespace, d.metadata.name)}`, field: problem.field, rule: problem.rule, message: problem.message });
    return problem === null;
  }).map((d) => ({
    domain: canonicalDomainPattern(d.spec.domainName) ?? d.spec.domainName.toLowerCase(),
    type: d.spec.domainType ?? 'Authoritative',
    default: d.spec.default ?? false,
  }));
}

/*
 * Issue 17 (Low): `validate` flags an AcceptedDomain whose name passes the CRD pattern (ASCII
 * letters, digits, hyphens) but is no valid IDNA name, so the relay would match nothing
 * against it. Before: `xn--zz.example` was valid and the relay compared raw strings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { validateManifests } from './validate.ts';

function domainProblems(domainName: string): string[] {
  const file = join(mkdtempSync(join(tmpdir(), 'validate-idna-')), 'manifests.yaml');
  const domain = { apiVersion: 'relayoperator.io/v1alpha1', kind: 'AcceptedDomain', metadata: { name: 'd', namespace: 'mail' }, spec: { domainName } };
  writeFileSync(file, stringify(domain));
  return validateManifests([file]).problems.filter((p) => p.severity === 'error').map((p) => `${p.field} ${p.rule}: ${p.message}`);
}

test('an AcceptedDomain with an invalid A-label is an error naming the field and the rule', () => {
  for (const name of ['xn--zz.example', 'mail.xn--a.example', '*.xn--zz.example']) {
    const problems = domainProblems(name);
    assert.ok(problems.some((p) => p.startsWith('spec.domainName idnaDomainName: ') && p.includes(name)), `${name}: ${JSON.stringify(problems)}`);
  }
});

test('valid A-labels, upper case and a trailing dot are fine', () => {
  for (const name of ['xn--bcher-kva.example', 'XN--BCHER-KVA.Example', '*.xn--bcher-kva.example', 'contoso.com']) {
    assert.deepEqual(domainProblems(name).filter((p) => p.includes('idnaDomainName')), [], name);
  }
});

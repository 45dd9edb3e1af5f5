/*
 * The chart's Secret access per mode (docs/security.md, "Secret access"): the Secret label
 * selector is on by default and reaches the operator's args; each mode's Secret rule is a
 * Role in the watched namespace or a ClusterRole, never both; and the operator refuses a
 * selector the chart would pass it malformed.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { controlPlaneBinaries } from '../controlplane/controlplane.ts';

interface Rule { apiGroups: string[]; resources: string[]; verbs: string[] }
interface Doc { kind: string; metadata: { name: string; namespace?: string }; rules?: Rule[]; spec?: { template: { spec: { containers: Array<{ args: string[] }> } } } }

let binDir = '';
before(() => {
  binDir = controlPlaneBinaries();
});

const render = (...set: string[]): Doc[] => {
  const text = execFileSync(join(binDir, 'helm'), ['template', 'relay', 'charts/relay-operator', '--namespace', 'relay-system', '--kube-version', '1.36.3', ...set.flatMap((s) => ['--set', s])], { encoding: 'utf8' });
  return parseAllDocuments(text).map((d) => d.toJS() as Doc | null).filter((d): d is Doc => d !== null);
};
const operatorArgs = (docs: Doc[]): string[] => docs.find((d) => d.kind === 'Deployment')?.spec?.template.spec.containers[0]?.args ?? [];
/** Where the rule granting Secrets is: `Kind namespace verbs`. */
const secretGrants = (docs: Doc[]): string[] => docs.flatMap((d) => (d.rules ?? [])
  .filter((r) => r.resources.includes('secrets'))
  .map((r) => `${d.kind} ${d.metadata.namespace ?? '(cluster)'} ${r.verbs.join(',')}`));

test('by default the operator is given --secret-selector relayoperator.io/secret=true; an empty value drops the flag', () => {
  const args = operatorArgs(render());
  assert.deepEqual(args.slice(args.indexOf('--secret-selector'), args.indexOf('--secret-selector') + 2), ['--secret-selector', 'relayoperator.io/secret=true']);
  assert.ok(!operatorArgs(render('secretLabelSelector=')).includes('--secret-selector'));
  const two = operatorArgs(render('secretLabelSelector=relayoperator.io/secret=true\\,team=mail'));
  assert.equal(two[two.indexOf('--secret-selector') + 1], 'relayoperator.io/secret=true,team=mail');
});

test('Secret RBAC per mode: list/watch (and create, for the hand-off token) in a Role of the watched namespace, or in the ClusterRole; never get', () => {
  assert.deepEqual(secretGrants(render('watchNamespace=mail')), ['Role mail list,watch', 'Role mail create']);
  assert.deepEqual(secretGrants(render()), ['ClusterRole (cluster) list,watch', 'ClusterRole (cluster) create']);
  // the selector narrows what the operator asks for; RBAC cannot follow labels, so it changes no rule
  assert.deepEqual(secretGrants(render('watchNamespace=mail', 'secretLabelSelector=')), ['Role mail list,watch', 'Role mail create']);
});

test('the operator exits 2 on a selector it cannot tell users to label, naming the flag', () => {
  const run = spawnSync(process.execPath, ['bin/relay-operator.js', 'operator', '--secret-selector', '!relayoperator.io/secret'], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/nonexistent' } });
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, /--secret-selector "!relayoperator\.io\/secret": "!relayoperator\.io\/secret" is not key=value/);
});

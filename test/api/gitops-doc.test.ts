/*
 * test/api/gitops-doc - docs/gitops.md's YAML is valid and says what the doc claims: every yaml
 * block parses (with the `yaml` package: anchors, multi-document); the Argo CD Application takes
 * the chart from charts/relay-operator with ServerSideApply; argocd-cm has a health check for
 * each of the four kinds reading Stalled, Reconciling and Ready; Flux's GitRepository,
 * HelmRelease (chart path that exists, CRD policies) and Kustomization health checks naming all
 * four kinds. No cluster: the point is that a reader can paste them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { API_GROUP_VERSION, KINDS } from '../../operator/api/crds.ts';

interface Doc { apiVersion?: string; kind?: string; metadata?: { name?: string }; spec?: Record<string, unknown>; data?: Record<string, string> }

const text = readFileSync(new URL('../../docs/gitops.md', import.meta.url), 'utf8');
const blocks = [...text.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');

function documents(): Doc[] {
  return blocks.flatMap((block, i) => parseAllDocuments(block).map((d) => {
    assert.deepEqual(d.errors.map((e) => e.message), [], `yaml block ${i + 1} parses`);
    return d.toJS() as Doc;
  }));
}

const find = (docs: Doc[], apiVersion: string, kind: string, name?: string): Doc[] =>
  docs.filter((d) => d.apiVersion === apiVersion && d.kind === kind && (name === undefined || d.metadata?.name === name));

void test('docs/gitops.md: every yaml block parses, and each document has apiVersion, kind and a name', () => {
  assert.ok(blocks.length >= 3, `yaml blocks found: ${blocks.length}`);
  for (const doc of documents()) {
    assert.ok(doc.apiVersion && doc.kind && doc.metadata?.name, `a complete object: ${JSON.stringify(doc).slice(0, 120)}`);
  }
});

void test('Argo CD: the chart from charts/relay-operator with ServerSideApply; a health check for each kind', () => {
  const docs = documents();
  const [app] = find(docs, 'argoproj.io/v1alpha1', 'Application', 'relay-operator');
  const source = app?.spec?.source as { path?: string; helm?: unknown } | undefined;
  assert.equal(source?.path, 'charts/relay-operator');
  assert.ok(existsSync(new URL(`../../${source.path}/Chart.yaml`, import.meta.url)), 'the chart path exists');
  assert.ok(existsSync(new URL(`../../${source.path}/crds/`, import.meta.url)), 'the chart has crds/ (Argo CD applies them)');
  for (const application of find(docs, 'argoproj.io/v1alpha1', 'Application')) {
    const options = (application.spec?.syncPolicy as { syncOptions?: string[] } | undefined)?.syncOptions ?? [];
    assert.ok(options.includes('ServerSideApply=true'), `${application.metadata?.name ?? ''}: ServerSideApply=true`);
  }
  const [cm] = find(docs, 'v1', 'ConfigMap', 'argocd-cm');
  const group = API_GROUP_VERSION.split('/')[0] ?? '';
  for (const kind of KINDS) {
    const script = cm?.data?.[`resource.customizations.health.${group}_${kind}`];
    assert.ok(script, `health check for ${kind}`);
    for (const condition of ['Stalled', 'Reconciling', 'Ready', 'observedGeneration']) assert.ok(script.includes(condition), `${kind}: reads ${condition}`);
    assert.match(script, /status = "Degraded"/);
    assert.match(script, /status = "Healthy"/);
  }
});

void test('Flux: GitRepository, HelmRelease from the chart path with CRD policies, Kustomization health checks for the four kinds', () => {
  const docs = documents();
  const [repo] = find(docs, 'source.toolkit.fluxcd.io/v1', 'GitRepository', 'relay-operator');
  assert.ok(repo, 'a GitRepository named relay-operator');
  const [release] = find(docs, 'helm.toolkit.fluxcd.io/v2', 'HelmRelease', 'relay-operator');
  const chart = (release?.spec?.chart as { spec?: { chart?: string; sourceRef?: { kind?: string; name?: string } } } | undefined)?.spec;
  assert.equal(chart?.sourceRef?.kind, 'GitRepository');
  assert.equal(chart.sourceRef.name, 'relay-operator');
  assert.ok(existsSync(new URL(`../../${chart.chart ?? ''}/Chart.yaml`, import.meta.url)), `chart ${chart.chart ?? ''} exists`);
  assert.equal((release?.spec?.install as { crds?: string } | undefined)?.crds, 'Create');
  assert.equal((release?.spec?.upgrade as { crds?: string } | undefined)?.crds, 'CreateReplace');

  const kustomizations = find(docs, 'kustomize.toolkit.fluxcd.io/v1', 'Kustomization');
  const [mail] = kustomizations.filter((k) => k.metadata?.name === 'mail');
  const checks = (mail?.spec?.healthChecks as Array<{ apiVersion: string; kind: string; name: string; namespace: string }> | undefined) ?? [];
  for (const kind of KINDS) {
    assert.ok(checks.some((c) => c.apiVersion === API_GROUP_VERSION && c.kind === kind && c.name && c.namespace), `a health check for ${kind}`);
  }
  assert.deepEqual((mail?.spec?.dependsOn as Array<{ name: string }> | undefined)?.map((d) => d.name), ['relay-operator']);
  assert.ok(kustomizations.some((k) => k.metadata?.name === 'relay-operator' && k.spec?.wait === true), 'the operator Kustomization waits');
});

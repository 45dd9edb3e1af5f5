/*
 * The chart's monitoring content: off by default, each part on with one value; with all of
 * them on, `helm lint` passes, the PrometheusRule's rules pass `promtool check rules` and the
 * unit tests of test/api/fixtures/promtool (`promtool test rules`), the PodMonitors select the
 * operator's and the hubs' pods, and the dashboard ConfigMap carries the sidecar label and
 * valid dashboard JSON.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { testCluster, type TestCluster } from '../support/cluster.ts';

const CHART = 'charts/relay-operator';
const ALL_ON = ['monitoring.podMonitors.enabled=true', 'monitoring.prometheusRule.enabled=true', 'monitoring.dashboard.enabled=true'];
const RULE_TESTS = 'test/api/fixtures/promtool/relay-operator.rules-tests.yaml';

interface Rendered { kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: Record<string, unknown>; data?: Record<string, string> }

let cluster: TestCluster;
before(async () => {
  cluster = await testCluster();
});
after(async () => {
  await cluster?.stop();
});

const tool = (name: string, args: string[], cwd?: string): string =>
  execFileSync(join(cluster.binDir, name), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });

function render(set: string[]): Rendered[] {
  const text = tool('helm', ['template', 'relay', CHART, '--namespace', 'relay-system', '--kube-version', '1.36.3', ...set.flatMap((s) => ['--set', s])]);
  return parseAllDocuments(text).map((d) => d.toJS() as Rendered | null).filter((d): d is Rendered => d !== null);
}

test('monitoring is off by default', () => {
  const kinds = render([]).map((o) => `${o.kind}/${o.metadata.name}`);
  assert.ok(!kinds.some((k) => /^(PodMonitor|PrometheusRule)\//.test(k) || k === 'ConfigMap/relay-operator-dashboard'), kinds.join(', '));
});

test('helm lint passes with every monitoring value on', () => {
  assert.match(tool('helm', ['lint', CHART, ...ALL_ON.flatMap((s) => ['--set', s])]), /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test('the PrometheusRule passes promtool check rules and promtool test rules', () => {
  const rule = render(ALL_ON).find((o) => o.kind === 'PrometheusRule');
  assert.ok(rule?.spec, 'no PrometheusRule rendered');
  const dir = mkdtempSync(join(tmpdir(), 'promtool-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), stringify(rule.spec));
    copyFileSync(RULE_TESTS, join(dir, 'tests.yaml'));
    assert.match(tool('promtool', ['check', 'rules', 'rules.yaml'], dir), /SUCCESS: 8 rules found/);
    assert.match(tool('promtool', ['test', 'rules', 'tests.yaml'], dir), /SUCCESS/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the PodMonitors select the operator pods and every hub pod, labelled with the hub', () => {
  const monitors = render([...ALL_ON, 'watchNamespace=mail']).filter((o) => o.kind === 'PodMonitor');
  const byName = new Map(monitors.map((m) => [m.metadata.name, m.spec as Record<string, unknown>]));
  assert.deepEqual((byName.get('relay-operator')?.selector as { matchLabels: unknown }).matchLabels, { 'app.kubernetes.io/name': 'relay-operator', 'app.kubernetes.io/instance': 'relay' });
  const hubs = byName.get('relay-operator-hubs');
  assert.ok(hubs, [...byName.keys()].join(', '));
  assert.deepEqual(hubs.namespaceSelector, { matchNames: ['mail'] });
  assert.deepEqual(hubs.podMetricsEndpoints, [{ port: 'metrics', interval: '30s', relabelings: [{ sourceLabels: ['__meta_kubernetes_pod_label_relayoperator_io_hub'], targetLabel: 'hub' }] }]);
});

test('the dashboard is a ConfigMap with the sidecar label holding dashboard JSON', () => {
  const map = render(ALL_ON).find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'relay-operator-dashboard');
  assert.equal(map?.metadata.labels?.grafana_dashboard, '1');
  const dashboard = JSON.parse(map?.data?.['relay-operator.json'] ?? '') as { uid: string; panels: Array<{ title: string }> };
  assert.equal(dashboard.uid, 'relay-operator');
  for (const title of ['Refusals by connector and reason', 'Messages received, delivered, deferred, bounced', 'Oldest queued message', 'DATA-to-250 latency', 'Configs running per hub']) {
    assert.ok(dashboard.panels.some((p) => p.title === title), `panel ${title}`);
  }
});

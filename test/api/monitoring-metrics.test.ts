/*
 * Every metric the chart's alerts and dashboard name exists: a standalone hub (delivery on,
 * so the delivery metrics are registered) and an operator watching a namespace are started
 * as users run them, and their /metrics list each name (`# TYPE` lines: a series without
 * samples yet still counts, as it does for Prometheus once the first sample comes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { freePort } from '../controlplane/controlplane.ts';
import { anonymousRelayConnector, removeHubDir, startHubProcess } from '../support/hub-process.ts';
import { startOperator } from '../support/operator-process.ts';
import { useTestNamespaces, type TestCluster } from '../support/cluster.ts';

const NAMESPACE = 'monitoring-metrics';
const METRIC = /\b(?:relay|leader_election|workqueue|controller_runtime)_[a-z0-9_]+/g;
/** Histogram series names refer to their family. */
const family = (name: string): string => name.replace(/_(bucket|sum|count)$/, '');

function namedMetrics(): Set<string> {
  const rules = parse(readFileSync('charts/relay-operator/monitoring/relay-operator.rules.yaml', 'utf8')) as { groups: Array<{ rules: Array<{ expr: string }> }> };
  const dashboard = JSON.parse(readFileSync('charts/relay-operator/monitoring/relay-operator-dashboard.json', 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
  const expressions = [...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)), ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr))];
  return new Set(expressions.flatMap((e) => [...e.matchAll(METRIC)].map((m) => family(m[0]))));
}

const families = (exposition: string): Set<string> => new Set([...exposition.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));

let cluster: TestCluster;
useTestNamespaces([NAMESPACE], { crds: true, ready: (c) => { cluster = c; } });

test('every metric the alerts and the dashboard name is on the hub\'s or the operator\'s /metrics', { timeout: 90_000 }, async (t) => {
  const named = namedMetrics();
  assert.ok(named.size >= 15, `only ${[...named].join(', ')}`);
  const [hubPort, metricsPort] = [await freePort(), await freePort()];
  const hub = await startHubProcess({
    manifests: `apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: watched, namespace: ${NAMESPACE}}
spec: {fqdn: watched.relay.test, antiSpam: {spf: false}}
---
${anonymousRelayConnector({ namespace: NAMESPACE, hub: 'watched', binding: `127.0.0.1:${hubPort}` })}`,
    hub: 'watched',
    extraArgs: ['--metrics-addr', `127.0.0.1:${metricsPort}`],
  });
  t.after(async () => {
    await hub.stop();
    removeHubDir(hub);
  });
  const operator = await startOperator({ cluster, namespace: NAMESPACE, waitFor: 'leader' });
  t.after(() => operator.stop());

  const hubFamilies = families(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
  const operatorFamilies = families(await (await fetch(`${operator.url}/metrics`)).text());
  const missing = [...named].filter((name) => !hubFamilies.has(name) && !operatorFamilies.has(name));
  assert.deepEqual(missing, []);
});

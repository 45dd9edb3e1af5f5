/*
 * test/support/connector-status - what operator tests read back from a namespace: a
 * ReceiveConnector object to apply, an object's conditions, the hub's rendered config in its
 * ConfigMap, and the events.k8s.io Events about an object.
 */
import type { RenderedConfig } from '../../relay/config/schema.ts';
import type { TestCluster } from './cluster.ts';
import { kubeClient } from './operator-process.ts';

export const RELAY_GROUP_VERSION = 'relayoperator.io/v1alpha1';

export interface ObjectCondition { type: string; status: string; reason: string; message: string; observedGeneration?: number }
export interface WithConditions { metadata?: { generation?: number }; status?: { conditions?: ObjectCondition[] } }

/** conditionOf - the condition of that type on the object, if any. */
export const conditionOf = (object: WithConditions | undefined, type: string): ObjectCondition | undefined => object?.status?.conditions?.find((c) => c.type === type);

/** receiveConnectorObject - a ReceiveConnector on `hub`, bound to 0.0.0.0:25 unless the spec says otherwise. */
export const receiveConnectorObject = (namespace: string, hub: string, name: string, spec: Record<string, unknown>): object => ({
  apiVersion: RELAY_GROUP_VERSION, kind: 'ReceiveConnector', metadata: { name, namespace }, spec: { hubs: [hub], bindings: ['0.0.0.0:25'], ...spec },
});

/** renderedHubConfig - the config the operator rendered for `hub` (its ConfigMap), once there is one. */
export async function renderedHubConfig(cluster: TestCluster, namespace: string, hub: string): Promise<RenderedConfig | undefined> {
  const cm = await kubeClient(cluster).tryGet<{ data?: Record<string, string> }>(namespace, 'configmap', `${hub}-relay-config`);
  const text = cm?.data?.['config.json'];
  return text ? (JSON.parse(text) as RenderedConfig) : undefined;
}

export interface ObjectEvent { type: string; reason: string; note?: string; regarding?: { kind?: string; name?: string } }

/** eventsAbout - the events.k8s.io Events of the namespace about one object. */
export async function eventsAbout(cluster: TestCluster, namespace: string, kind: string, name: string): Promise<ObjectEvent[]> {
  const response = await kubeClient(cluster).request('GET', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`);
  if (response.status !== 200) throw new Error(`listing events in ${namespace}: HTTP ${response.status}: ${response.body}`);
  const items = (JSON.parse(response.body) as { items: ObjectEvent[] }).items;
  return items.filter((e) => e.regarding?.kind === kind && e.regarding.name === name);
}

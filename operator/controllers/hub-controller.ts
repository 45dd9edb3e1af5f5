/*
 * operator/controllers/hub-controller - reconciles one RelayHub: render its relay config from
 * the namespace (pure), apply the objects it owns (ConfigMap, StatefulSet, Services, PDB,
 * RBAC) with server-side apply, read back what the pods report, write status once.
 *
 * Level-triggered: the same steps whatever changed. The hub is Ready when every desired pod
 * is ready and runs the config hash just rendered; Progressing while they catch up; Degraded
 * when a connector could not be loaded (the reason is on the connector) or the config does
 * not fit a ConfigMap. Nothing here is half-applied: a config that cannot be stored is not
 * applied at all and the pods keep the previous one.
 *
 * For kstatus (Flux health checks): Reconciling=True while pods catch up (as Progressing),
 * Stalled=True when only a person can fix the hub: ConfigTooLarge, or a Secret the hub's own
 * spec names (tls.secretName, users.secretName) missing (SecretNotFound; the hub runs without
 * it). A connector that is not loaded stalls that connector, not the hub.
 */
import { API_GROUP_VERSION } from '../api/crds.ts';
import { renderHub } from '../render/render.ts';
import { configPayload, CONFIGMAP_LIMIT_BYTES } from '../resources/config-map.ts';
import { desiredHubObjects, type HubObjectOptions } from '../resources/hub-objects.ts';
import { reportedConfigHash } from '../resources/config-report.ts';
import { LABEL_HUB, SECRETS_MOUNT } from '../resources/names.ts';
import type { Applier } from '../runtime/apply.ts';
import { ConditionReason, setCondition, setKstatusConditions, type Condition, type KstatusProblem } from '../runtime/conditions.ts';
import { Controller } from '../runtime/controller.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { controllerOwnerKey, objectKey, splitKey, type KubeObject } from '../runtime/objects.ts';
import { WorkQueue } from '../runtime/workqueue.ts';
import type { ReceiveConnector } from '../api/types.generated.ts';
import { effectiveConnectorSpec } from '../render/receive-connectors.ts';
import { selectsHub } from '../render/selection.ts';
import { OWNED_KINDS, type Caches } from './caches.ts';
import { enqueueEach, type ControllerManager } from './watches.ts';
import { orphanedSpoolClaims, strandedMailCondition } from './stranded-mail.ts';
import { hubTokenSecret } from '../resources/hand-off-token.ts';

const OWNED_API_VERSION = new Map(OWNED_KINDS.map((k) => [k.kind, k.apiVersion]));
import type { HubRenderStore } from './hub-render-store.ts';

export interface HubControllerDeps {
  caches: Caches;
  applier: Applier;
  events: EventRecorder;
  renders: HubRenderStore;
  objectOptions: HubObjectOptions;
}


function podReady(pod: KubeObject): boolean {
  const conditions = (pod as { status?: { conditions?: Array<{ type: string; status: string }> } }).status?.conditions ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

export function createHubReconciler(deps: HubControllerDeps): (key: string) => Promise<void> {
  const { caches, applier, events, renders } = deps;
  /** Hubs whose token Secret this process created or found (a Secret selector may keep it out of the cache). */
  const tokenMade = new Set<string>();
  return async (key) => {
    const { namespace, name } = splitKey(key);
    const hub = caches.hubs.get(namespace, name);
    if (!hub || hub.metadata.deletionTimestamp) {
      renders.delete(key);
      tokenMade.delete(key);
      return;
    }
    const generation = hub.metadata.generation ?? 0;
    const objects = caches.namespaceObjects(namespace);
    const rendered = renderHub(hub, objects, { mode: 'pod', secretFile: (secret, file) => `${SECRETS_MOUNT}/${secret}/${file}` });
    const payload = configPayload(rendered.config);
    const tooLarge = payload.bytes > CONFIGMAP_LIMIT_BYTES;
    const previousHash = hub.status?.configHash;

    if (!tooLarge) {
      // The hand-off token is made once and never rewritten: pods that run mount it, and a new
      // value would lock a pod being scaled away out of the pods it hands its queue to.
      const tokenSecret = hubTokenSecret(hub);
      if (!tokenMade.has(key) && !caches.secrets.get(namespace, tokenSecret.metadata.name)) await applier.createIfAbsent(tokenSecret as unknown as KubeObject);
      tokenMade.add(key);
      const desiredObjects = desiredHubObjects(hub, rendered.config, deps.objectOptions);
      for (const desired of desiredObjects) {
        await applier.applyIfChanged(desired as KubeObject, caches.ownedObject(desired.kind, namespace, desired.metadata.name));
      }
      // What the hub owns but no longer wants goes: a Service of an address whose last binding
      // went away would otherwise keep pointing at a container port another listener now has.
      const wanted = new Set(desiredObjects.map((o) => `${o.kind}/${o.metadata.name}`));
      for (const [kind, informer] of caches.owned) {
        for (const object of informer.list(namespace)) {
          if (controllerOwnerKey(object, { group: 'relayoperator.io', kind: 'RelayHub' }) !== key) continue;
          if (wanted.has(`${kind}/${object.metadata?.name ?? ''}`) || object.metadata?.deletionTimestamp) continue;
          await applier.delete({ ...object, apiVersion: object.apiVersion ?? OWNED_API_VERSION.get(kind), kind });
        }
      }
    }
    const hash = tooLarge ? (previousHash ?? '') : rendered.hash;
    const pods = caches.pods.list(namespace).filter((p) => p.metadata?.labels?.[LABEL_HUB] === name && !p.metadata?.deletionTimestamp);
    const desiredReplicas = hub.spec.replicas ?? 2;
    const readyReplicas = pods.filter(podReady).length;
    // A pod is current when it is ready and its own report Lease (named like it) has this hash.
    const reportOf = (pod: KubeObject): string | undefined => reportedConfigHash(pod, caches.ownedObject('Lease', namespace, pod.metadata?.name ?? ''));
    const podsCurrent = pods.filter((p) => reportOf(p) === hash && podReady(p)).length;
    const live = podsCurrent >= desiredReplicas && readyReplicas >= desiredReplicas;
    renders.set(key, { hub: name, hash, generation, desiredReplicas, podsCurrent, readyReplicas, connectors: tooLarge ? [] : rendered.connectors });

    let conditions: Condition[] = (hub.status?.conditions ?? []);
    const now = new Date();
    let stalled: KstatusProblem | undefined;
    if (tooLarge) {
      const message = `rendered config is ${payload.bytes} bytes compressed, above the ConfigMap limit of ${CONFIGMAP_LIMIT_BYTES}; pods keep the previous config`;
      conditions = setCondition(conditions, { type: 'Ready', status: 'False', reason: 'ConfigTooLarge', message }, generation, now);
      conditions = setCondition(conditions, { type: 'Degraded', status: 'True', reason: 'ConfigTooLarge', message }, generation, now);
      stalled = { reason: ConditionReason.ConfigTooLarge, message };
    } else {
      const ownSecrets = rendered.problems.filter((p) => p.object === `RelayHub ${key}` && p.rule === 'missingSecret');
      if (ownSecrets.length > 0) stalled = { reason: ConditionReason.SecretNotFound, message: ownSecrets.map((p) => `${p.field}: ${p.message}`).join('; ').slice(0, 32_000) };
      const notLoaded = rendered.connectors.filter((c) => !c.loaded);
      conditions = setCondition(conditions, live
        ? { type: 'Ready', status: 'True', reason: 'PodsCurrent', message: `${podsCurrent}/${desiredReplicas} pods run config ${hash}` }
        : { type: 'Ready', status: 'False', reason: 'PodsNotCurrent', message: `${podsCurrent}/${desiredReplicas} pods run config ${hash} (${readyReplicas} ready)` }, generation, now);
      conditions = setCondition(conditions, live
        ? { type: 'Progressing', status: 'False', reason: 'PodsCurrent', message: 'every pod runs the current config' }
        : { type: 'Progressing', status: 'True', reason: 'RollingOut', message: `waiting for ${desiredReplicas - podsCurrent} pod(s) to load config ${hash}` }, generation, now);
      conditions = setCondition(conditions, notLoaded.length > 0
        ? { type: 'Degraded', status: 'True', reason: 'ConnectorsNotLoaded', message: notLoaded.map((c) => `${c.connectorId}: ${c.message ?? c.rule ?? ''}`).join('; ').slice(0, 32_000) }
        : { type: 'Degraded', status: 'False', reason: 'AllConnectorsLoaded', message: `${rendered.config.connectors.length} connector(s) loaded` }, generation, now);
    }
    const orphaned = orphanedSpoolClaims(name, desiredReplicas, caches.spoolClaims.list(namespace));
    const stranded = strandedMailCondition(name, orphaned);
    const strandedBefore = conditions.find((c) => c.type === stranded.type);
    conditions = setCondition(conditions, stranded, generation, now);
    if (stranded.status === 'True' && strandedBefore?.message !== stranded.message) {
      void events.record(hub, { type: 'Warning', reason: stranded.reason, action: 'ScaleDown', note: stranded.message });
    }
    conditions = setKstatusConditions(conditions, {
      stalled,
      reconciling: !tooLarge && !live ? { reason: ConditionReason.RollingOut, message: `waiting for ${desiredReplicas - podsCurrent} pod(s) to load config ${hash} (${readyReplicas} ready)` } : undefined,
      settled: { reason: 'PodsCurrent', message: `every pod runs config ${hash}` },
    }, generation, now);
    const addresses = rendered.config.listeners.reduce<Array<{ name: string; ip?: string; ports: number[] }>>((list, listener) => {
      let entry = list.find((a) => a.name === listener.addressName);
      if (!entry) {
        const service = caches.ownedObject('Service', namespace, `${name}-${listener.addressName}`) as { status?: { loadBalancer?: { ingress?: Array<{ ip?: string }> } } } | undefined;
        const ip = service?.status?.loadBalancer?.ingress?.[0]?.ip ?? (hub.spec.addresses ?? []).find((a) => a.name === listener.addressName)?.ip;
        entry = { name: listener.addressName, ...(ip ? { ip } : {}), ports: [] };
        list.push(entry);
      }
      if (!entry.ports.includes(listener.servicePort)) entry.ports.push(listener.servicePort);
      return list;
    }, []);
    const status = { observedGeneration: generation, replicas: pods.length, readyReplicas, configHash: hash, podsCurrent, addresses, conditions };
    await applier.applyStatusIfChanged<KubeObject & { status?: unknown }>({ apiVersion: API_GROUP_VERSION, kind: 'RelayHub', metadata: { name, namespace }, status }, hub);
    if (!tooLarge && previousHash !== hash) {
      void events.record(hub, { type: 'Normal', reason: 'ConfigRendered', action: 'Render', note: `config ${hash}: ${rendered.config.connectors.length} connector(s), ${rendered.config.listeners.length} listener(s)` });
    }
    if (tooLarge) void events.record(hub, { type: 'Warning', reason: 'ConfigTooLarge', action: 'Render', note: `rendered config does not fit a ConfigMap (${payload.bytes} bytes)` });
    renders.hubReconciled([...new Set(rendered.connectors.map((c) => c.connectorId))]);
  };
}

/**
 * setupHubController - the RelayHub controller and its watches (SetupWithManager):
 *   RelayHub          -> that hub
 *   ReceiveConnector  -> the hubs it selects now and selected before
 *   AcceptedDomain, SendConnector, Secret -> every hub of the namespace
 *   relay Pods        -> their hub (label)
 *   spool PVCs        -> their hub (label): StrandedMail (stranded-mail.ts)
 *   owned objects     -> their controller owner (a hub); the report Leases among them, so a
 *                        relay's report of the config it runs reaches the hub's status
 * and at start every hub.
 */
export function setupHubController(manager: ControllerManager, objectOptions: HubObjectOptions): Controller {
  const { caches, applier, events, renders } = manager;
  const queue = new WorkQueue({ name: 'relayhub' });
  const controller = new Controller({ name: 'relayhub', queue, reconcile: createHubReconciler({ caches, applier, events, renders, objectOptions }) });
  const hubsOfNamespace = (namespace: string | undefined): void => enqueueEach(queue, caches.hubs.list(namespace));
  caches.hubs.onChange((hub) => queue.add(objectKey(hub)));
  const selectedBefore = new Map<string, string[]>();
  caches.receiveConnectors.onChange((object) => {
    const key = objectKey(object);
    const connector = object as unknown as ReceiveConnector;
    const spec = effectiveConnectorSpec(connector);
    const now = caches.hubs.list(object.metadata?.namespace).filter((h) => selectsHub(spec, h)).map((h) => objectKey(h));
    for (const hubKey of new Set([...(selectedBefore.get(key) ?? []), ...now])) queue.add(hubKey);
    selectedBefore.set(key, now);
  });
  caches.acceptedDomains.onChange((o) => hubsOfNamespace(o.metadata?.namespace));
  caches.sendConnectors.onChange((o) => hubsOfNamespace(o.metadata?.namespace));
  caches.secrets.onChange((o) => hubsOfNamespace(o.metadata?.namespace));
  caches.pods.onChange((pod) => {
    const hub = pod.metadata?.labels?.[LABEL_HUB];
    if (hub && pod.metadata?.namespace) queue.add(`${pod.metadata.namespace}/${hub}`);
  });
  caches.spoolClaims.onChange((claim) => {
    const hub = claim.metadata?.labels?.[LABEL_HUB];
    if (hub && claim.metadata?.namespace) queue.add(`${claim.metadata.namespace}/${hub}`);
  });
  for (const informer of caches.owned.values()) {
    informer.onChange((o: KubeObject) => {
      const owner = controllerOwnerKey(o, { group: 'relayoperator.io', kind: 'RelayHub' });
      if (owner) queue.add(owner);
    });
  }
  hubsOfNamespace(manager.namespace);
  return controller;
}

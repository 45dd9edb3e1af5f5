/*
 * operator/controllers/connector-controller - the status of one ReceiveConnector, from what the
 * hub controller rendered and observed for every hub the connector selects.
 *
 * Per hub: the listeners (ip:port) it landed on, and ready = loaded there and every pod of
 * that hub runs the config containing it. Ready is True only when that holds on every
 * selected hub. Conflicted names the connector that keeps the listener. Reasons a person can
 * act on: NoHubSelected, NotLoaded (with the rule: unknownHubAddress, missingSecret, ...),
 * Propagating (pods still loading), Disabled, and the open-relay guardrails' own reasons
 * (NarrowerConnectorGrantsMore, with Conflicted naming the wider connector; OpenRelayNotAllowed;
 * ProtocolLoggingRequired), so `kubectl get` shows why a connector was refused.
 *
 * For kstatus (Flux health checks), which reads Ready=False as "in progress, wait": Stalled=True
 * when only a person can help (the connector is not loaded on some hub: SecretNotFound for a
 * missing Secret or key, Conflicted, a guardrail's reason, the rule otherwise, e.g.
 * UnknownHubAddress; NoHubSelected), Reconciling=True (Propagating) while hub pods load it.
 * Disabled is neither: Ready=False alone, so kstatus says InProgress (docs/gitops.md).
 * Warning (render/warnings.ts: rights that never apply, TLS without a certificate) is its own
 * condition, True with the first warning's reason and every message, False (NoWarnings)
 * otherwise, plus a Warning event when the set changes; kstatus does not read it.
 */
import { API_GROUP_VERSION } from '../api/crds.ts';
import { effectiveConnectorSpec } from '../render/receive-connectors.ts';
import { byPrecedence, selectsHub } from '../render/selection.ts';
import { connectorWarnings } from '../render/warnings.ts';
import type { Applier } from '../runtime/apply.ts';
import { ConditionReason, ConditionType, findCondition, setCondition, setKstatusConditions, type Condition, type KstatusProblem } from '../runtime/conditions.ts';
import { Controller } from '../runtime/controller.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { objectKey, splitKey, type KubeObject } from '../runtime/objects.ts';
import { WorkQueue } from '../runtime/workqueue.ts';
import type { Caches } from './caches.ts';
import { HubRenderStore } from './hub-render-store.ts';
import { enqueueEach, type ControllerManager } from './watches.ts';

export interface ConnectorControllerDeps {
  caches: Caches;
  applier: Applier;
  events: EventRecorder;
  renders: HubRenderStore;
}


interface HubEntry {
  name: string;
  bindings: string[];
  ready: boolean;
  reason?: string;
}

/** stalledReason - a render rule (camelCase, e.g. unknownHubAddress) as a condition reason. */
function stalledReason(rule: string | undefined): string {
  return rule ? `${rule.charAt(0).toUpperCase()}${rule.slice(1)}` : 'NotLoaded';
}

export function createConnectorReconciler(deps: ConnectorControllerDeps): (key: string) => Promise<{ requeueAfter?: number } | void> {
  const { caches, applier, events, renders } = deps;
  return async (key) => {
    const { namespace, name } = splitKey(key);
    const connector = caches.receiveConnectors.get(namespace, name);
    if (!connector || connector.metadata.deletionTimestamp) return;
    const generation = connector.metadata.generation ?? 0;
    const spec = effectiveConnectorSpec(connector);
    const hubs = caches.hubs.list(namespace).filter((h) => selectsHub(spec, h)).sort(byPrecedence);
    const entries: HubEntry[] = [];
    let conflictWith: string | undefined;
    let conflictMessage = '';
    // set when an open-relay guardrail (render/security.ts) left the connector out somewhere
    let guardReason: string | undefined;
    // the render rule of the first hub that left the connector out (missingSecret, ...)
    let notLoadedRule: string | undefined;
    let notRendered = false;
    for (const hub of hubs) {
      const observation = renders.get(`${namespace}/${hub.metadata.name ?? ''}`);
      if (!observation) {
        notRendered = true;
        entries.push({ name: hub.metadata.name ?? '', bindings: [], ready: false, reason: 'HubNotReconciledYet' });
        continue;
      }
      const onHub = observation.connectors.find((c) => c.connectorId === key);
      if (onHub && onHub.generation < generation) {
        // the hub has not rendered this generation yet: nothing about it is known
        notRendered = true;
        entries.push({ name: observation.hub, bindings: [], ready: false, reason: 'HubNotReconciledYet' });
        continue;
      }
      if (!onHub) {
        entries.push({ name: observation.hub, bindings: [], ready: false, reason: spec.enabled === false ? 'Disabled' : 'HubNotReconciledYet' });
        notRendered ||= spec.enabled !== false;
        continue;
      }
      if (!onHub.loaded) {
        guardReason ??= onHub.reason;
        notLoadedRule ??= onHub.rule;
        if (onHub.conflictsWith) {
          conflictWith = onHub.conflictsWith;
          conflictMessage = `hub ${observation.hub}: ${onHub.message ?? ''}`;
        }
        entries.push({ name: observation.hub, bindings: [], ready: false, reason: `${onHub.rule ?? 'NotLoaded'}: ${onHub.message ?? ''}` });
        continue;
      }
      const live = HubRenderStore.live(observation);
      entries.push({
        name: observation.hub,
        bindings: onHub.bindings,
        ready: live,
        ...(live ? {} : { reason: `Propagating: ${observation.podsCurrent}/${observation.desiredReplicas} pods run config ${observation.hash}` }),
      });
    }

    // Until every selected hub has rendered this generation, the status would say something
    // not yet known (Ready flapping on a restart, a new generation reported with the old
    // render): come back instead of writing.
    if (notRendered) return { requeueAfter: 1000 };
    const now = new Date();
    let conditions = (connector.status?.conditions ?? []) as Condition[];
    const allReady = entries.length > 0 && entries.every((e) => e.ready);
    let ready: { status: 'True' | 'False'; reason: string; message: string };
    if (spec.enabled === false) ready = { status: 'False', reason: 'Disabled', message: 'spec.enabled is false: the connector is rendered nowhere' };
    else if (hubs.length === 0) ready = { status: 'False', reason: 'NoHubSelected', message: `no RelayHub in ${namespace} matches spec.hubs/spec.hubSelector` };
    else if (allReady) ready = { status: 'True', reason: 'Live', message: `live on ${entries.map((e) => e.name).join(', ')}` };
    else {
      const failing = entries.filter((e) => !e.ready);
      const notLoaded = failing.find((e) => e.reason && !e.reason.startsWith('Propagating') && e.reason !== 'HubNotReconciledYet');
      ready = {
        status: 'False',
        reason: guardReason ?? (conflictWith ? 'Conflicted' : notLoaded ? 'NotLoaded' : notRendered ? 'Pending' : 'Propagating'),
        message: failing.map((e) => `${e.name}: ${e.reason ?? ''}`).join('; ').slice(0, 32_000),
      };
    }
    conditions = setCondition(conditions, { type: 'Ready', ...ready }, generation, now);
    let stalled: KstatusProblem | undefined;
    if (spec.enabled !== false && (hubs.length === 0 || entries.some((e) => !e.ready && e.reason !== undefined && !e.reason.startsWith('Propagating')))) {
      // Ready's own reason when it names the cause; for NotLoaded the render rule says more
      const reason = ready.reason !== 'NotLoaded' ? ready.reason : notLoadedRule === 'missingSecret' ? ConditionReason.SecretNotFound : stalledReason(notLoadedRule);
      stalled = { reason, message: ready.message };
    }
    conditions = setKstatusConditions(conditions, {
      stalled,
      reconciling: ready.reason === 'Propagating' ? { reason: ConditionReason.Propagating, message: ready.message } : undefined,
      settled: { reason: ready.reason, message: ready.message },
    }, generation, now);
    conditions = setCondition(conditions, conflictWith
      ? { type: 'Conflicted', status: 'True', reason: guardReason ?? 'ListenerConflict', message: `conflicts with ReceiveConnector ${conflictWith}: ${conflictMessage}`.slice(0, 32_000) }
      : { type: 'Conflicted', status: 'False', reason: 'NoConflict', message: 'no conflicting connector on its listeners' }, generation, now);
    // Warnings (render/warnings.ts) beside Ready, never instead of it: the connector still works.
    const warnings = spec.enabled === false ? [] : connectorWarnings(connector, hubs);
    const previousWarning = findCondition(conditions, ConditionType.Warning);
    const [firstWarning] = warnings;
    conditions = setCondition(conditions, firstWarning
      ? { type: ConditionType.Warning, status: 'True', reason: firstWarning.reason, message: warnings.map((w) => `${w.field}: ${w.message}`).join('; ').slice(0, 32_000) }
      : { type: ConditionType.Warning, status: 'False', reason: ConditionReason.NoWarnings, message: 'no warnings' }, generation, now);
    const warning = findCondition(conditions, ConditionType.Warning);
    const status = {
      observedGeneration: generation,
      remoteIPRangeCount: spec.remoteIPRanges?.length ?? 0,
      hubs: entries.map((e) => ({ name: e.name, bindings: e.bindings, ready: e.ready, ...(e.reason ? { reason: e.reason.slice(0, 1024) } : {}) })),
      conditions,
    };
    const result = await applier.applyStatusIfChanged<KubeObject & { status?: unknown }>({ apiVersion: API_GROUP_VERSION, kind: 'ReceiveConnector', metadata: { name, namespace }, status }, connector);
    if (result.applied && conflictWith) {
      void events.record(connector, { type: 'Warning', reason: 'Conflicted', action: 'Render', note: `conflicts with ${conflictWith}; not loaded` });
    }
    // One event per new set of warnings, not one per reconcile.
    if (result.applied && firstWarning && warning && (previousWarning?.status !== 'True' || previousWarning.message !== warning.message)) {
      void events.record(connector, { type: 'Warning', reason: firstWarning.reason, action: 'Validate', note: warning.message.slice(0, 1024) });
    }
  };
}

/**
 * setupConnectorController - the ReceiveConnector controller and its watches (SetupWithManager):
 *   ReceiveConnector -> itself
 *   RelayHub         -> every ReceiveConnector of the namespace
 *   a hub reconciled -> the connectors on it (HubRenderStore.onHubReconciled)
 * and at start every connector.
 */
export function setupConnectorController(manager: ControllerManager): Controller {
  const { caches, applier, events, renders } = manager;
  const queue = new WorkQueue({ name: 'receiveconnector' });
  const controller = new Controller({ name: 'receiveconnector', queue, reconcile: createConnectorReconciler({ caches, applier, events, renders }) });
  caches.receiveConnectors.onChange((o) => queue.add(objectKey(o)));
  caches.hubs.onChange((hub) => enqueueEach(queue, caches.receiveConnectors.list(hub.metadata?.namespace)));
  renders.onHubReconciled((keys) => keys.forEach((k) => queue.add(k)));
  enqueueEach(queue, caches.receiveConnectors.list(manager.namespace));
  return controller;
}

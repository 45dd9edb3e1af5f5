/*
 * operator/controllers/send-connector-controller - the Ready condition of one SendConnector:
 * which hubs deliver through it and, if none or not as its spec says, why.
 *
 * The rules are render's own (render/send-connectors.ts: which hubs it is on, which Secret
 * keys it needs, its maxMessageSize), so the status says what the hubs' configs hold.
 *
 * Ready=True, Rendered: in the config of the hubs the message names. Whether their pods run
 * that config yet is each RelayHub's Ready: the render store records receive connectors per
 * hub, not send connectors, so this status does not claim it.
 * Ready=False, reasons a person can act on (the first applies, the message lists all):
 *   InvalidSpec     spec.maxMessageSize is no quantity: the hubs selecting it cannot render
 *   NoHubSelected   no RelayHub of the namespace matches spec.hubs/spec.hubSelector
 *   SecretNotFound  spec.authentication.secretName names a Secret that is missing or lacks
 *                   username or password (the message says which): left out of every hub
 *   HubNotFound     spec.hubs names a RelayHub that does not exist (it is on the others)
 */
import type { RelayHub, SendConnector } from '../api/types.generated.ts';
import type { SecretObject } from '../render/inputs.ts';
import { missingSecretKeys, secretNotFound } from '../render/secret-keys.ts';
import { SEND_CONNECTOR_SECRET_KEYS, selectsEveryHub, sendConnectorMaxMessageSize, sendConnectorSelectsHub } from '../render/send-connectors.ts';
import { byPrecedence } from '../render/selection.ts';
import type { Applier } from '../runtime/apply.ts';
import { ConditionReason, readyVerdict, type ReadyVerdict } from '../runtime/conditions.ts';
import { Controller, type ReconcileResult } from '../runtime/controller.ts';
import { objectKey, splitKey } from '../runtime/objects.ts';
import { WorkQueue } from '../runtime/workqueue.ts';
import type { Caches } from './caches.ts';
import { applyReadyStatus } from './ready-status.ts';
import { enqueueEach, hubPresenceOrLabelsChanged, type ControllerManager } from './watches.ts';

export interface SendConnectorControllerDeps {
  caches: Caches;
  applier: Applier;
}

export interface SendConnectorStatusInputs {
  namespace: string;
  connector: SendConnector;
  /** The RelayHubs of the namespace (not being deleted). */
  hubs: readonly RelayHub[];
  /** The Secrets of the namespace (those with the label, with a Secret label selector). */
  secrets: readonly SecretObject[];
  /** The operator's Secret label selector, if it has one (Caches.secretSelector). */
  secretSelector?: string;
}

/** missingSecretProblem - why render leaves the connector out for its Secret, or undefined. */
function missingSecretProblem(namespace: string, secretName: string, secrets: readonly SecretObject[], secretSelector: string | undefined): string | undefined {
  // missingSecretKeys reads only the Secrets of what it is given
  const objects = { namespace, hubs: [], receiveConnectors: [], acceptedDomains: [], sendConnectors: [], secrets: [...secrets], ...(secretSelector !== undefined ? { secretSelector } : {}) };
  const { exists, missing } = missingSecretKeys(objects, secretName, SEND_CONNECTOR_SECRET_KEYS);
  if (!exists) {
    return secretNotFound(objects, secretName, 'spec.authentication.secretName');
  }
  if (missing.length === 0) return undefined;
  return `Secret ${secretName} (spec.authentication.secretName) has no key ${missing.map((k) => `"${k}"`).join(' and no key ')}`;
}

/** decideSendConnectorStatus - the Ready condition of one SendConnector (pure). */
export function decideSendConnectorStatus(inputs: SendConnectorStatusInputs): ReadyVerdict {
  const { namespace, connector, hubs, secrets, secretSelector } = inputs;
  const spec = connector.spec;
  const selected = hubs.filter((h) => sendConnectorSelectsHub(spec, h)).sort(byPrecedence).map((h) => h.metadata.name ?? '');
  const unknownHubs = (spec.hubs ?? []).filter((name) => !hubs.some((h) => h.metadata.name === name));
  const unknownText = unknownHubs.length > 0 ? `spec.hubs names RelayHub ${unknownHubs.join(', ')}, not found in namespace ${namespace}` : '';
  const problems: Array<{ reason: ConditionReason; message: string }> = [];

  try {
    sendConnectorMaxMessageSize(spec);
  } catch (error) {
    const blocked = selected.length > 0 ? `: RelayHub ${selected.join(', ')} leaves the connector out until it is fixed` : '';
    problems.push({ reason: ConditionReason.InvalidSpec, message: `spec.maxMessageSize: ${(error as Error).message}${blocked}` });
  }
  if (selected.length === 0) {
    const why = selectsEveryHub(spec)
      ? `no RelayHub in namespace ${namespace} (without spec.hubs and spec.hubSelector it goes to every hub there)`
      : `no RelayHub in namespace ${namespace} matches spec.hubs/spec.hubSelector${unknownText ? ` (${unknownText})` : ''}`;
    problems.push({ reason: ConditionReason.NoHubSelected, message: why });
  }
  const secretName = spec.authentication?.secretName;
  const secretProblem = secretName ? missingSecretProblem(namespace, secretName, secrets, secretSelector) : undefined;
  if (secretProblem) {
    problems.push({ reason: ConditionReason.SecretNotFound, message: `${secretProblem}: every hub leaves the connector out until the Secret has keys username and password` });
  }
  if (selected.length > 0 && unknownText) {
    problems.push({ reason: ConditionReason.HubNotFound, message: `${unknownText}; on ${selected.join(', ')} only` });
  }

  return readyVerdict(problems, { reason: ConditionReason.Rendered, message: `in the config of RelayHub ${selected.join(', ')}` });
}

export function createSendConnectorReconciler(deps: SendConnectorControllerDeps): (key: string) => Promise<ReconcileResult | void> {
  const { caches, applier } = deps;
  return async (key) => {
    const { namespace, name } = splitKey(key);
    const connector = caches.sendConnectors.get(namespace, name);
    if (!connector || connector.metadata.deletionTimestamp) return;
    const ready = decideSendConnectorStatus({
      namespace,
      connector,
      hubs: caches.hubs.list(namespace).filter((h) => !h.metadata.deletionTimestamp),
      secrets: caches.secrets.list(namespace) as unknown as SecretObject[],
      ...(caches.secretSelector !== undefined ? { secretSelector: caches.secretSelector } : {}),
    });
    await applyReadyStatus(applier, 'SendConnector', { namespace, name }, connector, ready);
  };
}

/**
 * setupSendConnectorController - the SendConnector controller and its watches (SetupWithManager):
 *   SendConnector -> itself
 *   RelayHub      -> every SendConnector of the namespace, when a hub comes, goes or changes
 *                    its labels
 *   Secret        -> the SendConnectors naming it (the status reads only that Secret)
 * and at start every send connector.
 */
export function setupSendConnectorController(manager: ControllerManager): Controller {
  const { caches, applier } = manager;
  const queue = new WorkQueue({ name: 'sendconnector' });
  const controller = new Controller({ name: 'sendconnector', queue, reconcile: createSendConnectorReconciler({ caches, applier }) });
  caches.sendConnectors.onChange((o) => queue.add(objectKey(o)));
  const hubChanged = hubPresenceOrLabelsChanged(caches);
  caches.hubs.onChange((hub) => {
    if (hubChanged(hub)) enqueueEach(queue, caches.sendConnectors.list(hub.metadata?.namespace));
  });
  caches.secrets.onChange((o) => {
    for (const send of caches.sendConnectors.list(o.metadata?.namespace)) {
      if (send.spec.authentication?.secretName === o.metadata?.name) queue.add(objectKey(send));
    }
  });
  enqueueEach(queue, caches.sendConnectors.list(manager.namespace));
  return controller;
}

/*
 * operator/controllers/watches - what every controller's setup gets from the manager, and the
 * watch helpers more than one of them uses (controller-runtime's SetupWithManager: each
 * controller file declares the events it reconciles on; the manager only starts them).
 *
 * Watch handlers only enqueue keys of the controller's own kind; the reconcilers read the
 * caches, so an event says "look again", never what changed.
 */
import type { Applier } from '../runtime/apply.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { objectKey, type KubeObject } from '../runtime/objects.ts';
import type { WorkQueue } from '../runtime/workqueue.ts';
import type { Caches } from './caches.ts';
import type { HubRenderStore } from './hub-render-store.ts';

/** ControllerManager - the shared caches and clients a controller is set up with. */
export interface ControllerManager {
  caches: Caches;
  applier: Applier;
  events: EventRecorder;
  renders: HubRenderStore;
  /** The namespace watched; undefined = all. Every object in it is enqueued at start. */
  namespace: string | undefined;
}

/** enqueueEach - add the key of every object to the queue. */
export function enqueueEach(queue: WorkQueue, objects: Iterable<KubeObject>): void {
  for (const object of objects) queue.add(objectKey(object));
}

/**
 * hubPresenceOrLabelsChanged - a predicate true when a RelayHub event shows the hub come, go
 * or change its labels: what the AcceptedDomain and SendConnector statuses read of a hub
 * (that it exists, and its labels for hubSelector). The hub's own status writes change
 * neither, so they do not re-enqueue those controllers. Each caller keeps its own memory.
 */
export function hubPresenceOrLabelsChanged(caches: Caches): (hub: KubeObject) => boolean {
  const hubSeenAs = new Map<string, string>();
  return (hub) => {
    const key = objectKey(hub);
    const [namespace, name] = [hub.metadata?.namespace ?? '', hub.metadata?.name ?? ''];
    const seenAs = caches.hubs.get(namespace, name) ? JSON.stringify(hub.metadata?.labels ?? {}) : 'gone';
    if (hubSeenAs.get(key) === seenAs) return false;
    if (seenAs === 'gone') hubSeenAs.delete(key);
    else hubSeenAs.set(key, seenAs);
    return true;
  };
}

/*
 * operator/controllers/manager - the operator process: caches, two controllers, leader
 * election, health and metrics (controller-runtime's manager, small).
 *
 * Every replica runs the caches and answers /healthz and /readyz (ready once caches synced);
 * only the leader (Lease relay-operator) runs the controllers, so two replicas never both
 * write. Losing the lease stops the controllers and exits 1; SIGTERM stops them, releases the
 * lease and exits 0. Watch handlers only enqueue keys:
 *   RelayHub                  -> that hub
 *   ReceiveConnector          -> the hubs it selects now and selected before, and itself
 *   AcceptedDomain, SendConnector, Secret -> every hub of the namespace
 *   owned objects             -> their controller owner (a hub)
 *   relay Pods                -> their hub (label)
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { effectiveConnectorSpec } from '../render/render.ts';
import { selectsHub } from '../render/selection.ts';
import type { ReceiveConnector } from '../api/types.generated.ts';
import { DEFAULT_HUB_OBJECT_OPTIONS, type HubObjectOptions } from '../resources/hub-objects.ts';
import { LABEL_HUB } from '../resources/names.ts';
import { Applier } from '../runtime/apply.ts';
import { Controller } from '../runtime/controller.ts';
import { EventRecorder } from '../runtime/events.ts';
import { HealthServer } from '../runtime/health.ts';
import { LeaderElector } from '../runtime/leader-election.ts';
import { controllerOwnerKey, objectKey, type KubeObject } from '../runtime/objects.ts';
import { WorkQueue } from '../runtime/workqueue.ts';
import { appLog } from '../../relay/log/protocol-log.ts';
import { Caches } from './caches.ts';
import { createConnectorReconciler } from './connector-controller.ts';
import { createHubReconciler } from './hub-controller.ts';
import { HubRenderStore } from './hub-render-store.ts';

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  /** Watch one namespace; undefined = all. */
  namespace?: string;
  leaseNamespace: string;
  identity?: string;
  metricsHost: string;
  metricsPort: number;
  objectOptions?: HubObjectOptions;
  /** Shorter lease timings for tests. */
  lease?: { durationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
}

export class Manager {
  readonly #options: ManagerOptions;
  readonly caches: Caches;
  readonly #health: HealthServer;
  readonly #elector: LeaderElector;
  #controllers: Controller[] = [];
  #stopping = false;

  constructor(options: ManagerOptions) {
    this.#options = options;
    this.caches = new Caches(options.kubeConfig, options.namespace);
    this.#health = new HealthServer({ port: options.metricsPort, host: options.metricsHost });
    for (const informer of this.caches.all()) this.#health.addInformer(informer.path, informer);
    const identity = options.identity ?? `${process.env.POD_NAME ?? hostname()}_${randomUUID().slice(0, 8)}`;
    this.#elector = new LeaderElector({
      kubeConfig: options.kubeConfig,
      namespace: options.leaseNamespace,
      name: 'relay-operator',
      identity,
      ...(options.lease ? { leaseDurationMs: options.lease.durationMs, renewDeadlineMs: options.lease.renewDeadlineMs, retryPeriodMs: options.lease.retryPeriodMs } : {}),
      onStartedLeading: () => {
        appLog('info', 'leader election won: starting controllers', { identity });
        this.#startControllers();
      },
      onStoppedLeading: (reason) => {
        if (reason === 'lost') {
          appLog('error', 'leader election lost: stopping', { identity });
          void this.#stopControllers().then(() => process.exit(1));
        }
      },
    });
  }

  async run(): Promise<void> {
    await this.#health.listen();
    await this.caches.start();
    appLog('info', 'caches synced', { namespace: this.#options.namespace ?? '(all)' });
    void this.#elector.run();
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await this.#stopControllers();
    await this.#elector.stop({ release: true });
    this.caches.stop();
    await this.#health.close();
  }

  #startControllers(): void {
    const caches = this.caches;
    const applier = new Applier({ kubeConfig: this.#options.kubeConfig });
    const events = new EventRecorder({ kubeConfig: this.#options.kubeConfig, reportingController: 'relay-operator' });
    const renders = new HubRenderStore();
    const hubQueue = new WorkQueue({ name: 'relayhub' });
    const connectorQueue = new WorkQueue({ name: 'receiveconnector' });
    const hubReconcile = createHubReconciler({
      caches, applier, events, renders,
      objectOptions: this.#options.objectOptions ?? { ...DEFAULT_HUB_OBJECT_OPTIONS, ...(process.env.RELAY_IMAGE ? { defaultImage: process.env.RELAY_IMAGE } : {}) },
      connectorsChanged: (keys) => keys.forEach((k) => connectorQueue.add(k)),
    });
    const hubController = new Controller({ name: 'relayhub', queue: hubQueue, reconcile: hubReconcile });
    const connectorController = new Controller({ name: 'receiveconnector', queue: connectorQueue, reconcile: createConnectorReconciler({ caches, applier, events, renders }) });

    const hubsOfNamespace = (namespace: string | undefined): void => {
      for (const hub of caches.hubs.list(namespace)) hubQueue.add(objectKey(hub));
    };
    const selectedBefore = new Map<string, string[]>();
    caches.hubs.onChange((hub) => {
      hubQueue.add(objectKey(hub));
      for (const connector of caches.receiveConnectors.list(hub.metadata?.namespace)) connectorQueue.add(objectKey(connector));
    });
    caches.receiveConnectors.onChange((object) => {
      const key = objectKey(object);
      const connector = object as unknown as ReceiveConnector;
      const spec = effectiveConnectorSpec(connector);
      const now = caches.hubs.list(object.metadata?.namespace).filter((h) => selectsHub(spec, h)).map((h) => objectKey(h));
      for (const hubKey of new Set([...(selectedBefore.get(key) ?? []), ...now])) hubQueue.add(hubKey);
      selectedBefore.set(key, now);
      connectorQueue.add(key);
    });
    caches.acceptedDomains.onChange((o) => hubsOfNamespace(o.metadata?.namespace));
    caches.sendConnectors.onChange((o) => hubsOfNamespace(o.metadata?.namespace));
    caches.secrets.onChange((o) => hubsOfNamespace(o.metadata?.namespace));
    caches.pods.onChange((pod) => {
      const hub = pod.metadata?.labels?.[LABEL_HUB];
      if (hub && pod.metadata?.namespace) hubQueue.add(`${pod.metadata.namespace}/${hub}`);
    });
    for (const informer of caches.owned.values()) {
      informer.onChange((o: KubeObject) => {
        const owner = controllerOwnerKey(o, { group: 'relayoperator.io', kind: 'RelayHub' });
        if (owner) hubQueue.add(owner);
      });
    }
    hubsOfNamespace(this.#options.namespace);
    for (const connector of caches.receiveConnectors.list(this.#options.namespace)) connectorQueue.add(objectKey(connector));
    this.#controllers = [hubController, connectorController];
    for (const controller of this.#controllers) controller.start();
  }

  async #stopControllers(): Promise<void> {
    const controllers = this.#controllers;
    this.#controllers = [];
    await Promise.all(controllers.map((c) => c.stop()));
  }
}

/*
 * operator/controllers/manager - the operator process: caches, four controllers (RelayHub,
 * ReceiveConnector, AcceptedDomain, SendConnector), leader election, health and metrics
 * (controller-runtime's manager, small).
 *
 * Every replica runs the caches and answers /healthz and /readyz (ready once caches synced);
 * only the leader (Lease relay-operator) runs the controllers, so two replicas never both
 * write. Losing the lease stops the controllers and exits 1; SIGTERM stops them, releases the
 * lease and exits 0. Watch handlers only enqueue keys:
 *   RelayHub                  -> that hub and every ReceiveConnector of the namespace; the
 *                                namespace's AcceptedDomains and SendConnectors when a hub
 *                                comes, goes or changes its labels
 *   ReceiveConnector          -> the hubs it selects now and selected before, and itself
 *   AcceptedDomain            -> every hub and every AcceptedDomain of the namespace (a
 *                                duplicate domain or default involves the others)
 *   SendConnector             -> every hub of the namespace, and itself
 *   Secret                    -> every hub of the namespace, and the SendConnectors naming it
 *   owned objects             -> their controller owner (a hub)
 *   relay Pods                -> their hub (label)
 * At start every hub and every connector and domain is enqueued.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { effectiveConnectorSpec } from '../render/receive-connectors.ts';
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
import { createAcceptedDomainReconciler } from './accepted-domain-controller.ts';
import { createSendConnectorReconciler } from './send-connector-controller.ts';

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
    const domainQueue = new WorkQueue({ name: 'accepteddomain' });
    const sendQueue = new WorkQueue({ name: 'sendconnector' });
    const hubReconcile = createHubReconciler({
      caches, applier, events, renders,
      objectOptions: this.#options.objectOptions ?? { ...DEFAULT_HUB_OBJECT_OPTIONS, ...(process.env.RELAY_IMAGE ? { defaultImage: process.env.RELAY_IMAGE } : {}) },
      connectorsChanged: (keys) => keys.forEach((k) => connectorQueue.add(k)),
    });
    const hubController = new Controller({ name: 'relayhub', queue: hubQueue, reconcile: hubReconcile });
    const connectorController = new Controller({ name: 'receiveconnector', queue: connectorQueue, reconcile: createConnectorReconciler({ caches, applier, events, renders }) });
    const domainController = new Controller({ name: 'accepteddomain', queue: domainQueue, reconcile: createAcceptedDomainReconciler({ caches, applier }) });
    const sendController = new Controller({ name: 'sendconnector', queue: sendQueue, reconcile: createSendConnectorReconciler({ caches, applier }) });

    const hubsOfNamespace = (namespace: string | undefined): void => {
      for (const hub of caches.hubs.list(namespace)) hubQueue.add(objectKey(hub));
    };
    const domainsOfNamespace = (namespace: string | undefined): void => {
      for (const domain of caches.acceptedDomains.list(namespace)) domainQueue.add(objectKey(domain));
    };
    const sendConnectorsOfNamespace = (namespace: string | undefined): void => {
      for (const send of caches.sendConnectors.list(namespace)) sendQueue.add(objectKey(send));
    };
    const selectedBefore = new Map<string, string[]>();
    // what domain and send connector statuses read of a hub: that it exists, and its labels
    // (hubSelector); its own status writes change neither, so they do not re-enqueue them
    const hubSeenAs = new Map<string, string>();
    caches.hubs.onChange((hub) => {
      const key = objectKey(hub);
      hubQueue.add(key);
      for (const connector of caches.receiveConnectors.list(hub.metadata?.namespace)) connectorQueue.add(objectKey(connector));
      const [namespace, name] = [hub.metadata?.namespace ?? '', hub.metadata?.name ?? ''];
      const seenAs = caches.hubs.get(namespace, name) ? JSON.stringify(hub.metadata?.labels ?? {}) : 'gone';
      if (hubSeenAs.get(key) === seenAs) return;
      if (seenAs === 'gone') hubSeenAs.delete(key);
      else hubSeenAs.set(key, seenAs);
      domainsOfNamespace(hub.metadata?.namespace);
      sendConnectorsOfNamespace(hub.metadata?.namespace);
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
    caches.acceptedDomains.onChange((o) => {
      hubsOfNamespace(o.metadata?.namespace);
      domainsOfNamespace(o.metadata?.namespace);
    });
    caches.sendConnectors.onChange((o) => {
      hubsOfNamespace(o.metadata?.namespace);
      sendQueue.add(objectKey(o));
    });
    caches.secrets.onChange((o) => {
      hubsOfNamespace(o.metadata?.namespace);
      // the send connector status reads only the Secret its spec names
      for (const send of caches.sendConnectors.list(o.metadata?.namespace)) {
        if (send.spec.authentication?.secretName === o.metadata?.name) sendQueue.add(objectKey(send));
      }
    });
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
    domainsOfNamespace(this.#options.namespace);
    sendConnectorsOfNamespace(this.#options.namespace);
    this.#controllers = [hubController, connectorController, domainController, sendController];
    for (const controller of this.#controllers) controller.start();
  }

  async #stopControllers(): Promise<void> {
    const controllers = this.#controllers;
    this.#controllers = [];
    await Promise.all(controllers.map((c) => c.stop()));
  }
}

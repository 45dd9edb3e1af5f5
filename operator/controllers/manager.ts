/*
 * operator/controllers/manager - the operator process: caches, four controllers (RelayHub,
 * ReceiveConnector, AcceptedDomain, SendConnector), leader election, health and metrics
 * (controller-runtime's manager, small).
 *
 * Every replica runs the caches and answers /healthz and /readyz (ready once caches synced);
 * only the leader (Lease relay-operator) runs the controllers, so two replicas never both
 * write. Losing the lease stops the controllers and exits 1; SIGTERM stops them, releases the
 * lease and exits 0. Each controller file declares its watches (setup*Controller, the shape
 * of controller-runtime's SetupWithManager); watch handlers only enqueue keys, and at start
 * every hub, connector and domain is enqueued.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_HUB_OBJECT_OPTIONS, type HubObjectOptions } from '../resources/hub-objects.ts';
import { Applier } from '../runtime/apply.ts';
import type { Controller } from '../runtime/controller.ts';
import { EventRecorder } from '../runtime/events.ts';
import { HealthServer } from '../runtime/health.ts';
import { LeaderElector } from '../runtime/leader-election.ts';
import { appLog } from '../../relay/log/protocol-log.ts';
import { setupAcceptedDomainController } from './accepted-domain-controller.ts';
import { Caches } from './caches.ts';
import { setupConnectorController } from './connector-controller.ts';
import { setupHubController } from './hub-controller.ts';
import { HubRenderStore } from './hub-render-store.ts';
import { setupSendConnectorController } from './send-connector-controller.ts';
import type { ControllerManager } from './watches.ts';

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  /** Watch one namespace; undefined = all. */
  namespace?: string;
  /** Cache only the Secrets with these labels (Caches, --secret-selector). */
  secretSelector?: string;
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
    this.caches = new Caches(options.kubeConfig, options.namespace, options);
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
    // Each controller declares its own watches in its setup function (controller-runtime's
    // SetupWithManager); the manager builds what they share and starts them.
    const manager: ControllerManager = {
      caches: this.caches,
      applier: new Applier({ kubeConfig: this.#options.kubeConfig }),
      events: new EventRecorder({ kubeConfig: this.#options.kubeConfig, reportingController: 'relay-operator' }),
      renders: new HubRenderStore(),
      namespace: this.#options.namespace,
    };
    // In this order, so that the handlers of one event run in it too: the hub's first.
    this.#controllers = [
      setupHubController(manager, this.#options.objectOptions ?? { ...DEFAULT_HUB_OBJECT_OPTIONS, ...(process.env.RELAY_IMAGE ? { defaultImage: process.env.RELAY_IMAGE } : {}) }),
      setupConnectorController(manager),
      setupAcceptedDomainController(manager),
      setupSendConnectorController(manager),
    ];
    for (const controller of this.#controllers) controller.start();
  }

  async #stopControllers(): Promise<void> {
    const controllers = this.#controllers;
    this.#controllers = [];
    await Promise.all(controllers.map((c) => c.stop()));
  }
}

/*
 * operator/controllers/hub-render-store - what the hub controller last rendered and observed
 * per hub, read by the connector controller for per-hub status. In memory only: after a
 * restart every hub is reconciled again before connectors report (they requeue until then).
 * It is also the source the connector controller watches for "a hub was reconciled" (as
 * controller-runtime's source.Channel), so neither controller enqueues into the other's queue.
 */
import type { ConnectorOnHub } from '../render/result.ts';

export interface HubObservation {
  hub: string;
  hash: string;
  generation: number;
  desiredReplicas: number;
  podsCurrent: number;
  readyReplicas: number;
  connectors: ConnectorOnHub[];
}

export class HubRenderStore {
  readonly #byHub = new Map<string, HubObservation>();
  readonly #reconciledHandlers = new Set<(connectorKeys: string[]) => void>();

  /** onHubReconciled - call handler with the connector keys on a hub after each of its reconciles. */
  onHubReconciled(handler: (connectorKeys: string[]) => void): void {
    this.#reconciledHandlers.add(handler);
  }

  /** hubReconciled - the hub controller has written a hub's status; its connectors may report now. */
  hubReconciled(connectorKeys: string[]): void {
    for (const handler of this.#reconciledHandlers) handler(connectorKeys);
  }

  set(key: string, observation: HubObservation): void {
    this.#byHub.set(key, observation);
  }

  get(key: string): HubObservation | undefined {
    return this.#byHub.get(key);
  }

  delete(key: string): void {
    this.#byHub.delete(key);
  }

  /** live - every pod of the hub runs the config it was last rendered with. */
  static live(observation: HubObservation): boolean {
    return observation.podsCurrent >= observation.desiredReplicas && observation.readyReplicas >= observation.desiredReplicas;
  }
}

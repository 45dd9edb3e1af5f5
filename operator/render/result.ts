/*
 * operator/render/result - what render reports beside the config: per connector, whether a
 * hub loaded it and, if not, why; per object, the problems a person can act on. Shared by the
 * per-kind renders (receive-connectors.ts, send-connectors.ts, ...) and renderHub.
 */

/** Where the relay finds the data of a Secret key (a mounted volume, or files standalone mode wrote). */
export type SecretFileResolver = (secretName: string, key: string) => string;

export interface ConnectorOnHub {
  connectorId: string;
  /** metadata.generation of the connector this render saw. */
  generation: number;
  hub: string;
  loaded: boolean;
  bindings: string[];
  /** Stable rule name when not loaded (conflict, unknownHubAddress, missingSecret, ...). */
  rule?: string;
  message?: string;
  /** For conflicts: the connector that keeps the listener. */
  conflictsWith?: string;
  /**
   * CamelCase condition reason for the connector's Ready (and Conflicted) status when a
   * security guardrail left it out (NarrowerConnectorGrantsMore, OpenRelayNotAllowed,
   * ProtocolLoggingRequired); absent for the other rules.
   */
  reason?: string;
}

export interface RenderProblem {
  object: string;
  field: string;
  rule: string;
  message: string;
}

export interface RenderOptions {
  secretFile: SecretFileResolver;
  /**
   * standalone (default): bind every listener literally (`relay-operator hub`). pod: bind
   * 0.0.0.0 on one container port per listener, POD_LISTENER_PORT_BASE upwards in listener
   * order, so the pod knows which hub address and port a connection reached through the
   * Service that targets that container port.
   */
  mode?: 'standalone' | 'pod';
}

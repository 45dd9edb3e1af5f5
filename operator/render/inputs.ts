/*
 * operator/render/inputs - the objects one namespace holds, sorted into kinds.
 *
 * Both entry points fill this: the CLI from manifest files (standalone mode, validate) and
 * the controller from its caches. Render is a pure function of it.
 */
import type { AcceptedDomain, ReceiveConnector, RelayHub, SendConnector } from '../api/types.generated.ts';

export interface SecretObject {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace?: string };
  /** base64 values, as in the API. */
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export interface NamespaceObjects {
  namespace: string;
  hubs: RelayHub[];
  receiveConnectors: ReceiveConnector[];
  acceptedDomains: AcceptedDomain[];
  sendConnectors: SendConnector[];
  secrets: SecretObject[];
  /**
   * The label selector `secrets` was listed with (the operator's --secret-selector), so a
   * Secret missing from it may exist without the label; undefined when every Secret is read.
   */
  secretSelector?: string;
}

/** secretValue - decoded value of one key, or undefined when the Secret or key is missing. */
export function secretValue(objects: NamespaceObjects, name: string, key: string): Buffer | undefined {
  const secret = objects.secrets.find((s) => s.metadata.name === name);
  if (!secret) return undefined;
  if (secret.stringData?.[key] !== undefined) return Buffer.from(secret.stringData[key]);
  if (secret.data?.[key] !== undefined) return Buffer.from(secret.data[key], 'base64');
  return undefined;
}

/** objectKey - `namespace/name`, the id used in configs and logs. */
export function objectKey(namespace: string, name: string | undefined): string {
  return `${namespace}/${name ?? ''}`;
}

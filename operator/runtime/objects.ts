/*
 * operator/runtime/objects - the object shape the runtime caches, and key helpers.
 *
 * Cached objects are the API server's JSON as received (timestamps are strings, even where
 * client-node's model classes say Date), deep-frozen: copy with structuredClone() to modify.
 * Keys are `namespace/name`, or `name` for cluster-scoped objects (client-go's MetaNamespaceKey).
 */

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  apiVersion?: string;
  fieldsType?: string;
  fieldsV1?: object;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** The metadata fields the runtime reads (client-node's V1ObjectMeta is assignable to it). */
export interface KubeObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: { [key: string]: string };
  annotations?: { [key: string]: string };
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  creationTimestamp?: string;
  deletionTimestamp?: string;
  managedFields?: ManagedFieldsEntry[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: KubeObjectMeta;
}

/** objectKey - `namespace/name`, or `name` for a cluster-scoped object. */
export function objectKey(obj: KubeObject): string {
  const name = obj.metadata?.name ?? '';
  const namespace = obj.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

/** splitKey - the inverse of objectKey; namespace is '' for cluster-scoped keys. */
export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/**
 * controllerOwnerKey - the key of the object's controlling owner (ownerReference with
 * controller: true) when it is of the given kind and API group, else undefined. A namespaced
 * owner lives in the object's namespace, so the key takes that namespace.
 */
export function controllerOwnerKey(obj: KubeObject, owner: { group: string; kind: string; clusterScoped?: boolean }): string | undefined {
  const ref = obj.metadata?.ownerReferences?.find((r) => r.controller === true);
  if (!ref || ref.kind !== owner.kind) return undefined;
  const group = ref.apiVersion.includes('/') ? ref.apiVersion.slice(0, ref.apiVersion.indexOf('/')) : '';
  if (group !== owner.group) return undefined;
  const namespace = owner.clusterScoped ? undefined : obj.metadata?.namespace;
  return namespace ? `${namespace}/${ref.name}` : ref.name;
}

/** deepFreeze - freezes a JSON value in place and returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

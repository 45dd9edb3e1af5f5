/*
 * operator/runtime/apply - every object write of the operator: server-side apply with one field
 * manager, `relay-operator`, force: true (we own what we send; a conflicting field is taken back).
 *
 * Children (ConfigMaps, Services, StatefulSets, ...) go through KubernetesObjectApi.patch with
 * PatchStrategy.ServerSideApply passed explicitly (its default, strategic merge, is refused by
 * CRDs, and the generated patch* methods default to json-patch). Status of our custom resources
 * goes to the status subresource (CustomObjectsApi.patch*CustomObjectStatus with the SSA
 * Content-Type set by setHeaderOptions), under the SAME manager: managedFields entries are kept
 * per (manager, operation, subresource), so the main-resource and status applies never release
 * each other's fields; a second manager name is not needed.
 * applyIfChanged / applyStatusIfChanged skip the request when the cached object shows it would
 * change nothing (managed-fields.ts), so a no-op resync writes nothing.
 * Every request is counted in relay_operator_api_writes_total{verb,resource}.
 * Returned objects are client-node's deserialized models (timestamps may be Date objects).
 */
import {
  ApiException, CustomObjectsApi, KubernetesObjectApi, PatchStrategy, setHeaderOptions, type KubeConfig, type KubernetesObject,
} from '@kubernetes/client-node';
import { apiWritesMetric, defaultRegistry, type Registry } from './metrics.ts';
import { applyWouldChange } from './managed-fields.ts';
import { RuntimeArgumentError } from './errors.ts';
import type { KubeObject } from './objects.ts';
import type { Counter } from 'prom-client';

export const FIELD_MANAGER = 'relay-operator';

export interface ApplierOptions {
  kubeConfig: KubeConfig;
  /** Field manager (default relay-operator). */
  fieldManager?: string;
  registry?: Registry;
}

export interface ApplyOutcome<T> {
  /** Whether a request was sent. */
  applied: boolean;
  /** The server's answer when applied, else the cached object. */
  object: T;
}

/** KubernetesObjectApi that also tells the plural of a kind (discovery, cached per apiVersion). */
class ObjectApi extends KubernetesObjectApi {
  static make(kc: KubeConfig): ObjectApi {
    const api = kc.makeApiClient(ObjectApi);
    api.setDefaultNamespace(kc);
    return api;
  }

  async plural(apiVersion: string, kind: string): Promise<string> {
    const resource = await this.resource(apiVersion, kind);
    if (!resource) throw new RuntimeArgumentError(`unknown kind ${kind} in ${apiVersion}`);
    return resource.name;
  }
}

function identity(obj: KubeObject): { apiVersion: string; kind: string; name: string; namespace?: string } {
  const { apiVersion, kind } = obj;
  const name = obj.metadata?.name;
  if (!apiVersion || !kind || !name) throw new RuntimeArgumentError('apply: object needs apiVersion, kind and metadata.name');
  return { apiVersion, kind, name, namespace: obj.metadata?.namespace };
}

export class Applier {
  readonly fieldManager: string;
  readonly #objects: ObjectApi;
  readonly #custom: CustomObjectsApi;
  readonly #writes: Counter<'verb' | 'resource'>;

  constructor(options: ApplierOptions) {
    this.fieldManager = options.fieldManager ?? FIELD_MANAGER;
    this.#objects = ObjectApi.make(options.kubeConfig);
    this.#custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.#writes = apiWritesMetric(options.registry ?? defaultRegistry);
  }

  /** apply - server-side apply of desired (apiVersion, kind, metadata.name; no resourceVersion). */
  async apply<T extends KubeObject>(desired: T): Promise<T> {
    const id = identity(desired);
    this.#writes.inc({ verb: 'apply', resource: await this.#objects.plural(id.apiVersion, id.kind) });
    const body = { ...desired, metadata: { ...desired.metadata } } as KubernetesObject;
    return (await this.#objects.patch(body, undefined, undefined, this.fieldManager, true, PatchStrategy.ServerSideApply)) as T;
  }

  /** applyIfChanged - apply unless the cached object shows it would be a no-op. */
  async applyIfChanged<T extends KubeObject>(desired: T, cached: T | undefined): Promise<ApplyOutcome<T>> {
    if (cached && !applyWouldChange(desired, cached, this.fieldManager)) return { applied: false, object: cached };
    return { applied: true, object: await this.apply(desired) };
  }

  /**
   * applyStatus - server-side apply to the status subresource of a custom resource. Send
   * apiVersion, kind, metadata.name (+namespace) and the whole status we own: fields we
   * applied before and leave out are removed.
   */
  async applyStatus<T extends KubeObject & { status?: unknown }>(desired: T): Promise<T> {
    const id = identity(desired);
    const [group, version] = id.apiVersion.split('/');
    if (!group || !version) throw new RuntimeArgumentError(`applyStatus: ${id.apiVersion} is not a custom resource group/version`);
    const plural = await this.#objects.plural(id.apiVersion, id.kind);
    this.#writes.inc({ verb: 'apply', resource: `${plural}/status` });
    const metadata = id.namespace ? { name: id.name, namespace: id.namespace } : { name: id.name };
    const body = { apiVersion: id.apiVersion, kind: id.kind, metadata, status: desired.status };
    const common = { group, version, plural, name: id.name, body, fieldManager: this.fieldManager, force: true };
    const options = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
    const result: unknown = id.namespace
      ? await this.#custom.patchNamespacedCustomObjectStatus({ ...common, namespace: id.namespace }, options)
      : await this.#custom.patchClusterCustomObjectStatus(common, options);
    return result as T;
  }

  /** applyStatusIfChanged - applyStatus unless the cached object shows it would be a no-op. */
  async applyStatusIfChanged<T extends KubeObject & { status?: unknown }>(desired: T, cached: T | undefined): Promise<ApplyOutcome<T>> {
    if (cached && !applyWouldChange(desired, cached, this.fieldManager, 'status')) return { applied: false, object: cached };
    return { applied: true, object: await this.applyStatus(desired) };
  }

  /**
   * createIfAbsent - create the object unless one of that name exists; never overwrites (a
   * generated credential, operator/resources/hand-off-token.ts). True when it was created.
   */
  async createIfAbsent(obj: KubeObject): Promise<boolean> {
    const id = identity(obj);
    this.#writes.inc({ verb: 'create', resource: await this.#objects.plural(id.apiVersion, id.kind) });
    try {
      await this.#objects.create(obj as KubernetesObject, undefined, undefined, this.fieldManager);
      return true;
    } catch (error) {
      if (error instanceof ApiException && error.code === 409) return false;
      throw error;
    }
  }

  /** delete - delete the object (background propagation); false if it was already gone. */
  async delete(obj: KubeObject): Promise<boolean> {
    const id = identity(obj);
    this.#writes.inc({ verb: 'delete', resource: await this.#objects.plural(id.apiVersion, id.kind) });
    try {
      await this.#objects.delete({ apiVersion: id.apiVersion, kind: id.kind, metadata: { name: id.name, namespace: id.namespace } },
        undefined, undefined, undefined, undefined, 'Background');
      return true;
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return false;
      throw error;
    }
  }
}

/*
 * operator/controllers/caches - the informers the controllers read, and the namespace view
 * that render takes.
 *
 * Custom resources, Secrets, relay Pods and their spool PVCs are watched in the operator's namespace (or all);
 * owned kinds only with the managed-by label, so the caches hold what the operator wrote
 * and applyIfChanged can compare against them. Secrets are cached without their values
 * (secretKeysOnly): render and the status controllers only ask whether a key exists. With a
 * Secret label selector (--secret-selector, the chart's secretLabelSelector) the Secret
 * informer lists and watches only the labelled Secrets, so no other Secret's values reach the
 * operator at all; render then names the label when a Secret it needs is not there.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION } from '../api/crds.ts';
import type { AcceptedDomain, ReceiveConnector, RelayHub, SendConnector } from '../api/types.generated.ts';
import type { NamespaceObjects, SecretObject } from '../render/inputs.ts';
import { Informer, resourcePath } from '../runtime/informer.ts';
import type { KubeObject } from '../runtime/objects.ts';
import { LABEL_MANAGED_BY, MANAGER } from '../resources/names.ts';

export interface OwnedKind {
  apiVersion: string;
  kind: string;
  group: string;
  version: string;
  plural: string;
}

export const OWNED_KINDS: OwnedKind[] = [
  { apiVersion: 'v1', kind: 'ConfigMap', group: '', version: 'v1', plural: 'configmaps' },
  { apiVersion: 'v1', kind: 'Service', group: '', version: 'v1', plural: 'services' },
  { apiVersion: 'v1', kind: 'ServiceAccount', group: '', version: 'v1', plural: 'serviceaccounts' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', group: 'apps', version: 'v1', plural: 'statefulsets' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', group: 'policy', version: 'v1', plural: 'poddisruptionbudgets' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings' },
  { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', group: 'coordination.k8s.io', version: 'v1', plural: 'leases' },
];

type Cr<T> = T & KubeObject;

export interface CachesOptions {
  /** Cache only the Secrets with these labels (`key=value[,key=value]`); omitted = every Secret. */
  secretSelector?: string;
}

/** A Secret as the API sends it, with the parts secretKeysOnly reads. */
interface SecretLike extends KubeObject {
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/**
 * secretKeysOnly - the Secret the operator keeps: name, namespace, resourceVersion, uid,
 * labels, type and the key names of data, each mapped to ''. No value, and no annotations
 * (kubectl's last-applied-configuration annotation holds the whole Secret, values included)
 * and no managedFields.
 *
 * Why key names and not a metadata-only informer: render (requireSecretKeys) and the
 * SendConnector status say "Secret X has no key Y", which PartialObjectMetadata cannot tell;
 * secretValue() of a kept key is an empty Buffer, so "present" still reads as present. Why
 * not a GET per referenced name: the operator would then need a watch per name to notice a
 * Secret appearing, and list/watch RBAC is needed for the informer anyway. The LIST and watch
 * responses still carry the values over the wire (RBAC cannot grant list without data); this
 * transform runs on each object as it is parsed, before it is stored, so no value outlives the
 * response that carried it. The relay pods read the values from their mounted volumes.
 */
export function secretKeysOnly(obj: KubeObject): KubeObject {
  const secret = obj as SecretLike;
  const meta = secret.metadata ?? {};
  const keys = [...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})];
  const kept: SecretLike = {
    apiVersion: secret.apiVersion ?? 'v1',
    kind: secret.kind ?? 'Secret',
    metadata: {
      ...(meta.name !== undefined ? { name: meta.name } : {}),
      ...(meta.namespace !== undefined ? { namespace: meta.namespace } : {}),
      ...(meta.uid !== undefined ? { uid: meta.uid } : {}),
      ...(meta.resourceVersion !== undefined ? { resourceVersion: meta.resourceVersion } : {}),
      ...(meta.labels !== undefined ? { labels: meta.labels } : {}),
      ...(meta.deletionTimestamp !== undefined ? { deletionTimestamp: meta.deletionTimestamp } : {}),
    },
    ...(secret.type !== undefined ? { type: secret.type } : {}),
    data: Object.fromEntries(keys.map((key) => [key, ''])),
  };
  return kept;
}

export class Caches {
  readonly hubs: Informer<Cr<RelayHub>>;
  readonly receiveConnectors: Informer<Cr<ReceiveConnector>>;
  readonly acceptedDomains: Informer<Cr<AcceptedDomain>>;
  readonly sendConnectors: Informer<Cr<SendConnector>>;
  readonly secrets: Informer<KubeObject>;
  readonly pods: Informer<KubeObject>;
  /** The hubs' spool PVCs (the volumeClaimTemplate's label): orphaned ones give StrandedMail (stranded-mail.ts). */
  readonly spoolClaims: Informer<KubeObject>;
  readonly owned = new Map<string, Informer<KubeObject>>();
  /** The label selector of the Secret informer (key=value pairs); undefined = every Secret. */
  readonly secretSelector: string | undefined;

  constructor(kubeConfig: KubeConfig, namespace: string | undefined, options: CachesOptions = {}) {
    const ns = namespace ? { namespace } : {};
    this.secretSelector = options.secretSelector;
    const custom = (plural: string) => ({ kubeConfig, path: resourcePath({ group: API_GROUP, version: API_VERSION, plural, ...ns }) });
    this.hubs = new Informer(custom('relayhubs'));
    this.receiveConnectors = new Informer(custom('receiveconnectors'));
    this.acceptedDomains = new Informer(custom('accepteddomains'));
    this.sendConnectors = new Informer(custom('sendconnectors'));
    this.secrets = new Informer({
      kubeConfig,
      path: resourcePath({ group: '', version: 'v1', plural: 'secrets', ...ns }),
      ...(options.secretSelector !== undefined ? { labelSelector: options.secretSelector } : {}),
      transform: secretKeysOnly,
    });
    this.pods = new Informer({ kubeConfig, path: resourcePath({ group: '', version: 'v1', plural: 'pods', ...ns }), labelSelector: 'app.kubernetes.io/name=relay' });
    this.spoolClaims = new Informer({ kubeConfig, path: resourcePath({ group: '', version: 'v1', plural: 'persistentvolumeclaims', ...ns }), labelSelector: 'app.kubernetes.io/name=relay' });
    for (const kind of OWNED_KINDS) {
      this.owned.set(kind.kind, new Informer({ kubeConfig, path: resourcePath({ group: kind.group, version: kind.version, plural: kind.plural, ...ns }), labelSelector: `${LABEL_MANAGED_BY}=${MANAGER}` }));
    }
  }

  all(): Array<Informer<KubeObject>> {
    return [this.hubs, this.receiveConnectors, this.acceptedDomains, this.sendConnectors, this.secrets, this.pods, this.spoolClaims, ...this.owned.values()] as Array<Informer<KubeObject>>;
  }

  async start(): Promise<void> {
    await Promise.all(this.all().map((informer) => informer.start()));
  }

  stop(): void {
    for (const informer of this.all()) informer.stop();
  }

  /** namespaceObjects - what render needs for one namespace, straight from the caches. */
  namespaceObjects(namespace: string): NamespaceObjects {
    return {
      namespace,
      hubs: this.hubs.list(namespace),
      receiveConnectors: this.receiveConnectors.list(namespace),
      acceptedDomains: this.acceptedDomains.list(namespace),
      sendConnectors: this.sendConnectors.list(namespace),
      secrets: this.secrets.list(namespace) as unknown as SecretObject[],
      ...(this.secretSelector !== undefined ? { secretSelector: this.secretSelector } : {}),
    };
  }

  ownedObject(kind: string, namespace: string, name: string): KubeObject | undefined {
    return this.owned.get(kind)?.get(namespace, name);
  }
}

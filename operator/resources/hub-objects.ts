/*
 * operator/resources/hub-objects - every object a RelayHub owns, as pure functions of the hub
 * and its rendered config: ConfigMap, StatefulSet (+ headless Service), one Service per hub
 * address, PodDisruptionBudget, ServiceAccount, Role and RoleBinding, and one report Lease per
 * pod (the relay writes the config hash it runs into it; the operator reads it).
 *
 * The pod template changes only when a restart is truly needed (image, listeners and their
 * container ports, mounted Secrets, pod knobs): connector, domain and limit changes reach the
 * pods through the ConfigMap, which the relay reloads without restart.
 */
import { createHash } from 'node:crypto';
import type { RenderedConfig } from '../../relay/config/schema.ts';
import type { RelayHub } from '../api/types.generated.ts';
import { API_GROUP_VERSION } from '../api/crds.ts';
import { hubAddresses } from '../render/bindings.ts';
import { configPayload, CONFIG_FILE } from './config-map.ts';
import {
  ANNOTATION_RESTART_HASH, CONFIG_MOUNT, HAND_OFF_TOKEN_KEY, HAND_OFF_TOKEN_MOUNT, METRICS_PORT, RELAY_UID, SECRETS_MOUNT, SPOOL_MOUNT, commonLabels, hubNames, podLabels,
} from './names.ts';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: unknown[] };
  [field: string]: unknown;
}

export interface HubObjectOptions {
  /** Relay image when the hub names none (the operator's own image). */
  defaultImage: string;
  /** Seconds the relay drains before exit; the pod's grace period is above it. */
  drainSeconds: number;
}

export const DEFAULT_HUB_OBJECT_OPTIONS: HubObjectOptions = {
  defaultImage: 'ghcr.io/relay-operator/relay-operator:0.1.0',
  drainSeconds: 60,
};

function ownerReference(hub: RelayHub): unknown {
  return { apiVersion: API_GROUP_VERSION, kind: 'RelayHub', name: hub.metadata.name, uid: hub.metadata.uid, controller: true, blockOwnerDeletion: true };
}

/** referencedSecrets - Secret names the relay reads (mounted, never copied). */
export function referencedSecrets(config: RenderedConfig): string[] {
  const names = new Set<string>();
  const add = (file: string | null | undefined): void => {
    const match = file ? new RegExp(`^${SECRETS_MOUNT}/([^/]+)/`).exec(file) : null;
    if (match?.[1]) names.add(match[1]);
  };
  add(config.hub.tls?.certFile);
  add(config.hub.usersFile);
  for (const c of config.connectors) {
    add(c.tls.files?.certFile);
    add(c.tls.clientCAFile);
  }
  for (const s of config.sendConnectors) add(s.authFile);
  return [...names].sort();
}

/**
 * relayPodNames - the pods of the hub's StatefulSet: <sts>-0 .. <sts>-(replicas-1) (ordinals
 * start at 0: the StatefulSet sets no spec.ordinals). Each pod's report Lease has its name.
 */
export function relayPodNames(statefulSet: string, replicas: number): string[] {
  return Array.from({ length: Math.max(0, replicas) }, (_, ordinal) => `${statefulSet}-${ordinal}`);
}

/**
 * relayReportRules - what a relay pod may do with the API: merge-patch its own report Lease
 * (coordination.k8s.io, named like the pod; operator/cli/relay-command.ts writes the config
 * hash it runs there), nothing else. The operator creates those Leases, so the relay needs no
 * create (which RBAC cannot limit to a name) and no access to any pod. A ServiceAccount is
 * shared by the hub's pods, so "its own" is the StatefulSet's pod names; the Role is re-applied
 * with the hub, so a scale-up names the new Leases before the StatefulSet (applied after the
 * Role) creates the pods. The worst a relay - the Internet-facing process - can do with it is
 * misreport its own hub's convergence. No replicas, no rule: an empty resourceNames would mean
 * every Lease of the namespace.
 */
export function relayReportRules(statefulSet: string, replicas: number): Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames: string[] }> {
  if (replicas <= 0) return [];
  return [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['patch'], resourceNames: relayPodNames(statefulSet, replicas) }];
}

/**
 * relayHandOffRules - get on the hub's own StatefulSet, by name: on SIGTERM a pod reads
 * spec.replicas to tell a scale-down (hand its queue to the remaining pods) from a restart
 * (operator/resources/hand-off.ts). Read-only, one object; what it shows (replicas, the pod
 * template) the pod mostly runs already.
 */
export function relayHandOffRules(statefulSet: string): Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames: string[] }> {
  return [{ apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get'], resourceNames: [statefulSet] }];
}

export function desiredHubObjects(hub: RelayHub, config: RenderedConfig, options: HubObjectOptions = DEFAULT_HUB_OBJECT_OPTIONS): KubeObject[] {
  const name = hub.metadata.name ?? '';
  const namespace = hub.metadata.namespace ?? 'default';
  const names = hubNames(name);
  const labels = commonLabels(name);
  const meta = (objectName: string, extra: Record<string, unknown> = {}): KubeObject['metadata'] =>
    ({ name: objectName, namespace, labels, ownerReferences: [ownerReference(hub)], ...extra });
  const secrets = referencedSecrets(config);
  const image = hub.spec.image ?? options.defaultImage;
  const containerPorts = config.listeners.map((l, i) => ({ name: `smtp-${i}`, containerPort: l.port, protocol: 'TCP' }));
  const podKnobs = {
    nodeSelector: hub.spec.nodeSelector, tolerations: hub.spec.tolerations, affinity: hub.spec.affinity,
    priorityClassName: hub.spec.priorityClassName, podLabels: hub.spec.podLabels, podAnnotations: hub.spec.podAnnotations,
    resources: hub.spec.resources, imagePullPolicy: hub.spec.imagePullPolicy, imagePullSecrets: hub.spec.imagePullSecrets,
  };
  const restartHash = createHash('sha256').update(JSON.stringify({ image, containerPorts, secrets, podKnobs })).digest('hex').slice(0, 16);
  const payload = configPayload(config);

  const configMap: KubeObject = {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(names.configMap),
    ...(payload.data ? { data: payload.data } : {}), ...(payload.binaryData ? { binaryData: payload.binaryData } : {}),
  };

  const statefulSet: KubeObject = {
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: meta(names.statefulSet),
    spec: {
      replicas: hub.spec.replicas ?? 2,
      serviceName: names.headlessService,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: podLabels(name) },
      template: {
        metadata: { labels: { ...(hub.spec.podLabels ?? {}), ...podLabels(name) }, annotations: { ...(hub.spec.podAnnotations ?? {}), [ANNOTATION_RESTART_HASH]: restartHash } },
        spec: {
          serviceAccountName: names.serviceAccount,
          terminationGracePeriodSeconds: options.drainSeconds + 15,
          securityContext: { runAsNonRoot: true, runAsUser: RELAY_UID, runAsGroup: RELAY_UID, fsGroup: RELAY_UID, seccompProfile: { type: 'RuntimeDefault' } },
          ...(hub.spec.nodeSelector ? { nodeSelector: hub.spec.nodeSelector } : {}),
          ...(hub.spec.tolerations ? { tolerations: hub.spec.tolerations } : {}),
          ...(hub.spec.affinity ? { affinity: hub.spec.affinity } : {}),
          ...(hub.spec.priorityClassName ? { priorityClassName: hub.spec.priorityClassName } : {}),
          ...(hub.spec.imagePullSecrets?.length ? { imagePullSecrets: hub.spec.imagePullSecrets } : {}),
          containers: [{
            name: 'relay',
            image,
            ...(hub.spec.imagePullPolicy ? { imagePullPolicy: hub.spec.imagePullPolicy } : {}),
            args: ['relay', '--config', `${CONFIG_MOUNT}/${CONFIG_FILE}`, '--spool', SPOOL_MOUNT, '--metrics-addr', `0.0.0.0:${METRICS_PORT}`, '--grace-period', String(options.drainSeconds),
              '--hand-off-token-file', `${HAND_OFF_TOKEN_MOUNT}/${HAND_OFF_TOKEN_KEY}`],
            env: [
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
            ],
            ports: [...containerPorts, { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' }],
            ...(hub.spec.resources ? { resources: hub.spec.resources } : {}),
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' }, periodSeconds: 5 },
            livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 10, failureThreshold: 6 },
            volumeMounts: [
              { name: 'config', mountPath: CONFIG_MOUNT, readOnly: true },
              { name: 'spool', mountPath: SPOOL_MOUNT },
              { name: 'tmp', mountPath: '/tmp' },
              { name: 'queue-token', mountPath: HAND_OFF_TOKEN_MOUNT, readOnly: true },
              ...secrets.map((s) => ({ name: `secret-${s}`.slice(0, 63), mountPath: `${SECRETS_MOUNT}/${s}`, readOnly: true })),
            ],
          }],
          volumes: [
            { name: 'config', configMap: { name: names.configMap } },
            { name: 'tmp', emptyDir: {} },
            { name: 'queue-token', secret: { secretName: names.queueTokenSecret, defaultMode: 0o440 } },
            ...secrets.map((s) => ({ name: `secret-${s}`.slice(0, 63), secret: { secretName: s, defaultMode: 0o440 } })),
          ],
        },
      },
      volumeClaimTemplates: [{
        metadata: { name: 'spool', labels: podLabels(name) },
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: String(hub.spec.queue?.storage?.size ?? '1Gi') } },
          ...(hub.spec.queue?.storage?.storageClassName ? { storageClassName: hub.spec.queue.storage.storageClassName } : {}),
        },
      }],
    },
  };

  const headless: KubeObject = {
    apiVersion: 'v1', kind: 'Service', metadata: meta(names.headlessService),
    spec: { clusterIP: 'None', selector: podLabels(name), ports: [{ name: 'metrics', port: METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' }] },
  };

  const service = hub.spec.service ?? {};
  const serviceType = service.type ?? 'LoadBalancer';
  const addressServices: KubeObject[] = hubAddresses(hub).flatMap((address) => {
    const listeners = config.listeners.map((l, i) => ({ l, i })).filter(({ l }) => l.addressName === address.name);
    if (listeners.length === 0) return [];
    const annotations: Record<string, string> = { ...(service.annotations ?? {}) };
    if (address.ip) annotations['metallb.io/loadBalancerIPs'] = address.ip;
    return [{
      apiVersion: 'v1', kind: 'Service',
      metadata: meta(names.addressService(address.name), { ...(Object.keys(annotations).length > 0 ? { annotations } : {}), labels: { ...labels, 'relayoperator.io/address': address.name } }),
      spec: {
        type: serviceType,
        selector: podLabels(name),
        ...(serviceType !== 'ClusterIP' ? { externalTrafficPolicy: service.externalTrafficPolicy ?? 'Local' } : {}),
        ...(service.loadBalancerClass && serviceType === 'LoadBalancer' ? { loadBalancerClass: service.loadBalancerClass } : {}),
        ...(address.ip && service.useLoadBalancerIPField && serviceType === 'LoadBalancer' ? { loadBalancerIP: address.ip } : {}),
        // A pinned address names its family: on a dual-stack cluster an IPv6 address needs an
        // IPv6 Service (the default family is the cluster's first).
        ...(address.ip ? { ipFamilyPolicy: 'SingleStack', ipFamilies: [address.ip.includes(':') ? 'IPv6' : 'IPv4'] } : {}),
        ports: listeners.map(({ l, i }) => ({ name: `smtp-${l.servicePort}`, port: l.servicePort, targetPort: `smtp-${i}`, protocol: 'TCP' })),
      },
    }];
  });

  const pdb: KubeObject = {
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: meta(names.pdb),
    spec: { maxUnavailable: 1, selector: { matchLabels: podLabels(name) } },
  };
  const serviceAccount: KubeObject = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(names.serviceAccount), automountServiceAccountToken: true };
  const role: KubeObject = {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(names.role),
    rules: [...relayReportRules(names.statefulSet, hub.spec.replicas ?? 2), ...relayHandOffRules(names.statefulSet)],
  };
  // Empty until the relay reports: the operator owns labels and owner, the relay (another field
  // manager) spec.holderIdentity, spec.renewTime and the config-hash annotation.
  const reportLeases: KubeObject[] = relayPodNames(names.statefulSet, hub.spec.replicas ?? 2).map((pod) => ({
    apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: meta(pod),
  }));
  const roleBinding: KubeObject = {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta(names.role),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: names.role },
    subjects: [{ kind: 'ServiceAccount', name: names.serviceAccount, namespace }],
  };
  return [configMap, serviceAccount, role, roleBinding, ...reportLeases, headless, ...addressServices, statefulSet, pdb];
}


/*
 * operator/render/selection - which hubs a connector selects, and in what order connectors win.
 */
import type { ReceiveConnector, RelayHub } from '../api/types.generated.ts';

type Selector = NonNullable<ReceiveConnector['spec']['hubSelector']>;

/** matchesSelector - Kubernetes label-selector semantics (matchLabels and matchExpressions). */
export function matchesSelector(labels: Record<string, string> | undefined, selector: Selector): boolean {
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (have[key] !== value) return false;
  }
  for (const requirement of selector.matchExpressions ?? []) {
    const value = have[requirement.key];
    const values = requirement.values ?? [];
    switch (requirement.operator) {
      case 'In':
        if (value === undefined || !values.includes(value)) return false;
        break;
      case 'NotIn':
        if (value !== undefined && values.includes(value)) return false;
        break;
      case 'Exists':
        if (value === undefined) return false;
        break;
      case 'DoesNotExist':
        if (value !== undefined) return false;
        break;
    }
  }
  return true;
}

/** selectsHub - true when the connector names the hub or its selector matches the hub's labels. */
export function selectsHub(spec: { hubs?: string[]; hubSelector?: Selector }, hub: RelayHub): boolean {
  if (spec.hubs?.includes(hub.metadata.name ?? '')) return true;
  return spec.hubSelector !== undefined && matchesSelector(hub.metadata.labels, spec.hubSelector);
}

/** byPrecedence - earlier-created first, then name: the earlier connector keeps a contested listener. */
export function byPrecedence<T extends { metadata: { name?: string; creationTimestamp?: string } }>(a: T, b: T): number {
  const at = a.metadata.creationTimestamp ?? '';
  const bt = b.metadata.creationTimestamp ?? '';
  if (at !== bt) return at < bt ? -1 : 1;
  return (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

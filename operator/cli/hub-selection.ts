/*
 * operator/cli/hub-selection - loads manifests for `render`, `explain` and `hub`, and finds the
 * hub they name. Any manifest error stops the command with exit 2 (file, object, field, rule).
 */
import { existsSync } from 'node:fs';
import { formatProblem } from '../manifests/load.ts';
import type { RelayHub } from '../api/types.generated.ts';
import type { NamespaceObjects } from '../render/inputs.ts';
import { validateManifests } from '../validate/validate.ts';
import { FlagError } from './flags.ts';
import { RelayError } from '../../relay/common/errors.ts';

export class ManifestError extends RelayError {
  constructor(message: string) { super('RELAY_ERR_MANIFEST', message); }
}

export function loadHub(command: string, paths: string[], hubName: string, namespace?: string): { hub: RelayHub; objects: NamespaceObjects } {
  if (paths.length === 0) throw new FlagError(`relay-operator ${command}: --manifests is required`);
  const missing = paths.filter((path) => !existsSync(path));
  if (missing.length > 0) throw new ManifestError(missing.map((path) => `relay-operator ${command}: --manifests ${path}: no such file or directory`).join('\n'));
  // Problems render finds (a conflict, an unknown hub address) leave that connector out of the
  // hub and are reported by the caller's own render of it; they do not stop the hub.
  const result = validateManifests(paths, { renderHubs: false });
  const errors = result.problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) throw new ManifestError(errors.map((p) => formatProblem(p)).join('\n'));
  const matches = [...result.namespaces.values()].flatMap((objects) =>
    objects.hubs.filter((h) => h.metadata.name === hubName && (!namespace || objects.namespace === namespace)).map((hub) => ({ hub, objects })),
  );
  const names = [...result.namespaces.values()].flatMap((o) => o.hubs.map((h) => `${o.namespace}/${h.metadata.name ?? ''}`));
  if (matches.length === 0) throw new ManifestError(`${paths.join(' ')}: no RelayHub named ${hubName}${namespace ? ` in namespace ${namespace}` : ''} (found: ${names.join(', ') || 'none'})`);
  if (matches.length > 1) throw new FlagError(`relay-operator ${command}: RelayHub ${hubName} exists in several namespaces; add --namespace`);
  const match = matches[0];
  if (!match) throw new ManifestError(`no RelayHub ${hubName}`);
  return match;
}

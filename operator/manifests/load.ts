/*
 * operator/manifests/load - reads YAML manifests from files and directories.
 *
 * Every document keeps where it came from (file, document index) so that each error can
 * name the file, the object and the field. Directories are read recursively, *.yaml and
 * *.yml only, in sorted order so results are stable. Empty documents are skipped.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface ManifestSource {
  file: string;
  /** 0-based position of the document in its file. */
  document: number;
}

export interface LoadedManifest {
  source: ManifestSource;
  object: Record<string, unknown>;
}

export interface ManifestProblem {
  source: ManifestSource;
  /** `Kind namespace/name`, or `document N` when the object cannot be named. */
  object: string;
  field: string;
  rule: string;
  message: string;
}

export interface LoadResult {
  manifests: LoadedManifest[];
  problems: ManifestProblem[];
}

function manifestFiles(path: string): string[] {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) throw new Error(`${path}: no such file or directory`);
  if (stat.isFile()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => {
      const child = join(path, name);
      const childStat = statSync(child);
      if (childStat.isDirectory()) return manifestFiles(child);
      return /\.ya?ml$/.test(name) ? [child] : [];
    });
}

/** manifestFilesOf - the YAML files under the given paths (files and directories). */
export function manifestFilesOf(paths: string[]): string[] {
  return paths.flatMap(manifestFiles);
}

/** describeObject - `Kind namespace/name` for messages. */
export function describeObject(object: Record<string, unknown> | undefined, source: ManifestSource): string {
  const metadata = (object?.metadata ?? {}) as { name?: unknown; namespace?: unknown };
  const kind = typeof object?.kind === 'string' ? object.kind : 'object';
  const name = typeof metadata.name === 'string' ? metadata.name : `(document ${source.document + 1}, no name)`;
  const namespace = typeof metadata.namespace === 'string' ? `${metadata.namespace}/` : '';
  return `${kind} ${namespace}${name}`;
}

/** loadManifests - every YAML document under the given paths, with YAML syntax problems. */
export function loadManifests(paths: string[]): LoadResult {
  const manifests: LoadedManifest[] = [];
  const problems: ManifestProblem[] = [];
  for (const file of paths.flatMap(manifestFiles)) {
    const documents = parseAllDocuments(readFileSync(file, 'utf8'));
    documents.forEach((document, index) => {
      const source = { file, document: index };
      if (document.errors.length > 0) {
        for (const error of document.errors) {
          problems.push({ source, object: `document ${index + 1}`, field: '', rule: 'yamlSyntax', message: error.message });
        }
        return;
      }
      const value: unknown = document.toJS();
      if (value === null || value === undefined) return;
      if (typeof value !== 'object' || Array.isArray(value)) {
        problems.push({ source, object: `document ${index + 1}`, field: '', rule: 'objectExpected', message: 'a manifest must be a YAML mapping' });
        return;
      }
      manifests.push({ source, object: value as Record<string, unknown> });
    });
  }
  return { manifests, problems };
}

/** formatProblem - `file (document N): Kind ns/name: field: message (rule R)`. */
export function formatProblem(problem: ManifestProblem): string {
  const where = `${problem.source.file}${problem.source.document > 0 ? ` (document ${problem.source.document + 1})` : ''}`;
  const field = problem.field ? `${problem.field}: ` : '';
  const rule = problem.message.includes(`(rule ${problem.rule})`) ? '' : ` (rule ${problem.rule})`;
  return `${where}: ${problem.object}: ${field}${problem.message}${rule}`;
}

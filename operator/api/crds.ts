/*
 * operator/api/crds - the CustomResourceDefinitions in crds/, loaded once.
 *
 * crds/*.yaml is the single source of truth for the API: the generated TypeScript types,
 * the offline validator (ajv over the same openAPIV3Schema) and docs/api.md all start here.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parse } from 'yaml';

export const API_GROUP = 'relayoperator.io';
export const API_VERSION = 'v1alpha1';
export const API_GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;
export const KINDS = ['RelayHub', 'ReceiveConnector', 'AcceptedDomain', 'SendConnector'] as const;
export type Kind = (typeof KINDS)[number];

export const CRD_DIRECTORY = fileURLToPath(new URL('../../crds/', import.meta.url));

/** The subset of JSON Schema (structural OpenAPI v3) that CRDs use. */
export interface CrdSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, CrdSchema>;
  additionalProperties?: CrdSchema | boolean;
  items?: CrdSchema;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  maxLength?: number;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: string;
  'x-kubernetes-validations'?: Array<{ rule: string; message?: string }>;
}

export interface CrdVersion {
  name: string;
  schema: { openAPIV3Schema: CrdSchema };
  additionalPrinterColumns?: Array<{ name: string; type: string; jsonPath: string; description?: string }>;
}

export interface CustomResourceDefinition {
  apiVersion: string;
  kind: 'CustomResourceDefinition';
  metadata: { name: string };
  spec: {
    group: string;
    names: { kind: Kind; plural: string; singular: string; shortNames?: string[]; categories?: string[] };
    scope: string;
    versions: CrdVersion[];
  };
}

export interface LoadedCrd {
  file: string;
  definition: CustomResourceDefinition;
  schema: CrdSchema;
}

let cache: Map<Kind, LoadedCrd> | undefined;

/** loadCrds - every CRD in crds/, keyed by kind. */
export function loadCrds(): Map<Kind, LoadedCrd> {
  if (cache) return cache;
  const byKind = new Map<Kind, LoadedCrd>();
  for (const name of readdirSync(CRD_DIRECTORY).filter((f) => f.endsWith('.yaml')).sort()) {
    const file = join(CRD_DIRECTORY, name);
    const definition = parse(readFileSync(file, 'utf8')) as CustomResourceDefinition;
    const version = definition.spec.versions.find((v) => v.name === API_VERSION);
    if (!version) throw new Error(`${file}: no version ${API_VERSION}`);
    byKind.set(definition.spec.names.kind, { file, definition, schema: version.schema.openAPIV3Schema });
  }
  for (const kind of KINDS) {
    if (!byKind.has(kind)) throw new Error(`${CRD_DIRECTORY}: no CRD for kind ${kind}`);
  }
  cache = byKind;
  return byKind;
}

/** crdFor - the loaded CRD of one kind. */
export function crdFor(kind: Kind): LoadedCrd {
  const crd = loadCrds().get(kind);
  if (!crd) throw new Error(`no CRD for kind ${kind}`);
  return crd;
}

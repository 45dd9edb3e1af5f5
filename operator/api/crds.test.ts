/*
 * The CRDs are the source of truth: every field is described, the generated types and
 * docs/api.md are what the generators produce now, and every CEL rule has its offline twin.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { KINDS, crdFor, type CrdSchema } from './crds.ts';
import { generateTypes, GENERATED_TYPES_FILE } from './generate-types.ts';
import { generateApiDoc } from '../cli/docs-api.ts';
import { CEL_RULE_NAMES } from '../validate/cel-rules.ts';

function undescribed(schema: CrdSchema, path: string, out: string[]): void {
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const childPath = `${path}.${name}`;
    if (name !== 'metadata' && !child.description) out.push(childPath);
    undescribed(child, childPath, out);
    if (child.items) {
      if (!child.items.description && child.items.type !== undefined) out.push(`${childPath}[]`);
      undescribed(child.items, `${childPath}[]`, out);
    }
    if (child.additionalProperties && typeof child.additionalProperties === 'object') undescribed(child.additionalProperties, `${childPath}{}`, out);
  }
}

test('every field of every CRD has a description', () => {
  for (const kind of KINDS) {
    const missing: string[] = [];
    undescribed(crdFor(kind).schema, kind, missing);
    assert.deepEqual(missing, [], `${kind}: fields without description`);
  }
});

test('short names clash with no built-in kind and every kind is in the category relay', () => {
  const builtIn = new Set(['rc', 'cs', 'cm', 'ds', 'ep', 'ev', 'hpa', 'ing', 'limits', 'ns', 'no', 'pvc', 'pv', 'po', 'pdb', 'psp', 'quota', 'rs', 'sa', 'svc', 'sts', 'crd', 'csr', 'netpol', 'pc', 'sc', 'deploy', 'cj', 'ingclass']);
  for (const kind of KINDS) {
    const names = crdFor(kind).definition.spec.names;
    assert.ok(names.categories?.includes('relay'), `${kind} not in category relay`);
    for (const short of names.shortNames ?? []) assert.ok(!builtIn.has(short), `${kind} short name ${short} clashes`);
  }
});

test('types.generated.ts is what generate-types produces from the CRDs', () => {
  assert.equal(readFileSync(GENERATED_TYPES_FILE, 'utf8'), generateTypes(), 'run: node operator/api/generate-types.ts');
});

test('docs/api.md is what docs-api produces from the CRDs', () => {
  assert.equal(readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8'), generateApiDoc(), 'run: npm run docs:api');
});

test('every CEL rule of the CRDs has an offline twin in cel-rules.ts, and no twin is orphaned', () => {
  const inCrds = new Set<string>();
  const walk = (schema: CrdSchema): void => {
    for (const rule of schema['x-kubernetes-validations'] ?? []) {
      const name = /\(rule (\w+)\)$/.exec(rule.message ?? '')?.[1];
      assert.ok(name, `CEL rule without "(rule NAME)" in its message: ${rule.rule}`);
      inCrds.add(name);
    }
    for (const child of Object.values(schema.properties ?? {})) walk(child);
    if (schema.items) walk(schema.items);
  };
  for (const kind of KINDS) walk(crdFor(kind).schema);
  assert.deepEqual([...inCrds].sort(), [...CEL_RULE_NAMES].sort());
});

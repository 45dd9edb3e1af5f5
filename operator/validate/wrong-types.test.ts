/*
 * `relay-operator validate` on fields of the wrong type (issue 17, Low): every field of the
 * four CRDs' spec, generated from crds/ so a field added later is covered too, gets values of
 * other types (a number where a list goes, a string where an object goes, `{}` for a list, ...).
 * Each must be reported - never a crash or a stack trace - with file, object, field (the API
 * server's path) and the type expected. Before the fix `remoteIPRanges: 5` crashed the command
 * ("ranges.forEach is not a function").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { crdFor, KINDS, API_GROUP_VERSION, type CrdSchema, type Kind } from '../api/crds.ts';
import { formatProblem } from '../manifests/load.ts';
import { validateManifests } from './validate.ts';

type Json = Record<string, unknown>;

/** A valid object of each kind, which the wrong value is written into. */
const BASE: Record<Kind, Json> = {
  RelayHub: { fqdn: 'hub.example.test' },
  ReceiveConnector: { hubs: ['hub'], bindings: ['0.0.0.0:2525'], remoteIPRanges: ['10.0.0.1'], permissionGroups: ['AnonymousUsers'] },
  AcceptedDomain: { domainName: 'contoso.test' },
  SendConnector: { addressSpaces: [{ domain: '*', cost: 10 }], dropDirectory: '/tmp/out' },
};

interface Case {
  kind: Kind;
  /** API server path, as validate names it: spec.a.b[0].c */
  field: string;
  /** How to reach it: property names, 0 for a list item, '*' for a map value. */
  steps: Array<string | 0>;
  value: unknown;
  expected: string;
}

/** wrongValues - values of other types than the schema's, and the type named in the message. */
function wrongValues(schema: CrdSchema): { values: unknown[]; expected: string } {
  if (schema['x-kubernetes-int-or-string']) return { values: [true, {}, ['1']], expected: 'integer or string' };
  switch (schema.type) {
    case 'string':
      return { values: [5, true, {}, ['x']], expected: 'string' };
    case 'integer':
      return { values: ['x', 1.5, {}], expected: 'integer' };
    case 'number':
      return { values: ['x', []], expected: 'number' };
    case 'boolean':
      return { values: ['yes', 1], expected: 'boolean' };
    case 'array':
      return { values: ['x', 5, {}], expected: 'array' };
    case 'object':
      return { values: [5, 'x', [], true], expected: 'object' };
    default:
      return { values: [], expected: '' };
  }
}

function casesOf(kind: Kind): Case[] {
  const out: Case[] = [];
  const walk = (schema: CrdSchema, field: string, steps: Array<string | 0>): void => {
    const { values, expected } = wrongValues(schema);
    for (const value of values) out.push({ kind, field, steps, value, expected });
    for (const [name, child] of Object.entries(schema.properties ?? {})) walk(child, `${field}.${name}`, [...steps, name]);
    if (schema.items) walk(schema.items, `${field}[0]`, [...steps, 0]);
    if (schema.additionalProperties && typeof schema.additionalProperties === 'object') walk(schema.additionalProperties, `${field}.key`, [...steps, 'key']);
  };
  const spec = crdFor(kind).schema.properties?.spec;
  assert.ok(spec, `${kind} has a spec`);
  walk(spec, 'spec', ['spec']);
  return out;
}

/** put - the base object with VALUE at STEPS, creating the lists and objects on the way. */
function put(base: Json, steps: Array<string | 0>, value: unknown): Json {
  const root = structuredClone(base);
  let at: unknown = root;
  steps.forEach((step, i) => {
    const last = i === steps.length - 1;
    const next = steps[i + 1];
    const container = at as Record<string | number, unknown>;
    const existing = container[step];
    if (last) {
      container[step] = value;
      return;
    }
    const wantList = next === 0;
    if (wantList ? !Array.isArray(existing) : existing === null || typeof existing !== 'object' || Array.isArray(existing)) {
      container[step] = wantList ? [] : {};
    }
    if (wantList) {
      const list = container[step] as unknown[];
      if (list.length === 0 || list[0] === null || typeof list[0] !== 'object') list[0] = {};
    }
    at = container[step];
  });
  return root;
}

const ALL = KINDS.flatMap(casesOf);

test('the table covers every field kind of the four CRDs', () => {
  for (const kind of KINDS) assert.ok(ALL.filter((c) => c.kind === kind).length > 10, kind);
  for (const expected of ['string', 'integer', 'boolean', 'array', 'object', 'integer or string']) {
    assert.ok(ALL.some((c) => c.expected === expected), `a ${expected} field is in the table`);
  }
  // the fields of the issue
  for (const field of ['spec.remoteIPRanges', 'spec.bindings', 'spec.permissions']) {
    assert.ok(ALL.some((c) => c.kind === 'ReceiveConnector' && c.field === field), field);
  }
});

test('every wrong type is reported with file, object, field and the type expected; validate never throws', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wrong-types-'));
  const failures: string[] = [];
  ALL.forEach((c, i) => {
    const object = put({ apiVersion: API_GROUP_VERSION, kind: c.kind, metadata: { name: `case-${i}`, namespace: 'types' }, ...{ spec: BASE[c.kind] } }, c.steps, c.value);
    const file = join(dir, `case-${i}.yaml`);
    writeFileSync(file, stringify(object));
    let lines: string[];
    try {
      lines = validateManifests([file]).problems.filter((p) => p.field === c.field && p.rule === 'type').map((p) => formatProblem(p));
    } catch (error) {
      failures.push(`${c.kind} ${c.field} = ${JSON.stringify(c.value)}: threw ${(error as Error).message}`);
      return;
    }
    const line = lines.find((l) => l.includes(`must be of type ${c.expected}`));
    if (!line || !line.startsWith(`${file}: ${c.kind} types/case-${i}: ${c.field}: `)) {
      failures.push(`${c.kind} ${c.field} = ${JSON.stringify(c.value)}: expected "must be of type ${c.expected}" naming file, object and field, got ${JSON.stringify(lines)}`);
    }
  });
  assert.deepEqual(failures, [], `${failures.length} of ${ALL.length} cases:\n${failures.slice(0, 30).join('\n')}`);
});

test('the command itself: exit 2, one line per wrong field, no stack trace (the cases of the issue and a Secret)', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'wrong-types-cli-')), 'manifests.yaml');
  const connector = { apiVersion: API_GROUP_VERSION, kind: 'ReceiveConnector', metadata: { name: 'c', namespace: 'types' }, spec: { hubs: ['hub'], bindings: 'x', remoteIPRanges: 5, permissions: {} } };
  const hub = { apiVersion: API_GROUP_VERSION, kind: 'RelayHub', metadata: { name: 'hub', namespace: 'types' }, spec: 'x' };
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'types' }, data: ['x'], stringData: { users: 5 } };
  writeFileSync(file, [connector, hub, secret].map((o) => stringify(o)).join('---\n'));
  const run = spawnSync(process.execPath, ['bin/relay-operator.js', 'validate', file], { encoding: 'utf8' });
  assert.equal(run.status, 2, run.stderr);
  assert.doesNotMatch(run.stderr, /^\s+at |TypeError|is not a function/m, run.stderr);
  for (const [object, field, type] of [
    ['ReceiveConnector types/c', 'spec.bindings', 'array'],
    ['ReceiveConnector types/c', 'spec.remoteIPRanges', 'array'],
    ['ReceiveConnector types/c', 'spec.permissions', 'array'],
    ['RelayHub types/hub', 'spec', 'object'],
    ['Secret types/s', 'data', 'object'],
    ['Secret types/s', 'stringData[users]', 'string'],
  ] as const) {
    assert.ok(run.stderr.split('\n').some((l) => l.includes(file) && l.includes(`${object}: ${field}: `) && l.includes(`must be of type ${type}`)), `${object} ${field}:\n${run.stderr}`);
  }
});

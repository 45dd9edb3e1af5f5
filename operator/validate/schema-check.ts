/*
 * operator/validate/schema-check - the CRD's structural schema, checked offline with ajv.
 *
 * The openAPIV3Schema of each CRD is turned into plain JSON Schema (int-or-string, set lists,
 * no unknown fields as `kubectl apply` validates strictly) and compiled once per kind. The
 * problems name the field as the API server does (`spec.limits.maxHopCount`) and the schema
 * keyword that failed as the rule (`minimum`, `enum`, `pattern`, ...).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { KINDS, crdFor, type CrdSchema, type Kind } from '../api/crds.ts';
import { patternInWords } from './pattern-words.ts';
import { didYouMean, suggestEnumValue, suggestPatternValue } from './exchange-names.ts';

type JsonSchema = Record<string, unknown>;

function toJsonSchema(schema: CrdSchema, isMetadata = false): JsonSchema {
  const out: JsonSchema = {};
  if (schema['x-kubernetes-int-or-string']) {
    out.anyOf = [{ type: 'integer', ...(schema.minimum !== undefined ? { minimum: schema.minimum } : {}) }, { type: 'string', ...(schema.pattern ? { pattern: schema.pattern } : {}) }];
    return out;
  }
  for (const key of ['type', 'enum', 'pattern', 'minimum', 'maximum', 'minItems', 'maxItems', 'maxLength', 'required', 'format'] as const) {
    if (schema[key] !== undefined) out[key] = schema[key];
  }
  if (schema.properties) {
    out.properties = Object.fromEntries(Object.entries(schema.properties).map(([name, child]) => [name, toJsonSchema(child, name === 'metadata')]));
    if (!schema['x-kubernetes-preserve-unknown-fields'] && !isMetadata) out.additionalProperties = false;
  } else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    out.additionalProperties = toJsonSchema(schema.additionalProperties);
  }
  if (schema.items) out.items = toJsonSchema(schema.items);
  if (schema['x-kubernetes-list-type'] === 'set') out.uniqueItems = true;
  return out;
}

export interface SchemaProblem {
  field: string;
  rule: string;
  message: string;
}

const validators = new Map<Kind, ValidateFunction>();

function validatorFor(kind: Kind): ValidateFunction {
  let validate = validators.get(kind);
  if (!validate) {
    const ajv = new Ajv({ allErrors: true, strict: true });
    ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
    ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)));
    validate = ajv.compile(toJsonSchema(crdFor(kind).schema));
    validators.set(kind, validate);
  }
  return validate;
}

/** fieldPath - ajv's /spec/bindings/0 as the API server's spec.bindings[0]. */
export function fieldPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

function describe(error: ErrorObject, value: unknown, typesHere: string[] = []): SchemaProblem {
  const field = fieldPath(error.instancePath);
  const shown = JSON.stringify(value);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { field: field ? `${field}.${String(params.missingProperty)}` : String(params.missingProperty), rule: 'required', message: 'Required value' };
    case 'additionalProperties':
      return { field: field ? `${field}.${String(params.additionalProperty)}` : String(params.additionalProperty), rule: 'unknownField', message: `unknown field "${String(params.additionalProperty)}"` };
    case 'enum':
    {
      const allowed = params.allowedValues as unknown[];
      const suggestion = suggestEnumValue(value, allowed);
      return { field, rule: 'enum', message: `Unsupported value: ${shown}: ${suggestion ? `${didYouMean(suggestion)} ` : ''}supported values: ${allowed.map((v) => JSON.stringify(v)).join(', ')}` };
    }
    case 'pattern':
    {
      const suggestion = suggestPatternValue(value, String(params.pattern));
      return { field, rule: 'pattern', message: `Invalid value: ${shown}: ${suggestion ? `${didYouMean(suggestion)} ` : ''}must be ${patternInWords(String(params.pattern))}` };
    }
    case 'minimum':
      return { field, rule: 'minimum', message: `Invalid value: ${shown}: should be greater than or equal to ${String(params.limit)}` };
    case 'maximum':
      return { field, rule: 'maximum', message: `Invalid value: ${shown}: should be less than or equal to ${String(params.limit)}` };
    case 'maxItems':
      return { field, rule: 'maxItems', message: `Too many: must have at most ${String(params.limit)} items` };
    case 'minItems':
      return { field, rule: 'minItems', message: `Required value: must have at least ${String(params.limit)} items` };
    case 'maxLength':
      return { field, rule: 'maxLength', message: `Too long: may not be more than ${String(params.limit)} bytes` };
    case 'uniqueItems':
      return { field, rule: 'duplicate', message: `Duplicate value: list entries must be unique` };
    case 'type':
      // an int-or-string field fails both branches: name both types, as the API server does
      return { field, rule: 'type', message: `Invalid value: ${shown}: must be of type ${typesHere.length > 0 ? typesHere.join(' or ') : String(params.type)}` };
    default:
      return { field, rule: error.keyword, message: error.message ?? 'invalid' };
  }
}

function valueAt(object: unknown, instancePath: string): unknown {
  let value = object;
  for (const part of instancePath.split('/').slice(1)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** checkSchema - structural-schema problems of one object of a known kind. */
export function checkSchema(kind: Kind, object: Record<string, unknown>): SchemaProblem[] {
  const validate = validatorFor(kind);
  if (validate(object)) return [];
  const raw = validate.errors ?? [];
  // An int-or-string given a string that misses the pattern (or a number below the minimum)
  // fails both branches; the value check is what the person got wrong, not the type ("25 MB"
  // is a size written wrongly, not a non-integer).
  const valueCheckAt = new Set(raw.filter((e) => ['pattern', 'minimum', 'maximum'].includes(e.keyword)).map((e) => e.instancePath));
  const errors = raw.filter((e) => (e.keyword !== 'anyOf' || !raw.some((o) => o !== e && o.instancePath === e.instancePath)) && !(e.keyword === 'type' && valueCheckAt.has(e.instancePath)));
  const types = new Map<string, string[]>();
  for (const error of errors) {
    if (error.keyword !== 'type') continue;
    const list = types.get(error.instancePath) ?? [];
    const type = String((error.params as { type?: unknown }).type);
    if (!list.includes(type)) list.push(type);
    types.set(error.instancePath, list);
  }
  const seen = new Set<string>();
  return errors
    .map((error) => describe(error, valueAt(object, error.instancePath), types.get(error.instancePath)))
    .filter((problem) => {
      const key = `${problem.field}|${problem.rule}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

export function isKnownKind(kind: unknown): kind is Kind {
  return typeof kind === 'string' && (KINDS as readonly string[]).includes(kind);
}

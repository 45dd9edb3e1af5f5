/*
 * Issue 12 item 6: `validate` printed the 450-character remoteIPRanges regular expression for a
 * bad entry. Every CRD pattern is said in words, and a bad value's message stays short.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KINDS, crdFor, type CrdSchema } from '../api/crds.ts';
import { checkSchema } from './schema-check.ts';
import { PATTERN_IN_WORDS } from './pattern-words.ts';

function patternsOf(schema: CrdSchema, out: Set<string>): Set<string> {
  if (typeof schema.pattern === 'string') out.add(schema.pattern);
  for (const child of Object.values(schema.properties ?? {})) patternsOf(child, out);
  if (schema.items) patternsOf(schema.items, out);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') patternsOf(schema.additionalProperties, out);
  return out;
}

test('every pattern in the CRDs has words for its error message', () => {
  for (const kind of KINDS) {
    for (const pattern of patternsOf(crdFor(kind).schema, new Set())) {
      assert.ok(PATTERN_IN_WORDS.has(pattern), `${kind}: no words for pattern ${pattern}`);
    }
  }
});

test('a bad remoteIPRanges entry and a bad size are explained in words, not as a regular expression', () => {
  const problems = checkSchema('ReceiveConnector', {
    apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'c' },
    spec: { hubs: ['hub'], bindings: ['0.0.0.0:25'], remoteIPRanges: ['10.0.0.0 /8'], limits: { maxMessageSize: '25 MB' } },
  });
  const range = problems.find((p) => p.field === 'spec.remoteIPRanges[0]');
  assert.ok(range, JSON.stringify(problems));
  assert.equal(range.rule, 'pattern');
  assert.match(range.message, /^Invalid value: "10\.0\.0\.0 \/8": must be an IP address \(192\.0\.2\.10\), a range .* or a CIDR/);
  assert.doesNotMatch(range.message, /\[0-9\]|\^|\$'/);
  const size = problems.find((p) => p.field === 'spec.limits.maxMessageSize');
  assert.ok(size, JSON.stringify(problems));
  assert.match(size.message, /must be a size: .*25Mi/);
  for (const p of problems) assert.ok(p.message.length < 300, p.message);
});

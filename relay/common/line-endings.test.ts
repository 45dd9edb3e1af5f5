import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalBody, isCanonicalBody } from './line-endings.ts';

const CASES: Array<[string, string, string]> = [
  ['canonical stays', 'a\r\nb\r\n', 'a\r\nb\r\n'],
  ['bare LF', 'a\nb\n', 'a\r\nb\r\n'],
  ['bare CR', 'a\rb\r', 'a\r\nb\r\n'],
  ['smuggling \\r.\\r', 'x\r\n\r.\rMAIL FROM:<e@vil>\r\n', 'x\r\n\r\n.\r\nMAIL FROM:<e@vil>\r\n'],
  ['smuggling \\n.\\n', 'x\n.\nRCPT', 'x\r\n.\r\nRCPT'],
  ['NUL dropped', 'a\0b\r\n\0.\r\n', 'ab\r\n.\r\n'],
  ['CR CR LF', 'a\r\r\nb', 'a\r\n\r\nb'],
  ['LF CR', 'a\n\rb', 'a\r\n\r\nb'],
];

for (const [desc, input, expected] of CASES) {
  void test(`canonicalBody: ${desc}`, () => {
    const out = canonicalBody(Buffer.from(input, 'latin1'));
    assert.equal(out.toString('latin1'), expected);
    assert.ok(isCanonicalBody(out));
  });
}

void test('a canonical body is returned without a copy', () => {
  const body = Buffer.from('Subject: x\r\n\r\nok\r\n');
  assert.equal(canonicalBody(body), body);
});

void test('fuzz: any byte soup comes out canonical', () => {
  const alphabet = [0x0d, 0x0a, 0x00, 0x2e, 0x41];
  for (let round = 0; round < 500; round += 1) {
    const bytes = Buffer.from(Array.from({ length: 1 + (round % 40) }, () => alphabet[Math.floor(Math.random() * alphabet.length)] as number));
    const out = canonicalBody(bytes);
    assert.ok(isCanonicalBody(out), JSON.stringify(bytes.toString('latin1')));
  }
});

// The From/Sender reader of the Send-As check: what it reads as an address, and what it
// refuses to guess about (counted unreadable, then refused by the policy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headerSenders } from './sender-headers.ts';

const block = (...lines: string[]): string => `${lines.join('\r\n')}\r\n\r\n`;

const READ: Array<[name: string, lines: string[], addresses: string[]]> = [
  ['bare address', ['From: alice@contoso.test'], ['alice@contoso.test']],
  ['name and angle address', ['From: "Alice A." <alice@contoso.test>'], ['alice@contoso.test']],
  ['display name holding an address', ['From: "ceo@contoso.test" <alice@contoso.test>'], ['alice@contoso.test']],
  ['comments are whitespace', ['From: (the boss) alice@contoso.test (Alice (really))'], ['alice@contoso.test']],
  ['field name in any case, space before the colon', ['fROM : alice@contoso.test'], ['alice@contoso.test']],
  ['mailbox list', ['From: a@contoso.test, "B" <b@contoso.test>'], ['a@contoso.test', 'b@contoso.test']],
  ['folded over lines', ['From: "Alice"', '\t<alice@contoso.test>'], ['alice@contoso.test']],
  ['every From and Sender field', ['From: a@contoso.test', 'Subject: s', 'Sender: s@contoso.test', 'FROM: c@contoso.test'], ['a@contoso.test', 's@contoso.test', 'c@contoso.test']],
  ['group syntax', ['From: team: a@contoso.test, b@contoso.test;'], ['a@contoso.test', 'b@contoso.test']],
  ['empty group', ['From: undisclosed-recipients:;'], []],
  ['other fields are not read', ['Reply-To: ceo@contoso.test', 'X-From: ceo@contoso.test'], []],
  ['the body is not read', ['Subject: s', '', 'From: ceo@contoso.test'], []],
  ['a block starting with whitespace holds no field', [' From: ceo@contoso.test'], []],
  ['UTF-8 address', ['From: José <josé@münchen.de>'], ['josé@münchen.de']],
  ['IPv6 domain literal', ['From: a@[IPv6:2001:db8::1]'], ['a@[IPv6:2001:db8::1]']],
];

for (const [name, lines, addresses] of READ) {
  test(`reads: ${name}`, () => {
    assert.deepEqual(headerSenders(Buffer.from(block(...lines))), { addresses, unreadable: 0 });
  });
}

const UNREADABLE: Array<[name: string, value: string]> = [
  ['unterminated quote', '"Alice <alice@contoso.test>'],
  ['unterminated comment', '(Alice alice@contoso.test'],
  ['unterminated angle', 'Alice <alice@contoso.test'],
  ['closer without opener', 'alice@contoso.test> ceo@contoso.test'],
  ['two angle addresses in one mailbox', '<alice@contoso.test> <ceo@contoso.test>'],
  ['text after the angle address', '<alice@contoso.test> ceo@contoso.test'],
  ['bare address with a space inside', 'Alice alice@contoso.test'],
  ['encoded word as the address (Mailsploit)', '=?utf-8?b?Y2VvQGNvbnRvc28udGVzdA==?=@evil.test'],
  ['encoded word inside angle brackets', '<=?utf-8?q?ceo=40contoso.test?=>'],
  ['no domain', 'alice'],
  ['@ without domain', '<alice@>'],
  ['control character', '<alice@contoso.test\u0000ceo@contoso.test>'],
  ['group never closed by ;, then another', 'a: b: c@contoso.test;'],
  ['; outside a group', 'a@contoso.test; ceo@contoso.test'],
];

for (const [name, value] of UNREADABLE) {
  test(`unreadable: ${name}`, () => {
    assert.ok(headerSenders(block(`From: ${value}`)).unreadable > 0, value);
  });
}

test('linear: a 256 KiB From field of 20,000 mailboxes and a deeply nested comment read in well under a second', () => {
  const many = Array.from({ length: 20_000 }, (_, i) => `u${i}@contoso.test`).join(', ');
  const nested = `${'('.repeat(100_000)}${')'.repeat(100_000)} a@contoso.test`;
  const started = performance.now();
  const list = headerSenders(block(`From: ${many}`));
  const deep = headerSenders(block(`From: ${nested}`));
  const ms = performance.now() - started;
  assert.equal(list.addresses.length, 20_000);
  assert.deepEqual(deep, { addresses: ['a@contoso.test'], unreadable: 0 });
  assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
});

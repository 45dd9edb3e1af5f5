/*
 * `relay-operator operator --secret-selector`: key=value labels only, and a bad value is
 * refused before anything connects, naming the flag and the term.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSecretSelector, runOperator } from './operator-command.ts';

test('key=value pairs are accepted, spaces after commas dropped', () => {
  assert.equal(parseSecretSelector('relayoperator.io/secret=true'), 'relayoperator.io/secret=true');
  assert.equal(parseSecretSelector('relayoperator.io/secret=true, team=mail'), 'relayoperator.io/secret=true,team=mail');
  assert.equal(parseSecretSelector('relay-secret='), 'relay-secret=');
});

test('set-based, existence, negated and malformed selectors are refused, naming the term', () => {
  for (const [value, term] of [
    ['relayoperator.io/secret', 'relayoperator.io/secret'],
    ['!relayoperator.io/secret', '!relayoperator.io/secret'],
    ['team!=mail', 'team!=mail'],
    ['team in (mail)', 'team in (mail)'],
    ['a==b', 'a==b'],
    ['Bad_Prefix/x=y', 'Bad_Prefix/x=y'],
    ['x=has space', 'x=has space'],
    ['team=mail,', ''],
  ] as const) {
    assert.throws(() => parseSecretSelector(value), (error: Error) => {
      assert.match(error.message, /--secret-selector/);
      assert.ok(error.message.includes(`"${term}" is not key=value`), error.message);
      return true;
    }, value);
  }
});

test('the command exits 2 on a bad --secret-selector, before reading any kubeconfig', async (t) => {
  const printed = t.mock.method(console, 'error', () => undefined);
  assert.equal(await runOperator(['--secret-selector', 'team in (mail)']), 2);
  assert.match(String(printed.mock.calls[0]?.arguments[0]), /--secret-selector "team in \(mail\)"/);
});

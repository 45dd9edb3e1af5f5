/*
 * `relay-operator import exchange` as a command: files written, report on stdout, the output
 * validated, and exit 2 with the flag or file named on bad input.
 */
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runImport } from '../cli/import-command.ts';

const FIXTURES = join(import.meta.dirname, 'testdata', 'exchange2016');

async function run(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  mock.method(console, 'log', (...parts: unknown[]) => void out.push(parts.join(' ')));
  mock.method(console, 'error', (...parts: unknown[]) => void err.push(parts.join(' ')));
  mock.method(process.stdout, 'write', (chunk: string) => out.push(chunk) > 0);
  try {
    const status = await runImport(args);
    return { status, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    mock.restoreAll();
  }
}

test('with -o: writes the three files, prints the report and says the output validates', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-import-cmd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const result = await run(['exchange', '--connectors', join(FIXTURES, 'receive-connectors.json'), '--permissions', join(FIXTURES, 'permissions.json'),
    '--accepted-domains', join(FIXTURES, 'accepted-domains.json'), '--send-connectors', join(FIXTURES, 'send-connectors.json'), '--hub-selector', 'site=east', '-o', dir]);
  assert.equal(result.status, 0, result.stderr);
  for (const file of ['receive-connectors.yaml', 'accepted-domains.yaml', 'send-connectors.yaml']) assert.ok(existsSync(join(dir, file)), file);
  assert.match(result.stdout, /^import report \(\d+ line\(s\)\):/m);
  assert.match(result.stdout, /merged Server = EX1, EX2/);
  assert.match(result.stdout, /relay-operator validate: valid$/m);
  assert.match(readFileSync(join(dir, 'receive-connectors.yaml'), 'utf8'), /^# from ReceiveConnector EX1\\Anonymous Relay:$/m);
});

test('without -o: the YAML on stdout, without permissions the report says the relay ACEs are missing', async () => {
  const result = await run(['exchange', '--connectors', join(FIXTURES, 'receive-connectors.json'), '--hub-selector', 'site=east']);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^kind: ReceiveConnector$/m);
  assert.match(result.stderr, /--permissions: not given/);
});

test('bad input: exit 2 naming the flag or the file', async () => {
  const connectors = join(FIXTURES, 'receive-connectors.json');
  assert.equal((await run(['exchange', '--connectors', connectors])).status, 2);
  const selector = await run(['exchange', '--connectors', connectors, '--hub-selector', 'site']);
  assert.equal(selector.status, 2);
  assert.match(selector.stderr, /--hub-selector must be KEY=VALUE/);
  const missing = await run(['exchange', '--connectors', '/nonexistent/rc.json', '--hub-selector', 'a=b']);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /\/nonexistent\/rc\.json: ENOENT/);
  const source = await run(['postfix']);
  assert.equal(source.status, 2);
  assert.match(source.stderr, /the only source is "exchange"/);
});

/*
 * `relay-operator queue` as a user types it: what it says on a wrong command line (exit 2) and
 * when the hub is not there (exit 1, with the way to reach one). Against a live hub:
 * test/relay/queue-api.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

function queue(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/relay-operator.js', 'queue', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a wrong command line exits 2 and says what is wrong', () => {
  const unknown = queue('flush');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown subcommand "flush"/);
  assert.match(unknown.stderr, /queue remove +ID\.\.\. \[--with-ndr\]/, 'with the usage');
  const noId = queue('hold');
  assert.equal(noId.status, 2);
  assert.match(noId.stderr, /queue hold: give one or more message ids/);
  const both = queue('retry', '0123', '--next-hop', 'ops/x');
  assert.equal(both.status, 2);
  assert.match(both.stderr, /message ids or --next-hop, not both/);
  const badUrl = queue('list', '--hub-url', 'not a url');
  assert.equal(badUrl.status, 2);
  assert.match(badUrl.stderr, /--hub-url "not a url" is not a URL/);
  const noToken = queue('list', '--token-file', '/nonexistent/token');
  assert.equal(noToken.status, 2);
  assert.match(noToken.stderr, /--token-file \/nonexistent\/token: ENOENT/);
});

test('no hub at --hub-url: exit 1, naming the URL and how to reach a hub in a cluster', async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  const r = queue('list', '--hub-url', `http://127.0.0.1:${port}`);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`cannot reach the hub at http://127\\.0\\.0\\.1:${port}/: .*ECONNREFUSED.*kubectl port-forward`));
});

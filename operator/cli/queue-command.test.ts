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

test('--hub (a hub in a cluster) and its flags: what a wrong command line says, exit 2', () => {
  const both = queue('list', '--hub', 'hub-east-a', '--hub-url', 'http://127.0.0.1:9090');
  assert.equal(both.status, 2);
  assert.match(both.stderr, /give --hub NAME \(a hub in a cluster\) or --hub-url URL \(one hub's endpoint\), not both/);
  const bareId = queue('hold', '--hub', 'hub-east-a', '-n', 'mail', '0a1b2c');
  assert.equal(bareId.status, 2);
  assert.match(bareId.stderr, /queue hold: "0a1b2c": with --hub, give the message as POD\/ID .* or add --pod POD/);
  const mismatch = queue('show', '--hub', 'hub-east-a', '--pod', 'hub-east-a-relay-0', 'hub-east-a-relay-1/0a1b');
  assert.equal(mismatch.status, 2);
  assert.match(mismatch.stderr, /names pod hub-east-a-relay-1 but --pod is hub-east-a-relay-0/);
  const nsAlone = queue('list', '-n', 'mail');
  assert.equal(nsAlone.status, 2);
  assert.match(nsAlone.stderr, /--namespace goes with --hub NAME/);
  const token = queue('list', '--hub', 'hub-east-a', '--token-file', '/dev/null');
  assert.equal(token.status, 2);
  assert.match(token.stderr, /--token-file goes with --hub-url; through --hub the port-forward reaches the hub on its loopback interface/);
  const afterBare = queue('list', '--hub', 'hub-east-a', '--messages', '--after', '0a1b');
  assert.equal(afterBare.status, 2);
  assert.match(afterBare.stderr, /"0a1b": with --hub, give the message as POD\/ID/);
});

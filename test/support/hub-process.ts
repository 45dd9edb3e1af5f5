/*
 * test/support/hub-process - a standalone hub (`relay-operator hub`) as a child process.
 *
 * Tests give it manifests as YAML text; it writes them to a temp dir, starts the hub as a
 * user would, waits for the "hub started" log line, and collects every JSON log line so a
 * test can assert what the protocol log says. stop() sends SIGTERM, kill() SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonLogProcess, type LogLine } from './json-log-process.ts';

export type { LogLine } from './json-log-process.ts';

export interface HubProcess {
  dir: string;
  manifestFile: string;
  spoolDir: string;
  logs: LogLine[];
  child: ChildProcess;
  /** Replace the manifests (the hub re-renders and reloads). */
  writeManifests(yaml: string): void;
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stop(): Promise<number | null>;
  kill(): Promise<void>;
  /** Start again on the same directory (after stop or kill). */
  restart(): Promise<HubProcess>;
}

export interface HubProcessOptions {
  manifests: string;
  hub: string;
  dir?: string;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** A command the hub runs under (`strace -f ...`): `child` is then that command, not Node. */
  wrapper?: string[];
}

export async function startHubProcess(options: HubProcessOptions): Promise<HubProcess> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'relay-hub-'));
  const manifestFile = join(dir, 'manifests.yaml');
  if (!options.dir) writeFileSync(manifestFile, options.manifests);
  const stateDir = join(dir, 'state');
  const hubCommand = [process.execPath, 'bin/relay-operator.js', 'hub', '--manifests', manifestFile, '--hub', options.hub, '--spool', stateDir, '--grace-period', '5', ...(options.extraArgs ?? [])];
  const [command, ...args] = [...(options.wrapper ?? []), ...hubCommand] as [string, ...string[]];
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  const output = new JsonLogProcess(child);
  const { logs, exited } = output;
  const waitForLog = (predicate: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => output.waitForLog(predicate, timeoutMs);

  const hub: HubProcess = {
    dir,
    manifestFile,
    spoolDir: join(stateDir, 'queue'),
    logs,
    child,
    writeManifests: (yaml) => writeFileSync(manifestFile, yaml),
    waitForLog,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    restart: () => startHubProcess({ ...options, dir }),
  };
  await waitForLog((l) => l.log === 'app' && l.message === 'hub started', 15_000);
  return hub;
}

/** removeHubDir - delete the temp dir of a hub process (after stop). */
export function removeHubDir(hub: HubProcess): void {
  rmSync(hub.dir, { recursive: true, force: true });
}

/**
 * anonymousRelayConnector - the ReceiveConnector most relay tests start from, as a YAML
 * document: anonymous clients from 127.0.0.0/8 on `binding` may relay (AcceptAnyRecipient), no
 * tarpit.
 */
export function anonymousRelayConnector(options: { namespace: string; hub: string; binding: string; name?: string }): string {
  return `apiVersion: relayoperator.io/v1alpha1
kind: ReceiveConnector
metadata: {name: ${options.name ?? 'apps'}, namespace: ${options.namespace}}
spec:
  hubs: [${options.hub}]
  bindings: ["${options.binding}"]
  remoteIPRanges: [127.0.0.0/8]
  permissionGroups: [AnonymousUsers]
  permissions: [{principal: Anonymous, allow: [AcceptAnyRecipient]}]
  limits: {tarpitInterval: 0s}
`;
}

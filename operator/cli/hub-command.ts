/*
 * operator/cli/hub-command - `relay-operator hub --manifests PATH... --hub NAME --spool DIR`:
 * one hub without Kubernetes (standalone mode).
 *
 * Renders the manifests with the same code the operator uses, writes the Secrets they
 * reference as files (mode 0600) and the rendered config under DIR, and runs the relay hub
 * from them. Manifest changes are re-rendered and applied without restart; a manifest that
 * stops validating is reported and the running config kept. Layout of DIR: config.json,
 * secrets/NAME/KEY, status.json, queue/ (the spool).
 */
import { chmodSync, mkdirSync, renameSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join, relative, resolve, sep } from 'node:path';
import { Hub } from '../../relay/hub.ts';
import { RelayError } from '../../relay/common/errors.ts';
import { appLog } from '../../relay/log/protocol-log.ts';
import { renderHub } from '../render/render.ts';
import { effectiveConnectorSpec } from '../render/receive-connectors.ts';
import { selectsHub } from '../render/selection.ts';
import { connectorWarnings } from '../render/warnings.ts';
import { secretValue, type NamespaceObjects } from '../render/inputs.ts';
import { FlagError, parseFlags, parseHostPort, readTokenFile, requireFlag, withFlagErrors, manifestPaths } from './flags.ts';
import { serveHubHttp } from '../../relay/process/http-endpoints.ts';
import { loadHub, ManifestError } from './hub-selection.ts';
import { stopSignal } from '../../relay/process/stop-signal.ts';
import { manifestFilesOf } from '../manifests/load.ts';
import { secretKeyProblem, secretNameProblem } from '../../relay/config/secret-names.ts';

function writeAtomically(file: string, data: string | Buffer, mode = 0o644): void {
  writeFileSync(`${file}.tmp`, data, { mode });
  chmodSync(`${file}.tmp`, mode);
  renameSync(`${file}.tmp`, file);
}

/**
 * secretPath - DIR/NAME/KEY for a Secret name and key Kubernetes would accept, else a
 * ManifestError: `validate` refuses such names first, and this second check keeps the write
 * inside DIR whatever a future caller hands in (a name or key of "../x", "/etc" or with a NUL
 * would otherwise be a path out of the spool, issue 17 item 12).
 */
function secretPath(dir: string, name: string, key: string, what: string): string {
  const nameProblem = secretNameProblem(name);
  const problem = nameProblem ?? secretKeyProblem(key);
  if (problem) throw new ManifestError(`${what}: ${problem} (rule ${nameProblem ? 'secretName' : 'secretKey'})`);
  const path = join(dir, name, key);
  const inside = relative(dir, path);
  if (inside.startsWith('..') || inside.split(sep).length !== 2) throw new ManifestError(`${what}: ${JSON.stringify(`${name}/${key}`)} is not a path inside ${dir} (rule secretKey)`);
  return path;
}

export function writeSecrets(objects: NamespaceObjects, dir: string): void {
  for (const secret of objects.secrets) {
    const name = secret.metadata.name;
    const keys = [...new Set([...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})])];
    // every path first: a Secret with one bad key writes nothing
    const paths = keys.map((key) => secretPath(dir, name, key, `Secret ${objects.namespace}/${name}`));
    mkdirSync(join(dir, name), { recursive: true, mode: 0o700 });
    keys.forEach((key, i) => {
      const value = secretValue(objects, name, key);
      const path = paths[i];
      if (value !== undefined && path !== undefined) writeAtomically(path, value, 0o600);
    });
  }
}

/**
 * startProblem - the one-line reason a hub could not start, for what a person can fix (the
 * spool another hub holds, an address in use or not on this host), else null (a bug: the stack
 * trace is the report).
 */
function startProblem(error: unknown): string | null {
  if (error instanceof RelayError) return error.message;
  const errno = error as NodeJS.ErrnoException & { address?: string; port?: number };
  const where = errno.address !== undefined ? ` ${errno.address}:${String(errno.port)}` : '';
  if (errno.code === 'EADDRINUSE') return `cannot listen on${where}: the address is in use by another process`;
  if (errno.code === 'EADDRNOTAVAIL') return `cannot listen on${where}: the address is not on this host`;
  if (errno.code === 'EACCES') return `cannot listen on${where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`;
  return null;
}

export function runHub(args: string[]): Promise<number> {
  return withFlagErrors(async () => {
    const { values, positionals } = parseFlags('hub', args, {
      manifests: { type: 'string', multiple: true },
      hub: { type: 'string' },
      spool: { type: 'string' },
      namespace: { type: 'string' },
      'metrics-addr': { type: 'string' },
      'grace-period': { type: 'string', default: '30' },
      'hold-delivery': { type: 'boolean', default: false },
      'queue-api-token-file': { type: 'string' },
      'hand-off-token-file': { type: 'string' },
    }, true);
    const hubName = requireFlag('hub', 'hub', values.hub);
    const dir = resolve(requireFlag('hub', 'spool', values.spool));
    const manifests = manifestPaths(values.manifests, positionals);
    const grace = Number(values['grace-period']);
    if (!Number.isFinite(grace) || grace < 0) throw new FlagError('relay-operator hub: --grace-period must be seconds >= 0');
    const metricsAddress = values['metrics-addr'] ? parseHostPort('hub', 'metrics-addr', values['metrics-addr']) : null;
    const queueAccess = { token: values['queue-api-token-file'] ? readTokenFile('hub', values['queue-api-token-file']) : null };
    // the receiving side of a hand-off (POST /queue/hand-off): other hubs' queues may be handed to this one
    const handOffToken = values['hand-off-token-file'] ? readTokenFile('hub', values['hand-off-token-file'], 'hand-off-token-file') : null;
    const secretsDir = join(dir, 'secrets');
    const configFile = join(dir, 'config.json');
    mkdirSync(secretsDir, { recursive: true, mode: 0o700 });

    /** renderToDisk - validate, render, write; the config hash on success. */
    const renderToDisk = (): string => {
      const { hub, objects } = loadHub('hub', manifests, hubName, values.namespace);
      writeSecrets(objects, secretsDir);
      const result = renderHub(hub, objects, { secretFile: (name, key) => secretPath(secretsDir, name, key, `a Secret named in the manifests of RelayHub ${objects.namespace}/${hubName}`) });
      for (const problem of result.problems) appLog('warn', `${problem.object}: ${problem.field}: ${problem.message} (rule ${problem.rule})`);
      // render/warnings.ts: connectors that load but do not do what they most likely mean
      for (const connector of objects.receiveConnectors.filter((c) => selectsHub(effectiveConnectorSpec(c), hub))) {
        for (const warning of connectorWarnings(connector, [hub])) {
          appLog('warn', `ReceiveConnector ${objects.namespace}/${connector.metadata.name ?? ''}: ${warning.field}: ${warning.message} (rule ${warning.rule})`, { rule: warning.rule });
        }
      }
      writeAtomically(configFile, `${JSON.stringify(result.config, null, 2)}\n`);
      return result.hash;
    };

    const stopping = stopSignal();
    try {
      renderToDisk();
    } catch (error) {
      if (error instanceof ManifestError) {
        console.error(error.message);
        return 2;
      }
      throw error;
    }
    // Watch the manifests before the hub starts, so a change written right after "hub started"
    // is never missed.
    const watched = manifestFilesOf(manifests);
    let hub: Hub | null = null;
    let rerender: NodeJS.Timeout | null = null;
    for (const file of watched) {
      watchFile(file, { interval: 1000 }, () => {
        if (rerender) clearTimeout(rerender);
        rerender = setTimeout(() => {
          try {
            renderToDisk();
            // force: a Secret (certificate, users) may have changed while the config did not
            void hub?.reload({ force: true });
          } catch (error) {
            appLog('error', `manifests changed but were not applied: ${(error as Error).message}`);
          }
        }, 200);
      });
    }
    let running: Hub;
    try {
      running = await Hub.start({ configFile, spoolDir: join(dir, 'queue'), statusFile: join(dir, 'status.json'), watchIntervalMs: 0, holdDelivery: values['hold-delivery'] ?? false });
    } catch (error) {
      const problem = startProblem(error);
      if (problem === null) throw error;
      for (const file of watched) unwatchFile(file);
      if (rerender) clearTimeout(rerender);
      console.error(`relay-operator hub: ${problem}`);
      return 1;
    }
    hub = running;
    // A change that landed between the first render and the start is applied now.
    try {
      if (renderToDisk() !== running.configHash) void running.reload();
    } catch (error) {
      appLog('error', `manifests changed but were not applied: ${(error as Error).message}`);
    }

    const metricsServer: Server | null = metricsAddress ? serveHubHttp(running, metricsAddress, queueAccess, handOffToken) : null;

    const signal = await stopping;
    appLog('info', `${signal}: stopping, grace period ${grace}s`);
    for (const file of watched) unwatchFile(file);
    if (rerender) clearTimeout(rerender);
    metricsServer?.close();
    await running.stop(grace * 1000);
    return 0;
  });
}

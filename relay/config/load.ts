/*
 * relay/config/load - reads a rendered config file and checks what the relay relies on.
 *
 * The operator renders and validates; this is the relay's own guard against a wrong or
 * truncated file: the apiVersion must be one it knows, the structure must hold and every
 * file it names from a Secret must be `<Secret name>/<key>` with no way out of the Secret's
 * directory. Retry and spool settings are checked and normalised here, once (settings.ts).
 * Bad input throws a ConfigError naming the file and field; the hub then keeps running the
 * config it has (on reload) or refuses to start (at start).
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { RelayError } from '../common/errors.ts';
import { RENDERED_CONFIG_API_VERSION, type RenderedConfig, type TlsFiles } from './schema.ts';
import { secretFileProblem } from './secret-names.ts';
import { HUB_SPOOL_SETTINGS, hubSpoolProblem, normalizeRetry } from './settings.ts';

export class ConfigError extends RelayError {
  constructor(message: string) {
    super('RELAY_ERR_CONFIG', message);
  }
}

export interface LoadedConfig {
  config: RenderedConfig;
  hash: string;
}

/**
 * hashConfig - the config hash the hub reports: sha256 of the config's JSON (16 hex digits),
 * the same value the operator computes when it renders, whatever whitespace the file has.
 */
export function hashConfig(config: unknown): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
}

export function parseRenderedConfig(text: string, source: string): LoadedConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${source}: not JSON: ${(error as Error).message}`);
  }
  const config = value as Partial<RenderedConfig>;
  if (config.apiVersion !== RENDERED_CONFIG_API_VERSION) {
    throw new ConfigError(`${source}: apiVersion must be ${RENDERED_CONFIG_API_VERSION}, not ${JSON.stringify(config.apiVersion)}`);
  }
  for (const field of ['connectors', 'listeners', 'acceptedDomains', 'sendConnectors'] as const) {
    if (!Array.isArray(config[field])) throw new ConfigError(`${source}: ${field} must be a list`);
  }
  if (!config.hub || typeof config.hub.fqdn !== 'string') throw new ConfigError(`${source}: hub.fqdn is required`);
  if (config.hub.spool !== undefined) {
    // minFreeBytes is required in hub.spool; maxDataMemoryBytes came later and may be absent
    const { minFreeBytes, maxDataMemoryBytes } = HUB_SPOOL_SETTINGS;
    const problem = hubSpoolProblem(minFreeBytes, config.hub.spool?.minFreeBytes) || (config.hub.spool?.maxDataMemoryBytes === undefined ? '' : hubSpoolProblem(maxDataMemoryBytes, config.hub.spool.maxDataMemoryBytes));
    if (problem) throw new ConfigError(`${source}: ${problem}`);
  }
  for (const [field, path] of secretFiles(config as RenderedConfig)) {
    const problem = secretFileProblem(path);
    if (problem) throw new ConfigError(`${source}: ${field}: ${problem} (rule secretFile)`);
  }
  for (const [i, send] of (config.sendConnectors ?? []).entries()) {
    if (typeof send.dropDirectory === 'string' && send.dropDirectory.includes('\0')) throw new ConfigError(`${source}: sendConnectors[${i}].dropDirectory: contains a NUL byte`);
  }
  const ids = new Set((config.connectors ?? []).map((c) => c.id));
  for (const listener of config.listeners ?? []) {
    for (const id of listener.connectorIds) {
      if (!ids.has(id)) throw new ConfigError(`${source}: listeners[${listener.endpoint}] names connector ${id}, which is not in connectors`);
    }
  }
  // the hash is the operator's, of the config as rendered; the relay runs it normalised
  const hash = hashConfig(config);
  const loaded = config as RenderedConfig;
  return { config: { ...loaded, hub: { ...loaded.hub, retry: normalizeRetry(loaded.hub.retry) } }, hash };
}

/**
 * secretFiles - every file the config reads from a Secret, with the field that names it. The
 * relay reads them as they are named, so one written from a Secret name or key like "../x"
 * would read (and watch) a file outside the Secret mounts; they are refused at load whoever
 * rendered the config (issue 17 item 12).
 */
function secretFiles(config: RenderedConfig): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  const tls = (field: string, files: TlsFiles | null | undefined): void => {
    if (files === null || files === undefined) return;
    out.push([`${field}.certFile`, files.certFile], [`${field}.keyFile`, files.keyFile]);
  };
  tls('hub.tls', config.hub.tls);
  if (config.hub.usersFile !== null && config.hub.usersFile !== undefined) out.push(['hub.usersFile', config.hub.usersFile]);
  config.connectors.forEach((c, i) => {
    tls(`connectors[${i}].tls.files`, c.tls?.files);
    if (c.tls?.clientCAFile !== null && c.tls?.clientCAFile !== undefined) out.push([`connectors[${i}].tls.clientCAFile`, c.tls.clientCAFile]);
  });
  config.sendConnectors.forEach((c, i) => {
    if (c.authFile !== null && c.authFile !== undefined) out.push([`sendConnectors[${i}].authFile`, c.authFile]);
  });
  return out;
}

/**
 * loadRenderedConfig - FILE, or FILE.gz when only the compressed form exists (the operator
 * compresses large configs to fit a ConfigMap).
 */
export function loadRenderedConfig(file: string): LoadedConfig {
  if (!existsSync(file) && existsSync(`${file}.gz`)) {
    return parseRenderedConfig(gunzipSync(readFileSync(`${file}.gz`)).toString('utf8'), `${file}.gz`);
  }
  return parseRenderedConfig(readFileSync(file, 'utf8'), file);
}

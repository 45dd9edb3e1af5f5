/*
 * relay/config/load - reads a rendered config file and checks what the relay relies on.
 *
 * The operator renders and validates; this is the relay's own guard against a wrong or
 * truncated file: the apiVersion must be one it knows and the structure must hold. Bad
 * input throws a ConfigError naming the file and field; the hub then keeps running the
 * config it has (on reload) or refuses to start (at start).
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { RelayError } from '../errors.ts';
import { RENDERED_CONFIG_API_VERSION, type RenderedConfig } from './schema.ts';

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
  const reserve = config.hub.spool?.minFreeBytes;
  if (config.hub.spool !== undefined && (!Number.isSafeInteger(reserve) || (reserve as number) < 0)) {
    throw new ConfigError(`${source}: hub.spool.minFreeBytes must be a whole number of bytes from 0 to ${Number.MAX_SAFE_INTEGER} (RelayHub spec.queue.minFreeSpace), not ${JSON.stringify(reserve)}`);
  }
  const dataMemory = config.hub.spool?.maxDataMemoryBytes;
  if (dataMemory !== undefined && (!Number.isSafeInteger(dataMemory) || dataMemory < 1)) {
    throw new ConfigError(`${source}: hub.spool.maxDataMemoryBytes must be a whole number of bytes from 1 to ${Number.MAX_SAFE_INTEGER} (RelayHub spec.queue.maxDataMemory), not ${JSON.stringify(dataMemory)}`);
  }
  const ids = new Set((config.connectors ?? []).map((c) => c.id));
  for (const listener of config.listeners ?? []) {
    for (const id of listener.connectorIds) {
      if (!ids.has(id)) throw new ConfigError(`${source}: listeners[${listener.endpoint}] names connector ${id}, which is not in connectors`);
    }
  }
  return { config: config as RenderedConfig, hash: hashConfig(config) };
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

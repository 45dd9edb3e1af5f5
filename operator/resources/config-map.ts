/*
 * operator/resources/config-map - the rendered config as a ConfigMap, compressed when large.
 *
 * A ConfigMap holds at most 1 MiB. Rendered configs stay small unless a connector lists very
 * many ranges (100,000 entries are about 2 MB of JSON); above 512 KiB the config is stored
 * gzip-compressed under binaryData `config.json.gz` (100,000 ranges compress to well under
 * 1 MiB). The relay reads whichever file is present. Compression, not sharding: one object
 * keeps the update atomic (kubelet swaps the mounted directory as a whole).
 */
import { gzipSync } from 'node:zlib';
import type { RenderedConfig } from '../../relay/config/schema.ts';

export const CONFIG_FILE = 'config.json';
export const CONFIG_FILE_GZ = 'config.json.gz';
export const COMPRESS_ABOVE_BYTES = 512 * 1024;
export const CONFIGMAP_LIMIT_BYTES = 1024 * 1024;

export interface ConfigMapPayload {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
  bytes: number;
  compressed: boolean;
}

export function configPayload(config: RenderedConfig): ConfigMapPayload {
  const text = `${JSON.stringify(config)}\n`;
  if (Buffer.byteLength(text) <= COMPRESS_ABOVE_BYTES) return { data: { [CONFIG_FILE]: text }, bytes: Buffer.byteLength(text), compressed: false };
  const gz = gzipSync(text, { level: 9 }).toString('base64');
  return { binaryData: { [CONFIG_FILE_GZ]: gz }, bytes: gz.length, compressed: true };
}

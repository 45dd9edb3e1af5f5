/*
 * operator/import/exchange-export - reads the JSON files an administrator exports with
 * `Get-ReceiveConnector | ConvertTo-Json -Depth 5` (and Get-ADPermission, Get-AcceptedDomain,
 * Get-SendConnector) into lists of property bags.
 *
 * Windows PowerShell 5.1 writes `>` redirections as UTF-16LE with a byte-order mark, and
 * `ConvertTo-Json $list` (not piped) wraps the list as {"value": [...], "Count": n}; both are
 * read here. A single exported object comes as an object, not a list.
 */
import { readFileSync } from 'node:fs';
import { isObject, readString, type Json, type JsonObject } from './exchange-values.ts';

export class ExportFileError extends Error {
  readonly code = 'RELAY_ERR_IMPORT_FILE';
}

/** decodeExport - text of an export file in UTF-8 or UTF-16 (LE/BE, by byte-order mark). */
export function decodeExport(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    const swapped = Buffer.from(bytes.subarray(2));
    swapped.swap16();
    return swapped.toString('utf16le');
  }
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** parseExport - the objects of one export, whatever the list wrapping. */
export function parseExport(text: string, file: string): JsonObject[] {
  let parsed: Json;
  try {
    parsed = JSON.parse(text) as Json;
  } catch (error) {
    throw new ExportFileError(`${file}: not JSON (${(error as Error).message}); export with ConvertTo-Json -Depth 5`);
  }
  if (isObject(parsed) && Array.isArray(parsed.value) && 'Count' in parsed) parsed = parsed.value;
  const items = Array.isArray(parsed) ? parsed : [parsed];
  return items.map((item, i) => {
    if (!isObject(item)) throw new ExportFileError(`${file}: item ${i + 1} is not an object`);
    return item;
  });
}

export function readExportFile(file: string): JsonObject[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new ExportFileError(`${file}: ${(error as Error).message}`);
  }
  return parseExport(decodeExport(bytes), file);
}

/** A connector's place in Exchange: the server that holds it and its name there. */
export interface ConnectorIdentity {
  server: string;
  name: string;
}

/**
 * identityOf - server and name from `Identity` ("EX1\Relay"), a distinguished name
 * ("CN=Relay,CN=SMTP Receive Connectors,CN=Protocols,CN=EX1,CN=Servers,..."), or the
 * `Server` and `Name` properties. Server names compare case-insensitively, so they are
 * upper-cased.
 */
export function identityOf(record: JsonObject): ConnectorIdentity | undefined {
  const identity = identityText(record.Identity) ?? readString(record.DistinguishedName);
  const name = readString(record.Name);
  const server = readString(record.Server);
  if (identity) {
    const parsed = parseIdentity(identity);
    if (parsed) return { server: (server ?? parsed.server).toUpperCase(), name: name ?? parsed.name };
  }
  return name && server ? { server: server.toUpperCase(), name } : undefined;
}

/** identityText - an ADObjectId as text: its distinguished name when serialised as an object. */
export function identityText(value: Json | undefined): string | undefined {
  if (isObject(value) && typeof value.DistinguishedName === 'string' && value.DistinguishedName) return value.DistinguishedName;
  return readString(value);
}

export function parseIdentity(identity: string): ConnectorIdentity | undefined {
  const dn = /^CN=((?:[^,\\]|\\.)+),CN=SMTP Receive Connectors,CN=Protocols,CN=((?:[^,\\]|\\.)+),/i.exec(identity);
  if (dn) return { server: (dn[2] ?? '').replace(/\\(.)/g, '$1').toUpperCase(), name: (dn[1] ?? '').replace(/\\(.)/g, '$1') };
  const slash = identity.indexOf('\\');
  if (slash <= 0) return undefined;
  return { server: identity.slice(0, slash).toUpperCase(), name: identity.slice(slash + 1) };
}

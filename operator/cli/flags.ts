/*
 * operator/cli/flags - flag parsing shared by the subcommands (node:util parseArgs), with
 * errors that name the flag.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { RelayError } from '../../relay/common/errors.ts';

export class FlagError extends RelayError {
  constructor(message: string) { super('RELAY_ERR_FLAG', message); }
}

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseFlags<T extends Options>(command: string, args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    throw new FlagError(`relay-operator ${command}: ${(error as Error).message}`);
  }
}

export function requireFlag(command: string, name: string, value: string | undefined): string {
  if (!value) throw new FlagError(`relay-operator ${command}: --${name} is required`);
  return value;
}

/** withFlagErrors - runs a command body, turning FlagError into a message and exit 2. */
export async function withFlagErrors(body: () => Promise<number> | number): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof FlagError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
}

/** parseHostPort - `HOST:PORT` or `[IPv6]:PORT` of a flag, or a FlagError naming it. */
export function parseHostPort(command: string, flag: string, value: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(value);
  if (!match) throw new FlagError(`relay-operator ${command}: --${flag} must be HOST:PORT`);
  return { host: (match[1] ?? '').replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

/** readTokenFile - a bearer token from a file (a mounted Secret key): its text, trimmed; a FlagError naming the flag when unreadable or empty. */
export function readTokenFile(command: string, file: string, flag = 'queue-api-token-file'): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new FlagError(`relay-operator ${command}: --${flag} ${file}: ${(error as Error).message}`);
  }
  if (text === '') throw new FlagError(`relay-operator ${command}: --${flag} ${file}: the file is empty`);
  return text;
}

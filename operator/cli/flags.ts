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

/**
 * HelpRequested - `--help`/`-h` on a subcommand: withFlagErrors prints the text on stdout and
 * exits 0. A FlagError so that every command body stops where parseFlags found it.
 */
export class HelpRequested extends FlagError {}

type Options = NonNullable<ParseArgsConfig['options']>;

/** usageOf - `usage: relay-operator COMMAND --flag VALUE ...`, from the command's own options. */
function usageOf(command: string, options: Options, allowPositionals: boolean): string {
  const flags = Object.entries(options).map(([name, option]) => {
    const value = option.type === 'string' ? ` ${name === 'manifests' ? 'PATH...' : name.toUpperCase().replace(/-/g, '_')}` : '';
    const fallback = option.default !== undefined && option.type === 'string' ? ` (default ${String(option.default)})` : '';
    return `  --${name}${value}${fallback}`;
  });
  const paths = allowPositionals && !('manifests' in options) ? ' PATH...' : '';
  return `usage: relay-operator ${command} [flags]${paths}\n\nflags:\n${flags.join('\n')}\n  --help, -h   this text\n`;
}

export function parseFlags<T extends Options>(command: string, args: string[], options: T, allowPositionals = false) {
  if (args.some((a) => a === '--help' || a === '-h')) throw new HelpRequested(usageOf(command, options, allowPositionals));
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    throw new FlagError(`relay-operator ${command}: ${(error as Error).message}`);
  }
}

/**
 * manifestPaths - `--manifests a.yaml dir/ b.yaml` and `--manifests a.yaml --manifests dir/`:
 * the paths given to --manifests and the bare paths after them (parseArgs gives a string flag
 * one value, so the rest arrive as positionals).
 */
export function manifestPaths(flagged: string[] | undefined, positionals: string[]): string[] {
  return [...(flagged ?? []), ...positionals];
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
    if (error instanceof HelpRequested) {
      process.stdout.write(error.message);
      return 0;
    }
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

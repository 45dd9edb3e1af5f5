/*
 * operator/cli/import-command - `relay-operator import exchange --connectors FILE
 *   [--permissions FILE] [--accepted-domains FILE] [--send-connectors FILE]
 *   --hub-selector KEY=VALUE [--namespace NS] [-o DIR]`.
 *
 * Reads the Exchange exports, writes the YAML (to DIR, or to stdout with the report in its
 * comments), prints the report, and checks the written YAML with `validate` before it says
 * done: exit 0 when the output validates, 1 when it does not (a bug to report), 2 for bad
 * flags or unreadable exports. docs/from-exchange.md walks through it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatProblem } from '../manifests/load.ts';
import { ExportFileError, readExportFile } from '../import/exchange-export.ts';
import { importExchange, type ImportResult } from '../import/import-exchange.ts';
import { validateManifests } from '../validate/validate.ts';
import { FlagError, parseFlags, requireFlag, withFlagErrors } from './flags.ts';

function parseSelector(value: string): { key: string; value: string } {
  const match = /^([A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?)=([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.exec(value);
  if (!match) throw new FlagError('relay-operator import exchange: --hub-selector must be KEY=VALUE (a Kubernetes label)');
  return { key: match[1] ?? '', value: match[3] ?? '' };
}

/** writeAndValidate - writes the files into `dir` and returns validate's error lines. */
function writeAndValidate(result: ImportResult, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const paths = [...result.files].map(([name, text]) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  });
  const validated = validateManifests(paths);
  return validated.problems.filter((p) => p.severity === 'error').map((p) => formatProblem(p));
}

export function runImport(args: string[]): Promise<number> {
  return withFlagErrors(() => {
    const [source, ...rest] = args;
    if (source !== 'exchange') throw new FlagError(`relay-operator import: the only source is "exchange" (relay-operator import exchange --connectors FILE --hub-selector KEY=VALUE ...)`);
    const { values } = parseFlags('import exchange', rest, {
      connectors: { type: 'string' },
      permissions: { type: 'string' },
      'accepted-domains': { type: 'string' },
      'send-connectors': { type: 'string' },
      'hub-selector': { type: 'string' },
      namespace: { type: 'string' },
      o: { type: 'string', short: 'o' },
    });
    const selector = parseSelector(requireFlag('import exchange', 'hub-selector', values['hub-selector']));
    const connectorsFile = requireFlag('import exchange', 'connectors', values.connectors);
    let result: ImportResult;
    try {
      const optional = (file: string | undefined) => (file === undefined ? undefined : readExportFile(file));
      const permissions = optional(values.permissions);
      const acceptedDomains = optional(values['accepted-domains']);
      const sendConnectors = optional(values['send-connectors']);
      result = importExchange(
        { receiveConnectors: readExportFile(connectorsFile), ...(permissions ? { permissions } : {}), ...(acceptedDomains ? { acceptedDomains } : {}), ...(sendConnectors ? { sendConnectors } : {}) },
        { hubSelector: selector, ...(values.namespace ? { namespace: values.namespace } : {}) },
      );
    } catch (error) {
      if (!(error instanceof ExportFileError)) throw error;
      console.error(`relay-operator import exchange: ${error.message}`);
      return 2;
    }
    const out = values.o;
    const scratch = out ? undefined : mkdtempSync(join(tmpdir(), 'relay-import-'));
    let errors: string[];
    try {
      errors = writeAndValidate(result, out ?? scratch ?? '.');
    } finally {
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    }
    // Without -o the YAML is the output (its comments hold the report); with -o the report is.
    if (!out) process.stdout.write([...result.files.values()].join('---\n'));
    const report = result.report.lines();
    (out ? console.log : console.error)(`import report (${report.length} line(s)):\n${report.map((l) => `  ${l}`).join('\n')}`);
    if (errors.length > 0) {
      console.error(`relay-operator import exchange: the output does not validate (please report this):\n${errors.join('\n')}`);
      return 1;
    }
    if (out) console.log(`wrote ${[...result.files.keys()].map((f) => join(out, f)).join(', ')}; relay-operator validate: valid`);
    return 0;
  });
}

/*
 * operator/cli/validate-command - `relay-operator validate PATH...`.
 * Prints one line per problem (file, object, field, message, rule); exit 2 on any error.
 */
import { formatProblem } from '../manifests/load.ts';
import { validateManifests } from '../validate/validate.ts';
import { parseFlags, withFlagErrors, FlagError } from './flags.ts';

export function runValidate(args: string[]): Promise<number> {
  return withFlagErrors(() => {
    const { positionals } = parseFlags('validate', args, {}, true);
    if (positionals.length === 0) throw new FlagError('relay-operator validate: give at least one PATH (file or directory)');
    let result;
    try {
      result = validateManifests(positionals);
    } catch (error) {
      console.error(`relay-operator validate: ${(error as Error).message}`);
      return 2;
    }
    const errors = result.problems.filter((p) => p.severity === 'error');
    for (const problem of result.problems) {
      console.error(`${problem.severity}: ${formatProblem(problem)}`);
    }
    const objects = [...result.namespaces.values()].reduce((n, o) => n + o.hubs.length + o.receiveConnectors.length + o.acceptedDomains.length + o.sendConnectors.length, 0);
    if (errors.length > 0) {
      console.error(`${errors.length} error(s) in ${positionals.join(' ')}`);
      return 2;
    }
    console.log(`${objects} object(s) valid`);
    return 0;
  });
}

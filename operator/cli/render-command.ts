/*
 * operator/cli/render-command - `relay-operator render --manifests PATH... --hub NAME`:
 * prints the rendered relay config of that hub as JSON, with what could not be loaded on stderr.
 */
import { renderHub } from '../render/render.ts';
import { parseFlags, requireFlag, withFlagErrors, manifestPaths } from './flags.ts';
import { loadHub, ManifestError } from './hub-selection.ts';

export const POD_SECRETS_DIR = '/etc/relay/secrets';

export function runRender(args: string[]): Promise<number> {
  return withFlagErrors(() => {
    const { values, positionals } = parseFlags('render', args, {
      manifests: { type: 'string', multiple: true },
      hub: { type: 'string' },
      namespace: { type: 'string' },
      'secrets-dir': { type: 'string', default: POD_SECRETS_DIR },
    }, true);
    const hubName = requireFlag('render', 'hub', values.hub);
    try {
      const { hub, objects } = loadHub('render', manifestPaths(values.manifests, positionals), hubName, values.namespace);
      const secretsDir = values['secrets-dir'] ?? POD_SECRETS_DIR;
      const result = renderHub(hub, objects, { secretFile: (name, key) => `${secretsDir}/${name}/${key}` });
      for (const problem of result.problems) console.error(`warning: ${problem.object}: ${problem.field}: ${problem.message} (rule ${problem.rule})`);
      process.stdout.write(`${JSON.stringify(result.config, null, 2)}\n`);
      return 0;
    } catch (error) {
      if (error instanceof ManifestError) {
        console.error(error.message);
        return 2;
      }
      throw error;
    }
  });
}

/*
 * operator/cli/main - the `relay-operator` command line (see docs/api.md, "Command line").
 *
 * Each subcommand lives in its own file and returns an exit status: 0 success, 1 runtime
 * failure, 2 bad input (manifests, flags) or a command not implemented yet.
 */

type Command = (args: string[]) => Promise<number> | number;

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  operator: { run: async (args) => (await import('./operator-command.ts')).runOperator(args), summary: 'run the controller (in cluster, or with KUBECONFIG)' },
  hub: { run: async (args) => (await import('./hub-command.ts')).runHub(args), summary: 'run one hub without Kubernetes from manifests (standalone mode)' },
  relay: { run: async (args) => (await import('./relay-command.ts')).runRelay(args), summary: 'run the relay of a hub pod from its rendered config (used by the StatefulSet)' },
  render: { run: async (args) => (await import('./render-command.ts')).runRender(args), summary: 'print the effective relay config of a hub' },
  explain: { run: async (args) => (await import('./explain-command.ts')).runExplain(args), summary: 'show which connector takes a session and each decision' },
  queue: { run: async (args) => (await import('./queue-command.ts')).runQueue(args), summary: 'list, show, retry, hold, release and remove queued mail of a running hub' },
  validate: { run: async (args) => (await import('./validate-command.ts')).runValidate(args), summary: 'check manifests against the CRD schemas and the rules, offline' },
  import: { run: async (args) => (await import('./import-command.ts')).runImport(args), summary: 'convert Exchange exports (receive/send connectors, permissions, accepted domains) to YAML' },
  'hand-off': { run: async (args) => (await import('./hand-off-command.ts')).runHandOff(args), summary: 'hand a spool folder\'s queue to running hubs (POST /queue/hand-off), then exit' },
  drain: { run: async (args) => (await import('./drain-command.ts')).runDrain(args), summary: 'drain the spool PVCs a scale-down left (StrandedMail): one Job per PVC, wait, report' },
  track: { run: async (args) => (await import('./track-command.ts')).runTrack(args), summary: 'search the tracking log on a hub\'s spool, its endpoint or all its pods (Get-MessageTrackingLog)' },
  'docs-api': { run: async () => (await import('./docs-api.ts')).runDocsApi(), summary: 'print docs/api.md generated from crds/' },
  'docs-metrics': { run: async () => (await import('./docs-metrics.ts')).runDocsMetrics(), summary: 'print docs/metrics.md generated from the metric definitions' },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: relay-operator COMMAND [flags]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`relay-operator: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  return command.run(args);
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}

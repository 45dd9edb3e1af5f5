/*
 * operator/cli/explain-command - `relay-operator explain` (issue 3; lands with the relay hub).
 */
export function runExplain(_args: string[]): number {
  console.error('relay-operator explain: not implemented yet (issue 3)');
  return 2;
}

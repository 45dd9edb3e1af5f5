/*
 * operator/cli/hub-command - `relay-operator hub` (issue 3; lands with the relay hub).
 */
export function runHub(_args: string[]): number {
  console.error('relay-operator hub: not implemented yet (issue 3)');
  return 2;
}

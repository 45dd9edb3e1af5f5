/*
 * relay/process/stop-signal - the first SIGTERM or SIGINT, listened for from the start.
 *
 * A command installs this before anything slow (spool recovery, cache sync): in a container
 * the process is PID 1, and PID 1 without a handler ignores SIGTERM, so a pod deleted while
 * it starts would otherwise wait for SIGKILL at the end of its grace period. After the first
 * signal the handlers are gone: a second Ctrl-C ends a process started by hand at once.
 */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onTerm = (): void => received('SIGTERM');
    const onInt = (): void => received('SIGINT');
    const received = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve(signal);
    };
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
  });
}

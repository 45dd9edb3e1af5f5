/*
 * relay/process/hand-off-only - hand a spool folder's queue to the hub's remaining pods, with
 * no hub running on it: the last step of a pod scaled away (relay-main.ts, after its hub
 * stopped and released the spool) and the whole of a drain Job on an orphaned spool PVC
 * (`relay-operator hand-off`, operator/resources/drain-job.ts).
 *
 * Opens the spool (which takes its LOCK: a live hub on the same folder makes this fail with
 * a clear error, never two writers), runs the sender (relay/queue/hand-off.ts) until the
 * deadline, closes, and logs what was handed off and what is left (count, oldest).
 */
import { Spool } from '../spool/spool.ts';
import { appLog } from '../log/protocol-log.ts';
import { handOffQueue, type HandOffReport } from '../queue/hand-off.ts';

export interface HandOffOnlyOptions {
  /** The spool's queue folder (`<spool root>/queue`). */
  spoolDir: string;
  targets: readonly string[];
  token: string;
  deadline: number;
}

/** handOffSpool - hand off what the spool folder holds; the report (also logged). */
export async function handOffSpool(options: HandOffOnlyOptions): Promise<HandOffReport> {
  const spool = await Spool.open(options.spoolDir, { log: (event) => { if (Spool.logLevel(event) !== 'info') appLog('warn', `spool ${event.event ?? ''}`, event); } });
  try {
    const states = await spool.openDeliveryStates();
    try {
      appLog('info', 'hand-off started', { targets: options.targets, secondsLeft: Math.max(0, Math.round((options.deadline - Date.now()) / 1000)) });
      const report = await handOffQueue({
        store: spool, states, targets: options.targets, token: options.token, deadline: options.deadline,
        log: (level, message, fields) => appLog(level, message, fields ?? {}),
      });
      const level = report.left > report.held ? 'warn' : 'info';
      const summary = report.left === 0
        ? `hand-off done: ${report.handed} messages handed off, the spool is empty`
        : `hand-off ended: ${report.handed} messages handed off, ${report.left} left on this spool (${report.held} held), oldest from ${report.oldestLeft ?? '?'}${report.stoppedBy ? `: ${report.stoppedBy}` : ''}`;
      appLog(level, summary, { ...report });
      return report;
    } finally {
      await states.close();
    }
  } finally {
    await spool.close();
  }
}

/*
 * operator/cli/hand-off-command - `relay-operator hand-off --spool DIR --to URL [--to URL ...]
 * --token-file FILE [--deadline SECONDS]`: hand a spool folder's queue to running hubs and exit.
 *
 * The drain Job of an orphaned spool PVC runs this (operator/resources/drain-job.ts); an
 * administrator may run it by hand against a spool folder no hub runs on (the spool's LOCK
 * refuses a live one). DIR is the spool root the relay was given (--spool), the queue in
 * DIR/queue. Exit status: 0 when the spool is empty afterwards, 3 when messages are left (held
 * ones included: they stay on purpose, and the PVC must not be deleted with them), 2 for a
 * usage error, 1 when the spool could not be opened.
 */
import { join, resolve } from 'node:path';
import { handOffSpool } from '../../relay/process/hand-off-only.ts';
import { FlagError, parseFlags, readTokenFile, requireFlag, withFlagErrors } from './flags.ts';

/** Exit status when messages are left on the spool. */
export const EXIT_MESSAGES_LEFT = 3;

export function runHandOff(args: string[]): Promise<number> {
  return withFlagErrors(async () => {
    const { values } = parseFlags('hand-off', args, {
      spool: { type: 'string' },
      to: { type: 'string', multiple: true },
      'token-file': { type: 'string' },
      deadline: { type: 'string', default: '600' },
    });
    const spool = resolve(requireFlag('hand-off', 'spool', values.spool));
    const targets = values.to ?? [];
    if (targets.length === 0) throw new FlagError('relay-operator hand-off: --to URL is required (a receiving hub\'s HTTP endpoint; repeat for several)');
    for (const target of targets) {
      if (!/^https?:\/\/[^/]+\/?$/.test(target)) throw new FlagError(`relay-operator hand-off: --to ${target}: give the hub's HTTP endpoint as http://HOST:PORT`);
    }
    const token = readTokenFile('hand-off', requireFlag('hand-off', 'token-file', values['token-file']), 'token-file');
    const seconds = Number(values.deadline);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new FlagError('relay-operator hand-off: --deadline must be seconds > 0');
    const report = await handOffSpool({ spoolDir: join(spool, 'queue'), targets, token, deadline: Date.now() + seconds * 1000 });
    return report.left === 0 ? 0 : EXIT_MESSAGES_LEFT;
  });
}

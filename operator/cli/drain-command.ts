/*
 * operator/cli/drain-command - `relay-operator drain --hub NAME -n NAMESPACE [--timeout S]
 * [--keep-volumes]`: hand off the mail on every spool PVC a scale-down left behind (the
 * RelayHub's StrandedMail condition), in one command.
 *
 * With the caller's own credentials (KUBECONFIG or in-cluster), not the operator's: it reads
 * the hub's StatefulSet (replicas, image) and lists its spool PVCs; for each orphaned one
 * (operator/controllers/stranded-mail.ts) it creates a Job (operator/resources/drain-job.ts)
 * that mounts the PVC and runs `relay-operator hand-off` against the hub's running pods, then
 * waits for the Jobs and reports each. A Job that ends with the spool empty (exit 0) has its
 * PVC deleted (unless --keep-volumes), which clears StrandedMail; a PVC with mail left (exit 3:
 * no pod answered, the time ran out, or held messages) is kept and named. Exit status 0 when
 * every orphaned PVC was drained, 1 otherwise. The caller needs: get statefulsets, list and
 * delete persistentvolumeclaims, create, get and delete jobs, in the hub's namespace
 * (docs/security.md).
 */
import { AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import { orphanedSpoolClaims } from '../controllers/stranded-mail.ts';
import { drainJob, drainJobName } from '../resources/drain-job.ts';
import { hubNames } from '../resources/names.ts';
import type { KubeObject } from '../runtime/objects.ts';
import { FlagError, parseFlags, requireFlag, withFlagErrors } from './flags.ts';

const POLL_MS = 2000;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function jobEnded(job: V1Job): 'succeeded' | 'failed' | null {
  if ((job.status?.succeeded ?? 0) > 0) return 'succeeded';
  if ((job.status?.failed ?? 0) > 0 || job.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True')) return 'failed';
  return null;
}

export function runDrain(args: string[]): Promise<number> {
  return withFlagErrors(async () => {
    const { values } = parseFlags('drain', args, {
      hub: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      timeout: { type: 'string', default: '600' },
      'keep-volumes': { type: 'boolean', default: false },
    });
    const hub = requireFlag('drain', 'hub', values.hub);
    const namespace = requireFlag('drain', 'namespace', values.namespace);
    const timeout = Number(values.timeout);
    if (!Number.isFinite(timeout) || timeout <= 0) throw new FlagError('relay-operator drain: --timeout must be seconds > 0');
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromDefault();
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const batch = kubeConfig.makeApiClient(BatchV1Api);
    const statefulSetName = hubNames(hub).statefulSet;
    const statefulSet = await apps.readNamespacedStatefulSet({ name: statefulSetName, namespace });
    const replicas = statefulSet.spec?.replicas ?? 1;
    const image = statefulSet.spec?.template.spec?.containers[0]?.image;
    if (!image) throw new FlagError(`relay-operator drain: StatefulSet ${namespace}/${statefulSetName} has no container image`);
    if (replicas <= 0) {
      say(`RelayHub ${namespace}/${hub} is scaled to 0: no pod to hand mail to; scale it up first`);
      return 1;
    }
    const claims = await core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: `relayoperator.io/hub=${hub}` });
    const orphaned = orphanedSpoolClaims(hub, replicas, claims.items as KubeObject[]);
    if (orphaned.length === 0) {
      say(`RelayHub ${namespace}/${hub}: no orphaned spool PVC (replicas ${replicas}), nothing to drain`);
      return 0;
    }
    say(`RelayHub ${namespace}/${hub}: draining ${orphaned.join(', ')} into ${replicas} running pod(s)`);
    for (const claim of orphaned) {
      const name = drainJobName(claim);
      // an earlier drain's Job of the same name (finished, or left by an interrupted drain) goes first
      await batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Foreground' }).catch(() => undefined);
      for (let i = 0; i < 30; i++) {
        const gone = await batch.readNamespacedJob({ name, namespace }).then(() => false, () => true);
        if (gone) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      await batch.createNamespacedJob({ namespace, body: drainJob({ hub, namespace, claim, replicas, image, deadlineSeconds: timeout }) as V1Job });
      say(`  job/${name} created for pvc/${claim}`);
    }
    const deadline = Date.now() + (timeout + 180) * 1000;
    const results = new Map<string, 'succeeded' | 'failed' | 'timed out'>();
    while (results.size < orphaned.length) {
      for (const claim of orphaned) {
        if (results.has(claim)) continue;
        const job = await batch.readNamespacedJob({ name: drainJobName(claim), namespace });
        const ended = jobEnded(job);
        if (ended) results.set(claim, ended);
        else if (Date.now() > deadline) results.set(claim, 'timed out');
      }
      if (results.size < orphaned.length) await new Promise((r) => setTimeout(r, POLL_MS));
    }
    let left = 0;
    for (const claim of orphaned) {
      const result = results.get(claim);
      if (result === 'succeeded') {
        if (values['keep-volumes']) say(`  pvc/${claim}: drained, the spool is empty (kept: --keep-volumes)`);
        else {
          await core.deleteNamespacedPersistentVolumeClaim({ name: claim, namespace });
          say(`  pvc/${claim}: drained, the spool is empty; PVC deleted`);
        }
      } else {
        left += 1;
        say(`  pvc/${claim}: NOT drained (${result ?? '?'}): mail is left on it; see kubectl logs -n ${namespace} job/${drainJobName(claim)} (docs/runbooks.md)`);
      }
    }
    say(left === 0 ? `drained ${orphaned.length} PVC(s)` : `${left} of ${orphaned.length} PVC(s) still hold mail`);
    return left === 0 ? 0 : 1;
  });
}

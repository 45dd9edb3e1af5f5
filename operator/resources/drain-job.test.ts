/*
 * operator/resources/drain-job - the Job `relay-operator drain` creates per orphaned spool PVC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drainJob, drainJobName } from './drain-job.ts';

interface JobView {
  metadata: { name: string; namespace: string };
  spec: {
    backoffLimit: number;
    template: { spec: {
      restartPolicy: string; automountServiceAccountToken: boolean; securityContext: { runAsNonRoot: boolean };
      containers: Array<{ image: string; args: string[]; securityContext: { readOnlyRootFilesystem: boolean }; volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }> }>;
      volumes: Array<{ name: string; persistentVolumeClaim?: { claimName: string }; secret?: { secretName: string } }>;
    } };
  };
}

test('the drain Job mounts the orphaned PVC where the relay had it and hands off to the running pods with the hub token', () => {
  const job = drainJob({ hub: 'east', namespace: 'mail', claim: 'spool-east-relay-2', replicas: 2, image: 'registry.test/relay:1', deadlineSeconds: 300 }) as unknown as JobView;
  assert.equal(job.metadata.name, 'spool-east-relay-2-drain');
  assert.equal(job.metadata.namespace, 'mail');
  assert.equal(job.spec.backoffLimit, 0, 'reported, not retried in a loop');
  const pod = job.spec.template.spec;
  assert.equal(pod.restartPolicy, 'Never');
  assert.equal(pod.automountServiceAccountToken, false, 'no API access');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  const [container] = pod.containers;
  assert.equal(container?.image, 'registry.test/relay:1');
  assert.equal(container?.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual(container?.args, ['hand-off', '--spool', '/var/spool/relay', '--token-file', '/etc/relay/queue-token/token', '--deadline', '300',
    '--to', 'http://east-relay-0.east-relay-pods.mail.svc:9090', '--to', 'http://east-relay-1.east-relay-pods.mail.svc:9090']);
  assert.deepEqual(pod.volumes.map((v) => v.persistentVolumeClaim?.claimName ?? v.secret?.secretName), ['spool-east-relay-2', 'east-relay-queue-token']);
  assert.deepEqual(container?.volumeMounts, [{ name: 'spool', mountPath: '/var/spool/relay' }, { name: 'queue-token', mountPath: '/etc/relay/queue-token', readOnly: true }]);
  assert.equal(drainJobName(`spool-${'x'.repeat(70)}-relay-1`).length, 63);
  assert.equal(drainJobName(`spool-${'x'.repeat(56)}-relay-1`), `spool-${'x'.repeat(56)}`, 'never ends in -');
});

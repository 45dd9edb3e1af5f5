/*
 * The DSN extension on the receive side (RFC 3461): EHLO offers DSN, and NOTIFY/ORCPT per
 * recipient and RET/ENVID per message are kept in the spooled envelope for delivery.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { freePort } from '../controlplane/controlplane.ts';
import { startHubProcess, removeHubDir, type HubProcess, anonymousRelayConnector } from '../support/hub-process.ts';
import { Spool } from '../../relay/spool/spool.ts';

const IP = '127.0.0.73';
let hub: HubProcess | undefined;
after(async () => {
  if (hub) {
    await hub.stop();
    removeHubDir(hub);
  }
});

test('NOTIFY, ORCPT, RET and ENVID reach the spooled envelope', async () => {
  const port = await freePort(IP);
  hub = await startHubProcess({
    hub: 'dsn',
    manifests: `
apiVersion: relayoperator.io/v1alpha1
kind: RelayHub
metadata: {name: dsn, namespace: dsn}
spec: {fqdn: dsn.relay.test, antiSpam: {spf: false}}
---
${anonymousRelayConnector({ namespace: 'dsn', hub: 'dsn', binding: `${IP}:${port}` })}
---
apiVersion: relayoperator.io/v1alpha1
kind: SendConnector
metadata: {name: nowhere, namespace: dsn}
spec:
  addressSpaces: [{domain: "*", cost: 1}]
  smartHosts: ["127.0.0.1:9"]
  tls: {mode: None}
`,
  });
  const transport = nodemailer.createTransport({ host: IP, port, ignoreTLS: true });
  const info = await transport.sendMail({
    from: 'app@dsn.test',
    to: 'someone@remote.test',
    subject: 'dsn',
    text: 'hello',
    dsn: { id: 'envelope-42', return: 'headers', notify: ['failure', 'delay'], recipient: 'someone@remote.test' },
  });
  assert.match(info.response, /^250 /);
  await hub.stop();
  const spool = await Spool.open(hub.spoolDir);
  try {
    const envelopes = [];
    for (const state of ['incoming', 'active', 'deferred'] as const) {
      for (const id of await spool.listMessages(state)) envelopes.push((await spool.readMessage(state, id)).envelope);
    }
    assert.equal(envelopes.length, 1);
    const envelope = envelopes[0]!;
    assert.equal(envelope.dsnRet, 'HDRS');
    assert.equal(envelope.dsnEnvid, 'envelope-42');
    assert.deepEqual(envelope.rcptTo[0]?.notify, ['FAILURE', 'DELAY']);
    assert.match(envelope.rcptTo[0]?.orcpt ?? '', /someone@remote\.test/);
  } finally {
    await spool.close();
  }
});

/*
 * test/api/argocd-health - the Argo CD health check (charts/relay-operator/argocd/health.lua) run
 * by a real Lua interpreter (Debian's lua5.4; Argo CD runs gopher-lua, Lua 5.1, and the script
 * keeps to what both share) on statuses built by the operator's own code: SendConnector and
 * AcceptedDomain through applyReadyStatus, RelayHub and ReceiveConnector conditions with the
 * helpers and reasons their controllers use. What an Argo CD user sees: Healthy when Ready,
 * Progressing while reconciling or before the operator observed the generation, Degraded for a
 * failing connector (naming the cause), Suspended for a disabled one. The script pasted in
 * docs/gitops.md and in argocd/argo-cd-values.yaml is this file, byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { API_GROUP_VERSION, KINDS } from '../../operator/api/crds.ts';
import type { RelayHub, SendConnector } from '../../operator/api/types.generated.ts';
import type { Applier } from '../../operator/runtime/apply.ts';
import { ConditionReason, setCondition, setKstatusConditions, type Condition, type ReadyVerdict } from '../../operator/runtime/conditions.ts';
import type { KubeObject } from '../../operator/runtime/objects.ts';
import { applyReadyStatus } from '../../operator/controllers/ready-status.ts';
import { decideSendConnectorStatus } from '../../operator/controllers/send-connector-controller.ts';
import { strandedMailCondition } from '../../operator/controllers/stranded-mail.ts';

const SCRIPT_FILE = 'charts/relay-operator/argocd/health.lua';
const VALUES_FILE = 'charts/relay-operator/argocd/argo-cd-values.yaml';
const script = readFileSync(SCRIPT_FILE, 'utf8');
const GROUP = API_GROUP_VERSION.split('/')[0] ?? '';
const NOW = new Date('2026-03-01T12:00:00Z');
const NS = 'mail';

interface StatusObject { apiVersion: string; kind: string; metadata: { name: string; namespace: string; generation?: number }; status?: { observedGeneration?: number; conditions?: Condition[] } }
interface Health { status: string; message: string }

/** luaLiteral - a Lua table constructor for a JSON-like value (strings as byte escapes). */
function luaLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') {
    return `"${[...Buffer.from(value, 'utf8')].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\${String(b).padStart(3, '0')}`)).join('')}"`;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(luaLiteral).join(', ')}}`;
  if (typeof value === 'object') return `{${Object.entries(value).map(([k, v]) => `[${luaLiteral(k)}] = ${luaLiteral(v)}`).join(', ')}}`;
  throw new Error(`no Lua literal for ${typeof value}`);
}

/** health - what Argo CD would show: the script run by lua5.4 with `obj` set, as Argo CD sets it. */
function health(obj: StatusObject): Health {
  const chunk = `obj = ${luaLiteral(obj)}\nlocal hs = dofile(${luaLiteral(SCRIPT_FILE)})\nio.write(hs.status, "\\n", hs.message)\n`;
  let out: string;
  try {
    out = execFileSync('lua5.4', ['-'], { input: chunk, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('lua5.4 is not installed (apt-get install lua5.4; .ci/run installs it)', { cause: error });
    throw new Error(`${SCRIPT_FILE} failed on ${obj.kind} ${obj.metadata.name}: ${e.stderr ?? e.message}`, { cause: error });
  }
  const [status = '', ...message] = out.split('\n');
  return { status, message: message.join('\n') };
}

const object = (kind: string, name: string, conditions: Condition[] | undefined, generation = 2, observed = generation): StatusObject => ({
  apiVersion: API_GROUP_VERSION, kind, metadata: { name, namespace: NS, generation },
  ...(conditions ? { status: { observedGeneration: observed, conditions } } : {}),
});

/** readyStatus - the status applyReadyStatus writes (AcceptedDomain, SendConnector), captured from its applier. */
async function readyStatus(kind: 'AcceptedDomain' | 'SendConnector', name: string, ready: ReadyVerdict): Promise<StatusObject> {
  let written: StatusObject | undefined;
  const applier = { applyStatusIfChanged: (desired: StatusObject) => { written = desired; return Promise.resolve({ applied: true, object: desired }); } } as unknown as Applier;
  const cached: KubeObject = { apiVersion: API_GROUP_VERSION, kind, metadata: { name, namespace: NS, generation: 2 } };
  await applyReadyStatus(applier, kind, { namespace: NS, name }, cached, ready);
  assert.ok(written?.status, `${kind} ${name}: a status was written`);
  return { ...written, metadata: { name, namespace: NS, generation: 2 } };
}

/** receiveConnector - conditions as connector-controller.ts writes them for that Ready verdict. */
function receiveConnector(name: string, ready: ReadyVerdict, kstatus: { stalled?: boolean; propagating?: boolean }): StatusObject {
  let conditions = setCondition([], { type: 'Ready', ...ready }, 2, NOW);
  conditions = setKstatusConditions(conditions, {
    stalled: kstatus.stalled ? { reason: ready.reason, message: ready.message } : undefined,
    reconciling: kstatus.propagating ? { reason: ConditionReason.Propagating, message: ready.message } : undefined,
    settled: { reason: ready.reason, message: ready.message },
  }, 2, NOW);
  conditions = setCondition(conditions, { type: 'Conflicted', status: 'False', reason: 'NoConflict', message: 'no conflicting connector on its listeners' }, 2, NOW);
  return object('ReceiveConnector', name, conditions);
}

/** relayHub - conditions as hub-controller.ts writes them: pods current or rolling out, connectors loaded or not. */
function relayHub(name: string, state: { live: boolean; notLoaded?: string; tooLarge?: boolean }): StatusObject {
  let conditions: Condition[] = [];
  let stalled;
  if (state.tooLarge) {
    const message = 'rendered config is 1100000 bytes compressed, above the ConfigMap limit of 1000000; pods keep the previous config';
    conditions = setCondition(conditions, { type: 'Ready', status: 'False', reason: 'ConfigTooLarge', message }, 2, NOW);
    conditions = setCondition(conditions, { type: 'Degraded', status: 'True', reason: 'ConfigTooLarge', message }, 2, NOW);
    stalled = { reason: ConditionReason.ConfigTooLarge, message };
  } else {
    conditions = setCondition(conditions, state.live
      ? { type: 'Ready', status: 'True', reason: 'PodsCurrent', message: '2/2 pods run config 5f2a' }
      : { type: 'Ready', status: 'False', reason: 'PodsNotCurrent', message: '1/2 pods run config 5f2a (2 ready)' }, 2, NOW);
    conditions = setCondition(conditions, state.live
      ? { type: 'Progressing', status: 'False', reason: 'PodsCurrent', message: 'every pod runs the current config' }
      : { type: 'Progressing', status: 'True', reason: 'RollingOut', message: 'waiting for 1 pod(s) to load config 5f2a' }, 2, NOW);
    conditions = setCondition(conditions, state.notLoaded
      ? { type: 'Degraded', status: 'True', reason: 'ConnectorsNotLoaded', message: state.notLoaded }
      : { type: 'Degraded', status: 'False', reason: 'AllConnectorsLoaded', message: '3 connector(s) loaded' }, 2, NOW);
  }
  conditions = setKstatusConditions(conditions, {
    stalled,
    reconciling: !state.tooLarge && !state.live ? { reason: ConditionReason.RollingOut, message: 'waiting for 1 pod(s) to load config 5f2a (2 ready)' } : undefined,
    settled: { reason: 'PodsCurrent', message: 'every pod runs config 5f2a' },
  }, 2, NOW);
  return object('RelayHub', name, conditions);
}

const hub: RelayHub = { apiVersion: API_GROUP_VERSION, kind: 'RelayHub', metadata: { name: 'hub-east-a', namespace: NS, creationTimestamp: '2026-01-01T00:00:00Z' }, spec: {} };
const sendConnector = (spec: Partial<SendConnector['spec']>): SendConnector => ({
  apiVersion: API_GROUP_VERSION, kind: 'SendConnector', metadata: { name: 'internet', namespace: NS, generation: 2, creationTimestamp: '2026-01-02T00:00:00Z' },
  spec: { addressSpaces: [{ domain: '*' }], ...spec },
});

void test('ReceiveConnector: Healthy when live, Progressing while propagating, Degraded naming a missing Secret, Suspended when disabled', () => {
  assert.deepEqual(health(receiveConnector('copiers', { status: 'True', reason: 'Live', message: 'live on hub-east-a' }, {})),
    { status: 'Healthy', message: 'live on hub-east-a' });
  const propagating = health(receiveConnector('copiers', { status: 'False', reason: 'Propagating', message: 'hub-east-a: Propagating: 1/2 pods run config 5f2a' }, { propagating: true }));
  assert.deepEqual(propagating, { status: 'Progressing', message: 'Propagating: hub-east-a: Propagating: 1/2 pods run config 5f2a' });
  const missing = 'hub-east-a: missingSecret: Secret copiers-tls (spec.tls.secretName) not found in namespace mail';
  assert.deepEqual(health(receiveConnector('copiers', { status: 'False', reason: 'SecretNotFound', message: missing }, { stalled: true })),
    { status: 'Degraded', message: `SecretNotFound: ${missing}` });
  const conflict = health(receiveConnector('scanners', { status: 'False', reason: 'Conflicted', message: 'hub-east-a: listener 0.0.0.0:25 is taken by copiers' }, { stalled: true }));
  assert.equal(conflict.status, 'Degraded');
  assert.match(conflict.message, /^Conflicted: .*copiers/);
  assert.deepEqual(health(receiveConnector('old-fax', { status: 'False', reason: 'Disabled', message: 'spec.enabled is false: the connector is rendered nowhere' }, {})),
    { status: 'Suspended', message: 'spec.enabled is false: the connector is rendered nowhere' });
});

void test('RelayHub: Healthy with every pod current, Progressing while rolling out, Degraded with a connector it could not load or a config too large', () => {
  assert.deepEqual(health(relayHub('hub-east-a', { live: true })), { status: 'Healthy', message: '2/2 pods run config 5f2a' });
  assert.deepEqual(health(relayHub('hub-east-a', { live: false })), { status: 'Progressing', message: 'RollingOut: waiting for 1 pod(s) to load config 5f2a (2 ready)' });
  const notLoaded = health(relayHub('hub-east-a', { live: true, notLoaded: 'mail/copiers: Secret copiers-tls not found' }));
  assert.deepEqual(notLoaded, { status: 'Degraded', message: 'ConnectorsNotLoaded: mail/copiers: Secret copiers-tls not found' });
  const tooLarge = health(relayHub('hub-east-a', { live: false, tooLarge: true }));
  assert.equal(tooLarge.status, 'Degraded');
  assert.match(tooLarge.message, /^ConfigTooLarge: rendered config is/);
});

void test('RelayHub: Degraded while a scale-down left spool PVCs that may hold mail (StrandedMail), Healthy once they are drained', () => {
  const withStranded = (orphaned: string[]): StatusObject => {
    const live = relayHub('hub-east-a', { live: true });
    return { ...live, status: { ...live.status, conditions: setCondition(live.status?.conditions ?? [], strandedMailCondition('hub-east-a', orphaned), 2, NOW) } };
  };
  const stranded = health(withStranded(['spool-hub-east-a-relay-2']));
  assert.equal(stranded.status, 'Degraded');
  assert.match(stranded.message, /^OrphanedSpoolVolumes: spool PVC\(s\) spool-hub-east-a-relay-2 .*relay-operator drain --hub hub-east-a/);
  assert.deepEqual(health(withStranded([])), { status: 'Healthy', message: '2/2 pods run config 5f2a' });
});

void test('SendConnector and AcceptedDomain, as applyReadyStatus writes them: Healthy when Rendered, Degraded with the reason otherwise', async () => {
  const rendered = await readyStatus('SendConnector', 'internet', decideSendConnectorStatus({ namespace: NS, connector: sendConnector({}), hubs: [hub], secrets: [] }));
  assert.deepEqual(health(rendered), { status: 'Healthy', message: 'in the config of RelayHub hub-east-a' });
  const noSecret = await readyStatus('SendConnector', 'internet', decideSendConnectorStatus({ namespace: NS, connector: sendConnector({ authentication: { secretName: 'smarthost' } }), hubs: [hub], secrets: [] }));
  const degraded = health(noSecret);
  assert.equal(degraded.status, 'Degraded');
  assert.match(degraded.message, /^SecretNotFound: .*smarthost/);
  const noHub = await readyStatus('AcceptedDomain', 'contoso', { status: 'False', reason: 'NoRelayHub', message: 'no RelayHub in namespace mail accepts mail for contoso.test' });
  assert.deepEqual(health(noHub), { status: 'Degraded', message: 'NoRelayHub: no RelayHub in namespace mail accepts mail for contoso.test' });
});

void test('before the operator: no status, or a generation not observed yet, is Progressing whatever the old conditions say', () => {
  assert.deepEqual(health(object('ReceiveConnector', 'copiers', undefined)), { status: 'Progressing', message: 'waiting for the operator to write a status' });
  const stale = receiveConnector('copiers', { status: 'True', reason: 'Live', message: 'live on hub-east-a' }, {});
  stale.metadata.generation = 3;
  assert.deepEqual(health(stale), { status: 'Progressing', message: 'generation 3 not observed yet' });
});

void test('the script in docs/gitops.md and in argo-cd-values.yaml is health.lua for each of the four kinds', () => {
  const doc = readFileSync('docs/gitops.md', 'utf8');
  const blocks = [...doc.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
  const argocdCm = blocks.flatMap((b) => parseAllDocuments(b).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; data?: Record<string, string> }))
    .find((d) => d.kind === 'ConfigMap' && d.metadata?.name === 'argocd-cm');
  const values = parseAllDocuments(readFileSync(VALUES_FILE, 'utf8'))[0]?.toJS() as { configs?: { cm?: Record<string, string> } } | undefined;
  for (const kind of KINDS) {
    const key = `resource.customizations.health.${GROUP}_${kind}`;
    assert.equal(argocdCm?.data?.[key], script, `docs/gitops.md argocd-cm ${key}`);
    assert.equal(values?.configs?.cm?.[key], script, `${VALUES_FILE} configs.cm ${key}`);
  }
});

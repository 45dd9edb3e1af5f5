/*
 * operator/validate/validate - `relay-operator validate`: the API server's verdicts, offline,
 * then the cross-object rules the API server cannot see.
 *
 * Per object: apiVersion/kind, metadata.name, the CRD schema (ajv) and the CEL rules, then
 * the deep checks CEL skips for cost (IPv6 range order). Per namespace: the render every hub
 * would get - unknown hubs, unknown hub address names, literal IPs on two hubs, connector
 * conflicts on a listener, Secrets - and at most one default AcceptedDomain.
 * Open-relay guardrails the API server cannot check (the public suffix list, range widths and
 * publicity) are checked per object here, whether or not a hub selects it, naming the entry.
 */
import { API_GROUP_VERSION, type Kind } from '../api/crds.ts';
import type { AcceptedDomain, ReceiveConnector, RelayHub, SendConnector } from '../api/types.generated.ts';
import { describeObject, loadManifests, type LoadedManifest, type ManifestProblem, type ManifestSource } from '../manifests/load.ts';
import type { NamespaceObjects, SecretObject } from '../render/inputs.ts';
import { renderHub } from '../render/render.ts';
import { effectiveConnectorSpec } from '../render/receive-connectors.ts';
import { domainPublicSuffixProblem, openRelayProblem, SecurityRule } from '../render/security.ts';
import { selectsHub } from '../render/selection.ts';
import { connectorWarnings } from '../render/warnings.ts';
import { checkCelRules } from './cel-rules.ts';
import { checkSchema, isKnownKind } from './schema-check.ts';
import { parseRemoteIPRange } from '../../relay/common/addresses.ts';
import { secretKeyProblem, secretNameProblem } from '../../relay/config/secret-names.ts';
import { canonicalDomainPattern } from '../../relay/delivery/address-canonical.ts';

export interface ValidationProblem extends ManifestProblem {
  severity: 'error' | 'warning';
}

export interface ValidatedSet {
  namespaces: Map<string, NamespaceObjects>;
  /** Where each valid object came from, by `Kind namespace/name`. */
  sources: Map<string, ManifestSource>;
  problems: ValidationProblem[];
}

const DEFAULT_NAMESPACE = 'default';

function namespaceOf(object: Record<string, unknown>): string {
  const namespace = (object.metadata as { namespace?: unknown } | undefined)?.namespace;
  return typeof namespace === 'string' && namespace ? namespace : DEFAULT_NAMESPACE;
}

function emptyNamespace(namespace: string): NamespaceObjects {
  return { namespace, hubs: [], receiveConnectors: [], acceptedDomains: [], sendConnectors: [], secrets: [] };
}

function checkObject(manifest: LoadedManifest, kind: Kind): ValidationProblem[] {
  const { object, source } = manifest;
  const name = describeObject(object, source);
  const out: ValidationProblem[] = [];
  const add = (field: string, rule: string, message: string): void => {
    out.push({ source, object: name, field, rule, message, severity: 'error' });
  };
  if (object.apiVersion !== API_GROUP_VERSION) add('apiVersion', 'apiVersion', `must be ${API_GROUP_VERSION}, not ${JSON.stringify(object.apiVersion)}`);
  const metadata = (object.metadata ?? {}) as { name?: unknown };
  if (typeof metadata.name !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(metadata.name)) {
    add('metadata.name', 'name', 'Required value: a lowercase RFC 1123 name');
  }
  const schema = checkSchema(kind, object);
  for (const p of schema) add(p.field, p.rule, p.message);
  // A field of the wrong type stops here, as on the API server (CEL runs on objects that fit
  // the structural schema): the rules below read fields as the types the schema promises.
  if (schema.some((p) => p.rule === 'type')) return out;
  let cel: ReturnType<typeof checkCelRules>;
  try {
    cel = checkCelRules(kind, object);
  } catch (error) {
    // A shape the schema let through but a rule did not expect: a problem to report with
    // the object named, never a crash of the whole command.
    add('spec', 'internal', `could not be checked: ${(error as Error).message}`);
    return out;
  }
  for (const p of cel) add(p.field, p.rule, p.message);
  if (kind === 'ReceiveConnector') {
    const ranges = (object.spec as { remoteIPRanges?: unknown } | undefined)?.remoteIPRanges;
    (Array.isArray(ranges) ? ranges : []).forEach((entry: unknown, i) => {
      const field = `spec.remoteIPRanges[${i}]`;
      if (typeof entry !== 'string' || cel.some((p) => p.field === field)) return;
      try {
        parseRemoteIPRange(entry);
      } catch (error) {
        const rule = (error as { rule?: string }).rule ?? 'remoteIPRangeSyntax';
        add(field, rule, (error as Error).message);
      }
    });
  }
  return out;
}

/**
 * checkSecret - a v1 Secret document as the API server would take it: its name a DNS
 * subdomain, `data` and `stringData` maps of strings (`data` base64) whose keys are what
 * Kubernetes allows ([-._a-zA-Z0-9]+, not '.', '..' or '..x'). Standalone mode writes each key
 * to DIR/secrets/NAME/KEY, so a name or key like "../x" would be a file outside the spool.
 */
function checkSecret(manifest: LoadedManifest): ValidationProblem[] {
  const { object, source } = manifest;
  const name = describeObject(object, source);
  const out: ValidationProblem[] = [];
  const add = (field: string, rule: string, message: string): void => {
    out.push({ source, object: name, field, rule, message, severity: 'error' });
  };
  const metadata = object.metadata;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    add('metadata', 'type', `Invalid value: ${JSON.stringify(metadata) ?? 'undefined'}: must be of type object`);
    return out;
  }
  const nameProblem = secretNameProblem((metadata as { name?: unknown }).name);
  if (nameProblem) add('metadata.name', 'secretName', nameProblem);
  for (const field of ['data', 'stringData'] as const) {
    const map = object[field];
    if (map === undefined || map === null) continue;
    if (typeof map !== 'object' || Array.isArray(map)) {
      add(field, 'type', `Invalid value: ${JSON.stringify(map)}: must be of type object (a map of key to ${field === 'data' ? 'base64 string' : 'string'})`);
      continue;
    }
    for (const [key, value] of Object.entries(map as Record<string, unknown>)) {
      const keyProblem = secretKeyProblem(key);
      if (keyProblem) add(`${field}[${key}]`, 'secretKey', keyProblem);
      if (typeof value !== 'string') add(`${field}[${key}]`, 'type', `Invalid value: ${JSON.stringify(value) ?? 'undefined'}: must be of type string`);
      else if (field === 'data' && !/^[A-Za-z0-9+/]*={0,2}$/.test(value.replace(/\s/g, ''))) add(`data[${key}]`, 'base64', 'Invalid value: not base64');
    }
  }
  return out;
}

/** validateManifests - every problem in the manifests under `paths`, and the valid objects by namespace. */
export interface ValidateOptions {
  /**
   * Render every hub to find the problems only a render shows (conflicts, unknown hub
   * addresses, Secrets): `validate` reports them as errors. Default true;
   * `hub`, `render` and `explain` render the one hub they run themselves and report those
   * problems from that render, so they skip rendering every hub here.
   */
  renderHubs?: boolean;
}

export function validateManifests(paths: string[], options: ValidateOptions = {}): ValidatedSet {
  const loaded = loadManifests(paths);
  const problems: ValidationProblem[] = loaded.problems.map((p) => ({ ...p, severity: 'error' }));
  const namespaces = new Map<string, NamespaceObjects>();
  const sources = new Map<string, ManifestSource>();
  const seen = new Map<string, ManifestSource>();
  const bucket = (namespace: string): NamespaceObjects => {
    let objects = namespaces.get(namespace);
    if (!objects) namespaces.set(namespace, (objects = emptyNamespace(namespace)));
    return objects;
  };

  for (const manifest of loaded.manifests) {
    const { object, source } = manifest;
    const namespace = namespaceOf(object);
    if (object.apiVersion === 'v1' && object.kind === 'Secret') {
      const secretProblems = checkSecret(manifest);
      problems.push(...secretProblems);
      // A Secret refused here is left out, so the objects that name it say it is missing too.
      if (secretProblems.length === 0) bucket(namespace).secrets.push(object as unknown as SecretObject);
      continue;
    }
    if (!isKnownKind(object.kind)) continue;
    const kind = object.kind;
    const objectProblems = checkObject(manifest, kind);
    problems.push(...objectProblems);
    const id = describeObject({ ...object, metadata: { ...(object.metadata as object), namespace } }, source);
    const earlier = seen.get(id);
    if (earlier) {
      problems.push({ source, object: id, field: 'metadata.name', rule: 'duplicateObject', message: `also defined in ${earlier.file}`, severity: 'error' });
      continue;
    }
    seen.set(id, source);
    if (objectProblems.length > 0) continue;
    sources.set(id, source);
    const objects = bucket(namespace);
    if (kind === 'RelayHub') objects.hubs.push(object as unknown as RelayHub);
    else if (kind === 'ReceiveConnector') objects.receiveConnectors.push(object as unknown as ReceiveConnector);
    else if (kind === 'AcceptedDomain') objects.acceptedDomains.push(object as unknown as AcceptedDomain);
    else objects.sendConnectors.push(object as unknown as SendConnector);
  }

  for (const objects of namespaces.values()) problems.push(...crossObjectProblems(objects, sources, options.renderHubs ?? true));
  return { namespaces, sources, problems };
}

function crossObjectProblems(objects: NamespaceObjects, sources: Map<string, ManifestSource>, renderHubs: boolean): ValidationProblem[] {
  const out: ValidationProblem[] = [];
  const ns = objects.namespace;
  const sourceOf = (kind: string, name: string | undefined): ManifestSource => sources.get(`${kind} ${ns}/${name ?? ''}`) ?? { file: '(unknown)', document: 0 };
  const hubNames = new Set(objects.hubs.map((h) => h.metadata.name));
  const connectors = [
    ...objects.receiveConnectors.map((c) => ({ kind: 'ReceiveConnector', name: c.metadata.name, hubs: c.spec.hubs ?? [] })),
    ...objects.sendConnectors.map((c) => ({ kind: 'SendConnector', name: c.metadata.name, hubs: c.spec.hubs ?? [] })),
  ];
  for (const connector of connectors) {
    connector.hubs.forEach((hub, i) => {
      if (hubNames.has(hub)) return;
      out.push({
        source: sourceOf(connector.kind, connector.name),
        object: `${connector.kind} ${ns}/${connector.name ?? ''}`,
        field: `spec.hubs[${i}]`,
        rule: 'unknownHub',
        message: `RelayHub ${hub} does not exist in namespace ${ns} (hubs here: ${[...hubNames].join(', ') || 'none'})`,
        severity: 'error',
      });
    });
  }
  const defaults = objects.acceptedDomains.filter((d) => d.spec.default);
  for (const extra of defaults.slice(1)) {
    out.push({
      source: sourceOf('AcceptedDomain', extra.metadata.name),
      object: `AcceptedDomain ${ns}/${extra.metadata.name ?? ''}`,
      field: 'spec.default',
      rule: 'singleDefaultDomain',
      message: `only one AcceptedDomain per namespace may be the default; ${defaults[0]?.metadata.name ?? ''} already is`,
      severity: 'error',
    });
  }
  // Per object, and so reported once with the exact field rather than once per hub by render.
  const perObject = new Set<string>([SecurityRule.openRelayNeedsAllowOpenRelay, SecurityRule.domainPublicSuffix]);
  for (const connector of objects.receiveConnectors) {
    const problem = openRelayProblem(effectiveConnectorSpec(connector));
    if (!problem) continue;
    out.push({ source: sourceOf('ReceiveConnector', connector.metadata.name), object: `ReceiveConnector ${ns}/${connector.metadata.name ?? ''}`, field: problem.field, rule: problem.rule, message: problem.message, severity: 'error' });
  }
  // Warnings (render/warnings.ts): the connector loads, but does not do what it most likely means.
  for (const connector of objects.receiveConnectors) {
    const spec = effectiveConnectorSpec(connector);
    for (const warning of connectorWarnings(connector, objects.hubs.filter((hub) => selectsHub(spec, hub)))) {
      out.push({ source: sourceOf('ReceiveConnector', connector.metadata.name), object: `ReceiveConnector ${ns}/${connector.metadata.name ?? ''}`, field: warning.field, rule: warning.rule, message: warning.message, severity: 'warning' });
    }
  }
  for (const domain of objects.acceptedDomains) {
    const problem = domainPublicSuffixProblem(domain.spec.domainName);
    if (!problem) continue;
    out.push({ source: sourceOf('AcceptedDomain', domain.metadata.name), object: `AcceptedDomain ${ns}/${domain.metadata.name ?? ''}`, field: problem.field, rule: problem.rule, message: problem.message, severity: 'error' });
  }
  // The CRD pattern lets `xn--zz.example` through; the relay would match nothing against it.
  for (const domain of objects.acceptedDomains) {
    if (canonicalDomainPattern(domain.spec.domainName) !== null) continue;
    out.push({ source: sourceOf('AcceptedDomain', domain.metadata.name), object: `AcceptedDomain ${ns}/${domain.metadata.name ?? ''}`, field: 'spec.domainName', rule: 'idnaDomainName', message: `domainName "${domain.spec.domainName}" is not a valid IDNA host name (IDNA 2008 / UTS 46: an xn-- label must decode to a valid U-label), so no address would ever match it`, severity: 'error' });
  }
  const reported = new Set<string>();
  for (const hub of renderHubs ? objects.hubs : []) {
    const result = renderHub(hub, objects, { secretFile: (name, key) => `/secrets/${name}/${key}` });
    for (const problem of result.problems) {
      if (perObject.has(problem.rule)) continue;
      const key = `${problem.object}|${problem.rule}|${problem.message}`;
      if (reported.has(key)) continue;
      reported.add(key);
      const [kind = '', id = ''] = problem.object.split(' ');
      out.push({
        source: sources.get(`${kind} ${id}`) ?? { file: '(unknown)', document: 0 },
        object: problem.object,
        field: problem.field,
        rule: problem.rule,
        message: problem.message,
        severity: problem.rule === 'missingSecret' ? 'warning' : 'error',
      });
    }
  }
  return out;
}

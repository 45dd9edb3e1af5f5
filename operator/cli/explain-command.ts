/*
 * operator/cli/explain-command - `relay-operator explain --manifests PATH... --hub NAME
 *   --client IP --to IP:PORT [--mail-from A] [--rcpt B] [--auth USER] [--tls] [--exit-zero]`.
 *
 * Answers "what would happen to this client?" with the code the hub runs: the same render,
 * the same listener index and connector selection, the same rights resolution and the same
 * verb decisions (relay/session/policy.ts), printing each right with where it came from and
 * each decision with the reply a client would get, and the chosen connector's warnings
 * (render/warnings.ts: rights that never apply, TLS without a certificate).
 *
 * Exit status 3 when what it explains is a refusal (nothing listens, no connector takes the
 * client, or any AUTH, MAIL FROM or RCPT TO is refused), so a pipeline can gate on it;
 * --exit-zero keeps 0 for a report only.
 */
import { RIGHTS } from '../../relay/config/schema.ts';
import { buildListenerIndex } from '../../relay/listener/range-index-build.ts';
import { selectConnector } from '../../relay/listener/range-index-lookup.ts';
import { isWildcardAddress } from '../../relay/listener/shared-port.ts';
import { decideAuth, decideMailFrom, decideRcptTo, replyLine, type Decision, type PolicyContext } from '../../relay/session/policy.ts';
import { resolveSessionRights, sessionIdentityFor } from '../../relay/session/rights.ts';
import { renderHub } from '../render/render.ts';
import { secretValue } from '../render/inputs.ts';
import { connectorWarnings } from '../render/warnings.ts';
import { parseUsers } from '../../relay/session/users.ts';
import { parseFlags, requireFlag, withFlagErrors, manifestPaths } from './flags.ts';
import { loadHub, ManifestError } from './hub-selection.ts';

/** The exit status of an explained refusal (0 success, 1 and 2 are taken: main.ts). */
export const EXIT_REFUSED = 3;

const unbracket = (endpoint: string): string => endpoint.replace(/^\[(.*)\](:\d+)$/, '$1$2');

export function runExplain(args: string[]): Promise<number> {
  return withFlagErrors(() => {
    const { values, positionals } = parseFlags('explain', args, {
      manifests: { type: 'string', multiple: true },
      hub: { type: 'string' },
      namespace: { type: 'string' },
      client: { type: 'string' },
      to: { type: 'string' },
      'mail-from': { type: 'string' },
      rcpt: { type: 'string', multiple: true },
      auth: { type: 'string' },
      tls: { type: 'boolean', default: false },
      'exit-zero': { type: 'boolean', default: false },
    }, true);
    const refused = values['exit-zero'] ? 0 : EXIT_REFUSED;
    const hubName = requireFlag('explain', 'hub', values.hub);
    const client = requireFlag('explain', 'client', values.client);
    const to = requireFlag('explain', 'to', values.to);
    let loaded;
    try {
      loaded = loadHub('explain', manifestPaths(values.manifests, positionals), hubName, values.namespace);
    } catch (error) {
      if (error instanceof ManifestError) {
        console.error(error.message);
        return 2;
      }
      throw error;
    }
    const { hub, objects } = loaded;
    const { config, connectors: statuses } = renderHub(hub, objects, { secretFile: (name, key) => `/etc/relay/secrets/${name}/${key}` });
    const out: string[] = [];
    const target = unbracket(to);
    const targetHost = target.slice(0, target.lastIndexOf(':'));
    // A wildcard listener serves every local address of its port that has no listener of its own (relay/listener/shared-port.ts).
    const listener = config.listeners.find((l) => unbracket(l.endpoint) === target || `${l.bindAddress}:${l.port}` === target)
      ?? config.listeners.find((l) => isWildcardAddress(l.bindAddress) && `:${l.port}` === target.slice(targetHost.length) && (l.bindAddress === '::' || !targetHost.includes(':')));
    if (!listener) {
      out.push(`listener ${to}: hub ${hubName} has no listener there (listeners: ${config.listeners.map((l) => l.endpoint).join(', ') || 'none'})`);
      out.push(`decision: connection refused by the operating system (nothing listens)`);
      console.log(out.join('\n'));
      return refused;
    }
    out.push(`listener ${listener.endpoint} (hub address ${listener.addressName}) of hub ${objects.namespace}/${hubName}`);
    for (const status of statuses.filter((s) => !s.loaded)) out.push(`  not loaded: ${status.connectorId}: ${status.message ?? status.rule ?? ''}`);
    const byId = new Map(config.connectors.map((c) => [c.id, c]));
    const { index } = buildListenerIndex(listener.connectorIds.flatMap((id) => {
      const c = byId.get(id);
      return c ? [{ id: c.id, createdAt: c.createdAt, ranges: c.remoteIPRanges }] : [];
    }));
    const selection = selectConnector(index, client);
    if (!selection.ok) {
      out.push(`client ${client}: no connector on this listener accepts it (${selection.reason})`);
      out.push(`connect        554 5.7.1 ${config.hub.fqdn} Access denied: no receive connector on ${listener.endpoint} accepts ${client}`);
      console.log(out.join('\n'));
      return refused;
    }
    const connector = byId.get(selection.connectorId);
    if (!connector) throw new Error(`connector ${selection.connectorId} missing from the rendered config`);
    out.push(`client ${client}: connector ${connector.id} (matched entry ${selection.entry}, ${selection.size} address${selection.size === 1n ? '' : 'es'}; smallest match wins)`);
    out.push(`connect        ${connector.banner}`);
    const source = objects.receiveConnectors.find((c) => `${objects.namespace}/${c.metadata.name ?? ''}` === connector.id);
    for (const warning of source ? connectorWarnings(source, [hub]) : []) out.push(`warning        ${warning.field}: ${warning.message} (rule ${warning.rule})`);

    let users = parseUsers('', 'users');
    if (hub.spec.users?.secretName) users = parseUsers(secretValue(objects, hub.spec.users.secretName, 'users')?.toString('utf8') ?? '', hub.spec.users.secretName);
    const user = values.auth ? users.users.get(values.auth) : undefined;
    const decisions: Array<[string, Decision]> = [];
    const identity = sessionIdentityFor(connector, { mutualTlsVerified: false, ...(user ? { authenticatedUser: user.name } : {}) });
    const anonymous = resolveSessionRights(connector, sessionIdentityFor(connector, { mutualTlsVerified: false }));
    const base = (rights: ReadonlySet<(typeof RIGHTS)[number]>): PolicyContext => ({
      connector,
      rights,
      acceptedDomains: config.acceptedDomains,
      secure: values.tls ?? false,
      ...(user ? { authenticatedUser: user.name, userAddresses: user.addresses } : {}),
    });
    if (values.auth) {
      const probe = resolveSessionRights(connector, { kind: 'Authenticated', user: values.auth });
      decisions.push([`AUTH ${values.auth}`, decideAuth({ ...base(probe.rights), secure: values.tls ?? false })]);
      if (!user) out.push(`  note: user ${values.auth} is not in the hub's users Secret; AUTH would fail with 535 5.7.8`);
    }
    const session = user ? resolveSessionRights(connector, identity) : anonymous;
    out.push(`session        ${identity.kind}${identity.user ? ` (user ${identity.user})` : ''}`);
    out.push('rights:');
    for (const right of RIGHTS) {
      const sources = session.sources.get(right);
      const held = session.rights.has(right);
      if (!sources && !held) continue;
      out.push(`  ${held ? '+' : '-'} ${right.padEnd(32)} ${(sources ?? []).join(', ')}`);
    }
    if (values['mail-from'] !== undefined) decisions.push([`MAIL FROM:<${values['mail-from']}>`, decideMailFrom({ ...base(session.rights), mailFrom: values['mail-from'] })]);
    (values.rcpt ?? []).forEach((rcpt, i) => decisions.push([`RCPT TO:<${rcpt}>`, decideRcptTo({ ...base(session.rights), rcptTo: rcpt, recipientCount: i })]));
    out.push('decisions:');
    const success = (verb: string): string => (verb.startsWith('AUTH') ? '235 2.7.0 Authentication successful (if the password matches)' : verb.startsWith('RCPT') ? '250 2.1.5 Recipient OK' : '250 2.1.0 Sender OK');
    for (const [verb, decision] of decisions) out.push(`  ${verb.padEnd(40)} ${decision.ok ? success(verb) : replyLine(decision)}   (${decision.reason})`);
    out.push(`anti-spam      ${session.rights.has('BypassAntiSpam') ? 'skipped (BypassAntiSpam): no X-Relay-Antispam headers' : 'runs: messages get X-Relay-Antispam headers'}`);
    out.push(`size limit     ${session.rights.has('BypassMessageSizeLimit') ? 'none (BypassMessageSizeLimit)' : `${connector.limits.maxMessageSize} bytes (552 5.3.4 above it)`}`);
    console.log(out.join('\n'));
    const unknownUser = values.auth !== undefined && !user;
    return unknownUser || decisions.some(([, decision]) => !decision.ok) ? refused : 0;
  });
}

/*
 * test/relay/support-certs - real certificates, manifests and spool readers for the relay
 * integration tests (tls-*.test.ts, proxy, reload, crash); the SMTP client they use is
 * test/support/smtp-client.ts.
 *
 * Certificates are made with the `openssl` command line, as an administrator would: a CA, a
 * server certificate for the hub FQDN (plus IP SANs), a client certificate signed by the CA
 * and a self-signed one. PEM strings go into Secret stringData; the files stay in a temp dir
 * for `openssl s_client -CAfile`.
 * */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Spool, type SpoolRecoveryReport } from '../../relay/spool/spool.ts';

// ---------------------------------------------------------------------------------------------
// Certificates

export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface TestCerts {
  dir: string;
  ca: Pem;
  server: Pem;
  /** Signed by `ca`, extendedKeyUsage clientAuth. */
  client: Pem;
  /** Not signed by anybody we trust. */
  selfSigned: Pem;
  /** Another server certificate from the same CA (new serial, new subject). */
  issueServer(options: { commonName: string; dnsNames: string[]; ips: string[] }): Pem;
  subjectOf(certFile: string): string;
  serialOf(certFile: string): string;
  remove(): void;
}

function openssl(args: string[], cwd: string): string {
  return execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function serial(): string {
  return `0x${randomBytes(8).toString('hex').replace(/^0/, '1')}`;
}

/** makeTestCerts - a CA, a server cert for `fqdn` (+ IP SANs), a CA-signed and a self-signed client cert. */
export function makeTestCerts(options: { fqdn: string; ips: string[] }): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'relay-certs-'));
  let counter = 0;
  const pem = (name: string): Pem => ({
    cert: readFileSync(join(dir, `${name}.pem`), 'utf8'),
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
    certFile: join(dir, `${name}.pem`),
    keyFile: join(dir, `${name}.key`),
  });
  const newKey = (name: string): void => void openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);
  const signed = (name: string, subject: string, extensions: string): Pem => {
    newKey(name);
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial(), '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
    return pem(name);
  };

  newKey('ca');
  openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/O=Relay Tests/CN=Relay Test CA', '-days', '2', '-sha256', '-set_serial', serial(),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.pem'], dir);

  const issueServer = (o: { commonName: string; dnsNames: string[]; ips: string[] }): Pem => {
    const san = [...o.dnsNames.map((d) => `DNS:${d}`), ...o.ips.map((ip) => `IP:${ip}`)].join(',');
    return signed(`server-${counter++}`, `/O=Relay Tests/CN=${o.commonName}`,
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
  };
  const server = issueServer({ commonName: options.fqdn, dnsNames: [options.fqdn], ips: options.ips });
  const client = signed('client', '/O=Relay Tests/CN=trusted-server.example.test', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');

  newKey('self');
  openssl(['req', '-x509', '-new', '-key', 'self.key', '-subj', '/O=Somebody Else/CN=trusted-server.example.test', '-days', '2', '-sha256', '-set_serial', serial(),
    '-addext', 'extendedKeyUsage=clientAuth', '-out', 'self.pem'], dir);

  return {
    dir,
    ca: pem('ca'),
    server,
    client,
    selfSigned: pem('self'),
    issueServer,
    subjectOf: (certFile) => openssl(['x509', '-in', certFile, '-noout', '-subject', '-nameopt', 'RFC2253'], dir).trim().replace(/^subject=/, ''),
    serialOf: (certFile) => openssl(['x509', '-in', certFile, '-noout', '-serial'], dir).trim().replace(/^serial=/, '').toUpperCase(),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface ServerCertView {
  /** Leaf subject as s_client prints it (`CN = ..., O = ...` style, whitespace as printed). */
  subject: string;
  /** The leaf certificate as PEM. */
  pem: string;
  verifyOk: boolean;
  output: string;
}

/**
 * opensslStartTls - `openssl s_client -starttls smtp` against host:port with CAfile and
 * -verify_return_error; returns what it saw. A verification failure is reported, not thrown.
 */
export function opensslStartTls(options: { host: string; port: number; caFile: string; servername?: string; verifyHost?: string; verifyIp?: string }): ServerCertView {
  const args = ['s_client', '-starttls', 'smtp', '-connect', `${options.host}:${options.port}`, '-CAfile', options.caFile, '-verify_return_error', '-showcerts'];
  if (options.servername) args.push('-servername', options.servername);
  if (options.verifyHost) args.push('-verify_hostname', options.verifyHost);
  if (options.verifyIp) args.push('-verify_ip', options.verifyIp);
  let output: string;
  try {
    output = execFileSync('openssl', args, { input: 'QUIT\r\n', encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 15_000 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    output = `${e.stdout ?? ''}\n${e.stderr ?? ''}`;
  }
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(output)?.[0] ?? '';
  const subject = /^\s*0 s:(.*)$/m.exec(output)?.[1]?.trim() ?? '';
  return { subject, pem, verifyOk: /Verify return code: 0 \(ok\)/.test(output), output };
}

/** certText - `openssl x509 -text` of a PEM string (for SAN and serial checks). */
export function certText(pem: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-text', '-serial'], { input: pem, encoding: 'utf8' });
}

// ---------------------------------------------------------------------------------------------
// Manifests

/** manifestsYaml - documents as one multi-document YAML text (PEM strings stay intact). */
export function manifestsYaml(documents: object[]): string {
  return documents.map((doc) => stringify(doc, { lineWidth: 0 })).join('---\n');
}

export function secretDoc(namespace: string, name: string, stringData: Record<string, string>): object {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: 'Opaque', stringData };
}

/**
 * tlsRelayManifests - a hub with this certificate (STARTTLS offered) and one connector `apps`
 * where anonymous clients from 127.0.0.0/8 may relay; `limits` default to no tarpit.
 */
export function tlsRelayManifests(options: { namespace: string; hub: string; fqdn: string; binding: string; certs: TestCerts; limits?: Record<string, unknown> }): string {
  const { namespace, hub } = options;
  return manifestsYaml([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    secretDoc(namespace, 'hub-cert', { 'tls.crt': options.certs.server.cert, 'tls.key': options.certs.server.key }),
    { apiVersion: 'relayoperator.io/v1alpha1', kind: 'RelayHub', metadata: { name: hub, namespace }, spec: { fqdn: options.fqdn, tls: { secretName: 'hub-cert' }, antiSpam: { spf: false } } },
    {
      apiVersion: 'relayoperator.io/v1alpha1', kind: 'ReceiveConnector', metadata: { name: 'apps', namespace },
      spec: {
        hubs: [hub], usage: 'Custom', bindings: [options.binding], remoteIPRanges: ['127.0.0.0/8'], permissionGroups: ['AnonymousUsers'],
        permissions: [{ principal: 'Anonymous', allow: ['AcceptAnyRecipient'] }], limits: options.limits ?? { tarpitInterval: '0s' },
      },
    },
  ]);
}

/** testMessage - a small RFC 5322 message with a unique token in subject and body. */
export function testMessage(options: { from: string; to: string; token: string; extraHeaders?: string[]; body?: string }): string {
  return [
    `From: <${options.from}>`,
    `To: <${options.to}>`,
    `Subject: test ${options.token}`,
    `Message-ID: <${options.token}@relay.tests>`,
    ...(options.extraHeaders ?? []),
    '',
    options.body ?? `token ${options.token}`,
    '',
  ].join('\r\n');
}

// ---------------------------------------------------------------------------------------------
// The spool of a stopped hub

export interface SpooledMessage {
  id: string;
  mailFrom: string;
  rcptTo: string[];
  clientAddress: string;
  authUser: string | undefined;
  text: string;
}

/** The states an accepted, not yet delivered message can be in (delivery moves it on). */
const QUEUED_STATES = ['incoming', 'active', 'deferred', 'hold'] as const;

/** readIncoming - every queued message of a stopped hub's spool, decoded and verified. */
export async function readIncoming(spoolDir: string): Promise<SpooledMessage[]> {
  return (await readSpool(spoolDir)).messages;
}

/**
 * readSpool - open a stopped hub's spool (this runs startup recovery: torn writes are dropped,
 * damaged files moved to corrupt/), and read every queued message (incoming, active, deferred, hold).
 */
export async function readSpool(spoolDir: string): Promise<{ messages: SpooledMessage[]; recovery: SpoolRecoveryReport; corrupt: number }> {
  const spool = await Spool.open(spoolDir);
  try {
    const messages = await readAll(spool);
    return { messages, recovery: spool.recovery, corrupt: readdirSync(join(spool.directory, 'corrupt')).length };
  } finally {
    await spool.close();
  }
}

async function readAll(spool: Spool): Promise<SpooledMessage[]> {
  const out: SpooledMessage[] = [];
  for (const state of QUEUED_STATES) for (const id of await spool.listMessages(state)) {
    const message = await spool.readMessage(state, id);
    out.push({
      id,
      mailFrom: message.envelope.mailFrom,
      rcptTo: message.envelope.rcptTo.map((r) => r.address),
      clientAddress: message.envelope.clientAddress,
      authUser: message.envelope.authUser,
      text: message.body.toString('utf8'),
    });
  }
  return out;
}

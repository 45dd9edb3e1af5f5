/*
 * bench/postfix - a private, throw-away Postfix instance: the peer the relay is measured against.
 *
 * Everything lives in one temp directory (config_directory, queue_directory, data_directory,
 * maillog); the system's /etc/postfix is only read (postfix-script, postfix-files, dynamicmaps.cf
 * come from meta_directory) and never written. Started with `postfix -c DIR/conf start` as root
 * (master(8) must start as root and drops to mail_owner), stopped with `postfix -c DIR/conf stop`,
 * then the directory is removed. Needs the Debian package `postfix` (user postfix, group postdrop).
 *
 * Modes:
 *  - hold: every message accepted over SMTP is written to the queue (cleanup(8): write, fsync,
 *    then 250) and parked in the hold queue, so nothing is delivered: the receive-only figure.
 *  - relay: messages are relayed to relayhost (smtp-sink in bench/run.ts): the end-to-end figure.
 * Postfix fsyncs every queue file before smtpd answers 250; there is no setting to turn that off,
 * so both sides of the comparison promise the same durability.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { treePids, waitForGreeting } from './smtp-load.ts';
import type { Endpoint } from './smtp-load.ts';

const run = promisify(execFile);

export const POSTFIX_COMMAND = '/usr/sbin/postfix';
export const POSTCONF_COMMAND = '/usr/sbin/postconf';
const POSTSUPER_COMMAND = '/usr/sbin/postsuper';
const META_DIRECTORY = '/etc/postfix'; // Debian's compiled-in meta_directory (postfix-script lives there)

export type PostfixMode = 'hold' | 'relay';

export interface PostfixOptions {
  /** parent of the instance directory; the disk under it is what fsync costs */
  baseDir: string;
  listen: Endpoint;
  mode: PostfixMode;
  /** next hop in relay mode (smtp-sink) */
  relayHost: Endpoint;
}

export interface PostfixInstance {
  dir: string;
  listen: Endpoint;
  configDir: string;
  masterPid: number;
  /** number of queue files in one queue (hold, incoming, active, deferred) */
  queued(queue: string): Promise<number>;
  /** delete every queued message (postsuper -d ALL), so each sample starts from an empty queue */
  clear(): Promise<void>;
  stop(): Promise<void>;
}

interface Setting {
  name: string;
  value: string;
  why: string;
}

/** postfixSettings - main.cf for one instance, each setting with the reason it is there. */
export function postfixSettings(dir: string, opts: PostfixOptions): Setting[] {
  const common: Setting[] = [
    { name: 'compatibility_level', value: '3.6', why: 'current defaults, no backwards-compatibility warnings (Debian main.cf uses 3.6 too)' },
    { name: 'queue_directory', value: `${dir}/queue`, why: 'private queue: the only place messages are written (same disk as the relay spool)' },
    { name: 'data_directory', value: `${dir}/data`, why: 'private master.lock and caches; must be owned by mail_owner' },
    { name: 'mail_owner', value: 'postfix', why: 'unprivileged user the daemons run as (created by the Debian package)' },
    { name: 'setgid_group', value: 'postdrop', why: 'group of the maildrop/public directories (created by the Debian package)' },
    { name: 'myhostname', value: 'postfix.bench.test', why: 'fixed name: no lookup of the machine name; differs from the sink greeting, so no "loops back to myself"' },
    { name: 'inet_interfaces', value: '127.0.0.1', why: 'loopback only; also the source address of the smtp client' },
    { name: 'inet_protocols', value: 'ipv4', why: 'the load and the sink are IPv4 loopback' },
    { name: 'mydestination', value: '', why: 'no local delivery: every recipient is remote, as on a relay hub' },
    { name: 'relay_domains', value: '', why: 'no relay domains: relaying is granted by client address only' },
    { name: 'local_recipient_maps', value: '', why: 'no local recipients to look up (no proxymap passwd lookups)' },
    { name: 'alias_maps', value: '', why: 'no aliases (the default also tries NIS and logs a warning per process)' },
    { name: 'alias_database', value: '', why: 'no aliases' },
    { name: 'mynetworks', value: '127.0.0.0/8', why: 'the clients that may relay: the same range as the hub connector remoteIPRanges' },
    { name: 'smtpd_relay_restrictions', value: 'permit_mynetworks, reject', why: 'anonymous relay for mynetworks, everybody else refused (the hub: AnonymousUsers + AcceptAnyRecipient)' },
    { name: 'smtpd_peername_lookup', value: 'no', why: 'no reverse DNS of the client (the relay does none); makes Postfix faster, so the ratio conservative' },
    { name: 'smtpd_client_connection_count_limit', value: '0', why: 'no per-client connection limit (hub: maxInboundConnectionsPerSource 0)' },
    { name: 'smtpd_client_connection_rate_limit', value: '0', why: 'no per-client connection rate limit' },
    { name: 'smtpd_client_message_rate_limit', value: '0', why: 'no per-client message rate limit (hub: messageRateLimit 0)' },
    { name: 'smtpd_client_recipient_rate_limit', value: '0', why: 'no per-client recipient rate limit' },
    { name: 'default_process_limit', value: '100', why: 'up to 100 smtpd (and smtp) processes: more than the 20 load sessions' },
    { name: 'smtpd_banner', value: '$myhostname ESMTP bench', why: 'fixed greeting (waitForGreeting only needs a 220)' },
    { name: 'biff', value: 'no', why: 'no comsat notifications' },
    { name: 'maillog_file', value: `${dir}/maillog`, why: 'log to a file through postlogd(8): no syslog daemon needed (Postfix >= 3.4)' },
    { name: 'maillog_file_prefixes', value: dir, why: 'maillog_file must be under one of these prefixes' },
  ];
  const byMode: Record<PostfixMode, Setting[]> = {
    hold: [
      {
        name: 'smtpd_client_restrictions',
        value: 'check_client_access static:HOLD',
        why: 'receive-only: every message is queued (fsync) and put on hold, so qmgr never delivers it',
      },
    ],
    relay: [
      { name: 'relayhost', value: `[${opts.relayHost.host}]:${opts.relayHost.port}`, why: 'end-to-end: everything goes to smtp-sink (no MX lookup); the hub smart host is the same sink' },
      { name: 'default_transport', value: 'smtp', why: 'deliver with smtp(8) (the default, stated)' },
      { name: 'smtp_tls_security_level', value: 'none', why: 'smtp-sink offers no STARTTLS (hub SendConnector tls.mode None)' },
    ],
  };
  return [...common, ...byMode[opts.mode]];
}

/** masterCf - the services this instance needs; chroot off (column 5 = n) so nothing is copied into the queue dir. */
export function masterCf(listen: Endpoint): string {
  return [
    '# service type  private unpriv chroot wakeup maxproc command',
    `${listen.host}:${listen.port} inet n - n - - smtpd`, // the listener smtp-source connects to
    'cleanup   unix  n - n - 0 cleanup', // writes and fsyncs queue files
    'qmgr      unix  n - n 300 1 qmgr', // queue manager (hold mode: idle)
    'rewrite   unix  - - n - - trivial-rewrite', // address rewriting and routing
    'bounce    unix  - - n - 0 bounce',
    'defer     unix  - - n - 0 bounce',
    'trace     unix  - - n - 0 bounce',
    'verify    unix  - - n - 1 verify',
    'flush     unix  n - n 1000? 0 flush',
    'proxymap  unix  - - n - - proxymap', // smtpd opens it at startup
    'anvil     unix  - - n - 1 anvil', // client connection/rate accounting
    'scache    unix  - - n - 1 scache', // smtp connection cache (relay mode)
    'smtp      unix  - - n - - smtp', // delivery to relayhost (relay mode)
    'relay     unix  - - n - - smtp',
    'error     unix  - - n - - error',
    'retry     unix  - - n - - error',
    'discard   unix  - - n - - discard',
    'postlog   unix-dgram n - n - 1 postlogd', // writes maillog_file
    '',
  ].join('\n');
}

/** postfixPrerequisites - what this machine lacks to run the Postfix side; empty if nothing. */
export async function postfixPrerequisites(): Promise<string[]> {
  const missing: string[] = [];
  for (const file of [POSTFIX_COMMAND, POSTCONF_COMMAND, '/usr/sbin/smtp-source', '/usr/sbin/smtp-sink', `${META_DIRECTORY}/postfix-script`]) {
    if (!(await fs.access(file).then(() => true, () => false))) missing.push(`${file} (Debian package postfix)`);
  }
  for (const [db, name] of [['passwd', 'postfix'], ['group', 'postdrop']] as const) {
    const found = await run('getent', [db, name]).then(() => true, () => false);
    if (!found) missing.push(`${db === 'passwd' ? 'user' : 'group'} ${name} (created by the Debian package postfix)`);
  }
  if (process.getuid?.() !== 0) missing.push('root: master(8) must be started as root (it drops to mail_owner); run the bench as root, e.g. in a throw-away VM or container');
  return missing;
}

/** postfixVersion - mail_version of the installed Postfix. */
export async function postfixVersion(): Promise<string> {
  const { stdout } = await run(POSTCONF_COMMAND, ['-d', '-h', 'mail_version']);
  return stdout.trim();
}

/** startPostfix - create, configure and start an instance; resolves once its smtpd greets. */
export async function startPostfix(opts: PostfixOptions): Promise<PostfixInstance> {
  const dir = await fs.mkdtemp(path.join(opts.baseDir, `postfix-${opts.mode}-`));
  await fs.chmod(dir, 0o755); // mkdtemp makes 0700; the postfix user must reach queue/ and data/
  const configDir = path.join(dir, 'conf');
  for (const sub of ['conf', 'queue', 'data']) await fs.mkdir(path.join(dir, sub), { mode: 0o755 });
  const { stdout: ids } = await run('id', ['-u', 'postfix']);
  await fs.chown(path.join(dir, 'data'), Number(ids.trim()), 0); // postfix-script: data_directory owned by mail_owner
  const settings = postfixSettings(dir, opts);
  const mainCf = settings.map((s) => `# ${s.why}\n${s.name} = ${s.value}\n`).join('');
  await fs.writeFile(path.join(configDir, 'main.cf'), mainCf);
  await fs.writeFile(path.join(configDir, 'master.cf'), masterCf(opts.listen));
  const maillog = path.join(dir, 'maillog');
  const instance: PostfixInstance = {
    dir,
    listen: opts.listen,
    configDir,
    masterPid: 0,
    queued: (queue) => countFiles(path.join(dir, 'queue', queue)),
    clear: async () => {
      await run(POSTSUPER_COMMAND, ['-c', configDir, '-d', 'ALL']);
    },
    stop: () => stopPostfix(dir, configDir, instance.masterPid),
  };
  try {
    // postfix(1) writes errors to stderr only when it is a terminal, otherwise to maillog_file
    await run(POSTFIX_COMMAND, ['-c', configDir, 'start']).catch((err: Error) => {
      throw new Error(`postfix -c ${configDir} start failed: ${err.message.trim()}`);
    });
    const pidText = await fs.readFile(path.join(dir, 'queue', 'pid', 'master.pid'), 'utf8');
    instance.masterPid = Number(pidText.trim());
    await waitForGreeting(opts.listen, 15_000, () => (processAlive(instance.masterPid) ? null : 'postfix master exited'));
    return instance;
  } catch (err) {
    const log = await tail(maillog);
    await instance.stop().catch(() => undefined);
    throw new Error(`${(err as Error).message}${log ? `\nmaillog:\n${log}` : ''}`, { cause: err });
  }
}

async function stopPostfix(dir: string, configDir: string, masterPid: number): Promise<void> {
  const daemons = masterPid > 0 ? treePids(masterPid) : [];
  await run(POSTFIX_COMMAND, ['-c', configDir, 'stop']).catch(() => undefined);
  // `postfix stop` signals master and returns; its daemons exit when master closes their pipe
  for (let i = 0; i < 100 && masterPid > 0 && processAlive(masterPid); i++) await sleep(100);
  if (masterPid > 0 && processAlive(masterPid)) {
    await run(POSTFIX_COMMAND, ['-c', configDir, 'abort']).catch(() => undefined);
    await sleep(500);
    if (processAlive(masterPid)) process.kill(masterPid, 'SIGKILL');
  }
  for (let i = 0; i < 50 && daemons.some(processAlive); i++) await sleep(100);
  await fs.rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** processAlive - pid exists and is not a zombie (master is not our child: nobody may reap it soon). */
function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function countFiles(dir: string): Promise<number> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).length;
}

async function tail(file: string, lines = 15): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).slice(-lines).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

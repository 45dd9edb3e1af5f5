/*
 * test/controlplane/cluster-dns - the test node's cluster DNS: the part of CoreDNS's kubernetes
 * plugin that a hub needs, answered from the API server.
 *
 * A real cluster runs CoreDNS (or kube-dns) and the kubelet points every pod at it
 * (clusterDNS, clusterDomain). The test node had none, so a pod could reach others only by IP;
 * a relay pod scaled away hands its queue to `<hub>-relay-<n>.<hub>-relay-pods.<ns>.svc`
 * (operator/resources/hand-off.ts), which needs exactly this. Answered, in zone cluster.local:
 *   <hostname>.<subdomain>.<ns>.svc   A/AAAA of the Ready pod with that spec.hostname (a
 *                                     StatefulSet pod's hostname is its name) and subdomain
 *                                     (the StatefulSet's serviceName): CoreDNS publishes a pod
 *                                     name only for Ready endpoints
 *   <service>.<ns>.svc                A/AAAA of the Service's cluster IPs (not headless ones)
 * Everything else is NXDOMAIN (a name that exists without an address of the asked type is an
 * empty NOERROR); the node has no upstream, as before. UDP only, one question per query.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { appendFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

export const CLUSTER_DOMAIN = 'cluster.local';
const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
const RCODE_NOTIMP = 4;
const TTL_SECONDS = 5;

interface Question { name: string; type: number; cls: number; end: number }

/** readQuestion - the first question of a query (uncompressed labels, as resolvers send them); null when malformed. */
function readQuestion(query: Buffer): Question | null {
  if (query.length < 12 || query.readUInt16BE(4) < 1) return null;
  const labels: string[] = [];
  let at = 12;
  while (at < query.length) {
    const length = query[at]!;
    if (length === 0) break;
    if (length > 63 || at + 1 + length > query.length) return null;
    labels.push(query.subarray(at + 1, at + 1 + length).toString('ascii').toLowerCase());
    at += 1 + length;
  }
  if (at + 5 > query.length) return null;
  return { name: labels.join('.'), type: query.readUInt16BE(at + 1), cls: query.readUInt16BE(at + 3), end: at + 5 };
}

/** answer - the response to `query`: its question, the addresses of the asked type, rcode. */
function answer(query: Buffer, question: Question, rcode: number, addresses: readonly string[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  // QR, the query's opcode and RD, AA, RA, rcode
  header.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x7900) | 0x0400 | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addresses.length, 6);
  const records = addresses.map((address) => {
    const data = question.type === TYPE_A ? Buffer.from(address.split('.').map(Number)) : ipv6Bytes(address);
    const record = Buffer.alloc(12);
    record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    record.writeUInt16BE(question.type, 2);
    record.writeUInt16BE(CLASS_IN, 4);
    record.writeUInt32BE(TTL_SECONDS, 6);
    record.writeUInt16BE(data.length, 10);
    return Buffer.concat([record, data]);
  });
  return Buffer.concat([header, query.subarray(12, question.end), ...records]);
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.includes('::') ? address.split('::') as [string, string] : [address, ''];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}

export interface ClusterDns {
  address: string;
  stop(): Promise<void>;
}

/** startClusterDns - serve the names above on address:53/udp, looked up in the API server of kubeconfig; each answer is logged in logFile. */
export async function startClusterDns(kubeconfig: string, address: string, logFile: string): Promise<ClusterDns> {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig);
  const core = config.makeApiClient(CoreV1Api);
  const suffix = `.svc.${CLUSTER_DOMAIN}`;

  /** The addresses of a name, null when the name does not exist. */
  const lookUp = async (name: string): Promise<string[] | null> => {
    if (!name.endsWith(suffix)) return null;
    const parts = name.slice(0, -suffix.length).split('.');
    try {
      if (parts.length === 3) {
        const [hostname, subdomain, namespace] = parts as [string, string, string];
        const pod = await core.readNamespacedPod({ name: hostname, namespace });
        const podReady = (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
        if ((pod.spec?.hostname ?? pod.metadata?.name) !== hostname || pod.spec?.subdomain !== subdomain || !podReady || pod.metadata?.deletionTimestamp) return null;
        return (pod.status?.podIPs ?? []).map((p) => p.ip);
      }
      if (parts.length === 2) {
        const [service, namespace] = parts as [string, string];
        const found = await core.readNamespacedService({ name: service, namespace });
        return (found.spec?.clusterIPs ?? []).filter((ip) => ip !== 'None');
      }
    } catch {
      return null; // 404 and API errors alike: no such name
    }
    return null;
  };

  const socket: Socket = createSocket({ type: 'udp4' });
  socket.on('message', (query: Buffer, peer: RemoteInfo) => {
    const question = readQuestion(query);
    if (!question) {
      appendFileSync(logFile, `${new Date().toISOString()} ${peer.address} unreadable query of ${query.length} bytes, not answered\n`);
      return;
    }
    const reply = (response: Buffer): void => {
      socket.send(response, peer.port, peer.address);
    };
    if (question.cls !== CLASS_IN) return reply(answer(query, question, RCODE_NOTIMP, []));
    const started = Date.now();
    void lookUp(question.name).then((addresses) => {
      const wanted = addresses === null ? [] : question.type === TYPE_A ? addresses.filter((a) => isIPv4(a)) : question.type === TYPE_AAAA ? addresses.filter((a) => isIPv6(a)) : [];
      reply(answer(query, question, addresses === null ? RCODE_NXDOMAIN : 0, wanted));
      const outcome = addresses === null ? 'NXDOMAIN' : wanted.join(',') || 'NODATA';
      appendFileSync(logFile, `${new Date(started).toISOString()} ${peer.address} ${question.name} ${question.type} ${outcome} ${Date.now() - started}ms\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(53, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return {
    address,
    stop: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

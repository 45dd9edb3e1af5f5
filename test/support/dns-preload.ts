/*
 * test/support/dns-preload - point a process's DNS at a local test server, before it starts.
 *
 * `NODE_OPTIONS="--import <this file>" RELAY_DNS_SERVERS=127.0.0.1:PORT node bin/relay-operator.js hub ...`
 * sets Node's default resolver to those servers (dns.setServers), which is what the hub's
 * anti-spam DNS source asks (relay/session/dns-cache.ts, systemDnsSource). For the anti-spam
 * integration tests and the bench's DNS scenarios; without the variable it does nothing.
 */
import dns from 'node:dns';

const servers = (process.env.RELAY_DNS_SERVERS ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
if (servers.length > 0) dns.setServers(servers);

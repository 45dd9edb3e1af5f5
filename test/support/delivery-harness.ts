/*
 * test/support/delivery-harness - a spool, a DeliveryService and its logs, for the tests.
 *
 * Job: open a temp spool, commit messages as a session would, start a DeliveryService
 * with small retry values and a captured log sink, and read back what happened (queue
 * states, drop directory files, tracking lines). Everything is removed after the test.
 * Trust: test-only; nothing in the relay imports this file.
 */
import type { TestContext } from 'node:test';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import type { RenderedConfig } from '../../relay/config/schema.ts';
import type { TrackingEvent } from '../../relay/log/tracking-log.ts';
import type { EnvelopeRecipient, MessageEnvelope } from '../../relay/delivery/envelope.ts';
import { Spool } from '../../relay/spool/spool.ts';
import { createDeliveryMetrics } from '../../relay/delivery/metrics.ts';
import { DeliveryService, type DeliveryServiceOptions } from '../../relay/queue/delivery-service.ts';

export interface Harness {
  dir: string;
  spool: Spool;
  registry: Registry;
  lines: Array<Record<string, unknown>>;
  tracking: (eventId?: string) => TrackingEvent[];
  commit: (o: { from?: string; to: Array<string | EnvelopeRecipient>; body?: string | Buffer; ret?: 'FULL' | 'HDRS'; envid?: string; receivedAt?: string }) => Promise<string>;
  start: (config: RenderedConfig, extra?: Partial<DeliveryServiceOptions>) => Promise<DeliveryService>;
  /** Message ids per live state. */
  queue: () => Promise<{ incoming: string[]; active: string[]; deferred: string[] }>;
  queueEmpty: () => Promise<boolean>;
  emlFiles: (dir: string) => Promise<string[]>;
}

export function testBodyText(token: string, extra = ''): string {
  return `From: <app@corp.test>\r\nTo: <someone@remote.test>\r\nSubject: test ${token}\r\nMessage-ID: <${token}@corp.test>\r\n\r\nbody ${token}\r\n${extra}`;
}

export async function harness(t: TestContext): Promise<Harness> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-delivery-'));
  const services: DeliveryService[] = [];
  // as the hub wires it: each commit wakes the delivery services up
  const spool = await Spool.open(path.join(dir, 'spool'), { minFreeBytes: 0, onCommitted: () => services.forEach((s) => s.kick()) });
  const registry = new Registry();
  const metrics = createDeliveryMetrics(registry);
  const lines: Array<Record<string, unknown>> = [];
  t.after(async () => {
    for (const s of services) await s.stop(0);
    await spool.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const sink = (line: string): void => void lines.push(JSON.parse(line) as Record<string, unknown>);
  const list = async (): Promise<{ incoming: string[]; active: string[]; deferred: string[] }> => ({
    incoming: await spool.listMessages('incoming'),
    active: await spool.listMessages('active'),
    deferred: await spool.listMessages('deferred'),
  });
  return {
    dir,
    spool,
    registry,
    lines,
    tracking: (eventId) => lines.filter((l) => l.log === 'tracking' && (!eventId || l['event-id'] === eventId)) as unknown as TrackingEvent[],
    commit: (o) => {
      const body = Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body ?? testBodyText('x'), 'latin1');
      const envelope: MessageEnvelope = {
        mailFrom: o.from ?? 'app@corp.test',
        rcptTo: o.to.map((r) => (typeof r === 'string' ? { address: r } : r)),
        receivedAt: o.receivedAt ?? new Date().toISOString(),
        connectorId: 'mail/inbound',
        sessionId: 'session-1',
        clientAddress: '127.0.0.9',
        size: body.length,
        ...(o.ret ? { dsnRet: o.ret } : {}),
        ...(o.envid ? { dsnEnvid: o.envid } : {}),
      };
      return spool.commitMessage(envelope, body);
    },
    start: async (config, extra = {}) => {
      const service = new DeliveryService({
        spool,
        config,
        logSink: sink,
        metrics,
        tuning: { pollIntervalMs: 50, connectTimeoutMs: 2000, greetingTimeoutMs: 5000, socketTimeoutMs: 10_000, ...(extra.tuning ?? {}) },
        ...extra,
      });
      services.push(service);
      await service.start();
      return service;
    },
    queue: list,
    queueEmpty: async () => {
      // twice, a little apart: one listing of three directories can miss a message in motion
      for (let i = 0; i < 2; i += 1) {
        const q = await list();
        if (q.incoming.length + q.active.length + q.deferred.length > 0) return false;
        if (i === 0) await new Promise((resolve) => setTimeout(resolve, 30));
      }
      return true;
    },
    emlFiles: async (d) => (await fs.readdir(d).catch(() => [] as string[])).filter((f) => f.endsWith('.eml')).sort(),
  };
}

/**
 * lifeguard/metrics on a real lifeguard/pg pool: real queries and checkouts against PostgreSQL,
 * and both exporters' metrics compared with the pool's own counts (`idleCount`, `waitingCount`,
 * `stats()`) at the same instant.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';

import type { PoolError } from '../../src/core/index.js';
import { instrumentOpenTelemetry, instrumentPrometheus } from '../../src/metrics/index.js';
import type { Pool } from '../../src/pg/index.js';
import {
  againstStats,
  otelSetup,
  readOpenTelemetry,
  readPrometheus,
  type Exported,
} from '../metrics/support.js';
import { createPool } from './helpers.js';

function instrument(pool: Pool) {
  const registry = new Registry();
  const { reader, provider } = otelSetup();
  instrumentPrometheus(pool, { registry });
  instrumentOpenTelemetry(pool, { meterProvider: provider });
  return {
    /** Both views, plus the pool's counts read in the same synchronous turn as prom-client's. */
    async read(): Promise<{
      prometheus: Exported;
      opentelemetry: Exported;
      idleCount: number;
      waitingCount: number;
    }> {
      const idleCount = pool.idleCount;
      const waitingCount = pool.waitingCount;
      const prometheus = readPrometheus(registry); // collects synchronously, before any await
      return {
        prometheus: await prometheus,
        opentelemetry: await readOpenTelemetry(reader),
        idleCount,
        waitingCount,
      };
    },
  };
}

describe('lifeguard/metrics on lifeguard/pg', () => {
  it('matches the pool under real queries, waiting, a timeout and a broken client', async () => {
    const pool = createPool({
      name: 'pg-metrics',
      max: 2,
      acquireTimeoutMillis: 300,
      pipelineQueries: false,
    });
    const metrics = instrument(pool);

    await Promise.all(Array.from({ length: 20 }, () => pool.query('SELECT pg_sleep(0.005)')));
    let view = await metrics.read();
    let stats = pool.stats();
    for (const exported of [view.prometheus, view.opentelemetry]) {
      const { expected, actual } = againstStats(exported, 'pg-metrics', stats);
      expect(actual).toEqual(expected);
      expect(exported.value('db.client.connection.count', 'pg-metrics', { state: 'idle' })).toBe(2);
      expect(exported.histogram('db.client.connection.create_time', 'pg-metrics')?.count).toBe(2);
      // One checkout per query without pipelining, every one of them released.
      expect(exported.histogram('db.client.connection.wait_time', 'pg-metrics')?.count).toBe(20);
      const use = exported.histogram('db.client.connection.use_time', 'pg-metrics');
      expect(use?.count).toBe(20);
      expect(use?.sum).toBeGreaterThanOrEqual(20 * 0.005 * 0.9);
      expect(use?.sum).toBeCloseTo(stats.holdTime.sum / 1000, 6);
    }

    // Both connections checked out, a third caller waits and times out.
    const first = await pool.connect();
    const second = await pool.connect();
    const third = pool.connect();
    view = await metrics.read();
    expect(view.waitingCount).toBe(1);
    for (const exported of [view.prometheus, view.opentelemetry]) {
      expect(exported.value('db.client.connection.pending_requests', 'pg-metrics')).toBe(1);
      expect(exported.value('db.client.connection.count', 'pg-metrics', { state: 'used' })).toBe(2);
      expect(exported.value('db.client.connection.count', 'pg-metrics', { state: 'idle' })).toBe(0);
    }
    const timedOut = await third.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(((timedOut as Error).cause as PoolError).code).toBe('ERR_POOL_ACQUIRE_TIMEOUT');

    first.release();
    second.release(new Error('broken'));
    view = await metrics.read();
    stats = pool.stats();
    for (const exported of [view.prometheus, view.opentelemetry]) {
      const { expected, actual } = againstStats(exported, 'pg-metrics', stats);
      expect(actual).toEqual(expected);
      expect(exported.value('db.client.connection.timeouts', 'pg-metrics')).toBe(1);
      expect(exported.value('lifeguard.pool.destroys', 'pg-metrics', { reason: 'error' })).toBe(1);
      expect(exported.value('db.client.connection.count', 'pg-metrics', { state: 'idle' })).toBe(1);
    }
  });

  it('counts what pg counts with pipelining: idleCount and waitingCount', async () => {
    const pool = createPool({ name: 'pg-pipelined', max: 2 });
    const metrics = instrument(pool);
    const queries = Array.from({ length: 200 }, (_, i) => pool.query('SELECT $1::int AS n', [i]));
    // Mid-flight: the exported counts are the pool's, at the same instant.
    const during = await metrics.read();
    expect(during.waitingCount).toBeGreaterThan(0);
    expect(during.prometheus.value('db.client.connection.pending_requests', 'pg-pipelined')).toBe(
      during.waitingCount,
    );
    expect(
      during.prometheus.value('db.client.connection.count', 'pg-pipelined', { state: 'idle' }),
    ).toBe(during.idleCount);
    const results = await Promise.all(queries);
    expect(results.map((r) => r.rows[0]?.n)).toEqual(results.map((_, i) => i));
    const after = await metrics.read();
    const total = pool.core.total;
    for (const exported of [after.prometheus, after.opentelemetry]) {
      const idle = exported.value('db.client.connection.count', 'pg-pipelined', { state: 'idle' });
      const used = exported.value('db.client.connection.count', 'pg-pipelined', { state: 'used' });
      expect(idle).toBe(after.idleCount);
      expect(idle! + used!).toBe(total);
      expect(exported.value('db.client.connection.pending_requests', 'pg-pipelined')).toBe(0);
    }
  });
});

describe('lifeguard/metrics on lifeguard/pg: shedding', () => {
  it('counts pipelined queries shed while waiting for a lane in lifeguard.pool.shed', async () => {
    const pool = createPool({
      name: 'pg-shed',
      max: 1,
      pipelineDepth: 1,
      pipelineIsolateSlowQueries: false,
      overloadTargetMillis: 20,
      overloadIntervalMillis: 50,
    });
    const metrics = instrument(pool);
    const slow = pool.query('SELECT pg_sleep(0.3)');
    const queued = Array.from({ length: 4 }, (_, i) =>
      pool.query('SELECT $1::int', [i]).catch((error: unknown) => error),
    );
    await slow;
    const outcomes = await Promise.all(queued);
    expect(outcomes.map((o) => (o as PoolError).code)).toEqual(
      Array(4).fill('ERR_POOL_OVERLOADED'),
    );
    // The core's own counter is 0 here: these waited in the pipeline's queue, not the core's.
    expect(pool.core.stats().shed).toBe(0);
    expect(pool.stats().shed).toBe(4);
    const view = await metrics.read();
    for (const exported of [view.prometheus, view.opentelemetry]) {
      expect(exported.value('lifeguard.pool.shed', 'pg-shed')).toBe(4);
    }
  });
});

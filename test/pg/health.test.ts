import { describe, expect, it } from 'vitest';

import { checkPgHealth } from '../../src/pg/health.js';
import { startTcpProxy, targetOf } from '../support/tcp-proxy.js';
import { createPool, databaseUrl, nextEvent, until } from './helpers.js';

describe('checkPgHealth: SELECT 1 on a pooled connection', () => {
  it('reports ok with the latency, the circuit and the stats, and leaves the connection idle', async () => {
    const pool = createPool({ name: 'orders', max: 2 });
    const report = await pool.health();
    expect(report).toMatchObject({ status: 'ok', name: 'orders', circuit: 'closed' });
    expect(report.latencyMillis).toBeGreaterThan(0);
    expect(report.latencyMillis).toBeLessThan(5_000);
    expect(report.stats).toMatchObject({ total: 1, idle: 1, inUse: 0, acquires: 1 });
    expect(pool.idleCount).toBe(1);
    // The connection is as good as before: the next caller uses it.
    expect((await pool.query('SELECT 2 AS n')).rows).toEqual([{ n: 2 }]);
  });

  it('shares one query among concurrent checks', async () => {
    const pool = createPool();
    const reports = await Promise.all(Array.from({ length: 10 }, () => pool.health()));
    expect(new Set(reports).size).toBe(1);
    expect(pool.stats().acquires).toBe(1);
  });

  it('answers down within the timeout when the query hangs, and destroys that connection', async () => {
    const proxy = await startTcpProxy({ target: targetOf(databaseUrl) });
    try {
      // No validation on checkout: the check must meet the hung connection itself.
      const pool = createPool(
        { max: 2, validateAfterIdleMillis: 60_000, destroyTimeoutMillis: 400 },
        proxy.url(databaseUrl),
      );
      expect((await pool.health()).status).toBe('ok');
      const removed = nextEvent(pool, 'remove');
      proxy.blackhole(true);
      const startedAt = performance.now();
      const report = await checkPgHealth(pool, { timeoutMillis: 300 });
      const tookMillis = performance.now() - startedAt;
      expect(report).toMatchObject({
        status: 'down',
        error: {
          code: 'ERR_HEALTH_TIMEOUT',
          message: 'The health check timed out after 300 ms running the health probe',
        },
      });
      expect(tookMillis).toBeGreaterThanOrEqual(299);
      expect(tookMillis).toBeLessThan(1_500);
      await removed;
      // Not handed on, not leaked: gone from the pool, and counted as destroyed for its error.
      expect(pool.stats()).toMatchObject({ total: 0, inUse: 0, idle: 0, waiting: 0 });
      expect(pool.stats().destroys.error).toBe(1);
      proxy.blackhole(false);
      // The next check opens a fresh connection (the black-holed socket stays silent).
      expect((await pool.health()).status).toBe('ok');
    } finally {
      await proxy.close();
    }
  });

  it('answers down within the timeout on a saturated pool, and keeps one acquire queued at most', async () => {
    const pool = createPool({ max: 1 });
    const held = await pool.connect();
    const first = await checkPgHealth(pool, { timeoutMillis: 200 });
    expect(first).toMatchObject({
      status: 'down',
      error: {
        code: 'ERR_HEALTH_TIMEOUT',
        message: 'The health check timed out after 200 ms waiting for a resource',
      },
    });
    // Checks keep coming while the pool stays saturated: still one acquire in the queue.
    for (let i = 0; i < 3; i++) {
      expect((await checkPgHealth(pool, { timeoutMillis: 100 })).status).toBe('down');
      expect(pool.waitingCount).toBe(1);
    }
    held.release();
    // The acquire left over from the checks gets the connection and gives it straight back.
    await until(() => pool.idleCount === 1 && pool.waitingCount === 0);
    expect(pool.stats()).toMatchObject({ inUse: 0, waiting: 0, total: 1 });
    expect((await pool.health()).status).toBe('ok');
  });

  it('reports down with ERR_POOL_CLOSED after end()', async () => {
    const pool = createPool();
    await pool.end();
    expect(await pool.health()).toMatchObject({
      status: 'down',
      error: { code: 'ERR_POOL_CLOSED' },
    });
  });
});

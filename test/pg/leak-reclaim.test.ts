/**
 * Leak detection and reclaim through lifeguard/pg on a real server: the leaked client is
 * reported with the stack of its checkout, taken back after the hard limit (its backend goes
 * away), its borrower's later use fails with ERR_PG_CLIENT_RECLAIMED, and the pool keeps
 * serving. Also pool.leases() and the overload options passed through to the core.
 */

import type pg from 'pg';
import { describe, expect, it } from 'vitest';

import { OverloadedError, PgClientReclaimedError } from '../../src/pg/index.js';
import { adminClient, backendPid, createPool } from './helpers.js';

/** A named frame to look for in the reported stack. */
async function forgetToRelease(pool: ReturnType<typeof createPool>): Promise<pg.PoolClient> {
  return pool.connect();
}

describe('leak reclaim (lifeguard/pg)', () => {
  it('reports, then reclaims a leaked client; its later use fails with a typed error', async () => {
    const pool = createPool({
      max: 1,
      leakDetectionMillis: 100,
      leakReclaimMillis: 300,
      reapIntervalMillis: 20,
    });
    const leaks: { reclaimed: boolean; stack: string }[] = [];
    pool.on('leak', (_client: pg.PoolClient, info: { reclaimed: boolean; stack: string }) =>
      leaks.push(info),
    );
    const leaked = await forgetToRelease(pool);
    const pid = await backendPid(leaked);

    // The one connection is leaked; a waiter is served once it is reclaimed.
    const started = performance.now();
    const { rows } = await pool.query<{ n: number }>('SELECT 1 AS n');
    expect(rows[0]!.n).toBe(1);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);

    expect(leaks.map((l) => l.reclaimed)).toEqual([false, true]);
    expect(leaks[0]!.stack).toContain('forgetToRelease');

    const failure = await leaked.query('SELECT 1').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(PgClientReclaimedError);
    expect((failure as PgClientReclaimedError).code).toBe('ERR_PG_CLIENT_RECLAIMED');
    // The callback form fails the same way.
    const viaCallback = await new Promise<Error | undefined>((resolve) => {
      leaked.query('SELECT 1', (error: Error | undefined) => resolve(error));
    });
    expect(viaCallback).toBeInstanceOf(PgClientReclaimedError);
    // Its late release is harmless.
    expect(() => leaked.release()).not.toThrow();

    // The reclaimed backend is really gone from the server.
    const admin = await adminClient();
    for (let i = 0; i < 50; i++) {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [
        pid,
      ]);
      if (rowCount === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const { rowCount } = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
    expect(rowCount).toBe(0);
    expect(pool.stats().destroys.leak).toBe(1);
  });

  it('fails a query the borrower had in flight when the client is reclaimed', async () => {
    const pool = createPool({ max: 2, leakReclaimMillis: 200, reapIntervalMillis: 20 });
    const client = await pool.connect();
    const outcome = client.query('SELECT pg_sleep(5)').then(
      () => 'finished',
      (error: Error) => error,
    );
    const result = await outcome;
    expect(result).toBeInstanceOf(Error);
    client.release();
    expect((await pool.query<{ n: number }>('SELECT 2 AS n')).rows[0]!.n).toBe(2);
  });
});

describe('pool.leases() (lifeguard/pg)', () => {
  it('lists checked-out clients with how long they were held and where', async () => {
    const pool = createPool({ max: 3, leakDetectionMillis: 60_000 });
    const first = await forgetToRelease(pool);
    await new Promise((r) => setTimeout(r, 30));
    const second = await pool.connect();
    const leases = pool.leases();
    expect(leases.map((l) => l.client)).toEqual([first, second]);
    expect(leases[0]!.heldMillis).toBeGreaterThanOrEqual(25);
    expect(leases[0]!.stack).toContain('forgetToRelease');
    expect(leases.every((l) => !l.pipelined)).toBe(true);
    first.release();
    second.release();
    expect(pool.leases()).toEqual([]);
  });
});

describe('overload shedding (lifeguard/pg)', () => {
  it('sheds pipelined queries that waited for a lane past the target, and counts them', async () => {
    const pool = createPool({
      max: 1,
      pipelineDepth: 1,
      pipelineIsolateSlowQueries: false,
      overloadTargetMillis: 20,
      overloadIntervalMillis: 50,
    });
    // Connected first: on a loaded machine opening the connection can outlast the interval,
    // and the slow query itself would be shed (it waits for that connection too).
    await pool.query('SELECT 1');
    const slow = pool.query('SELECT pg_sleep(0.3)');
    const queued = Array.from({ length: 5 }, (_, i) =>
      pool.query('SELECT $1::int AS n', [i]).then(
        () => 'served',
        (error: unknown) => error,
      ),
    );
    await slow;
    for (const outcome of await Promise.all(queued)) {
      expect(outcome).toBeInstanceOf(OverloadedError);
      expect((outcome as OverloadedError).code).toBe('ERR_POOL_OVERLOADED');
    }
    const stats = pool.stats();
    expect(stats.shed).toBe(5);
    expect(stats.queries).toBe(7);
    expect((await pool.query<{ n: number }>('SELECT 4 AS n')).rows[0]!.n).toBe(4);
  });

  it('passes overloadTargetMillis to the core: waiters behind a standing queue are shed', async () => {
    const pool = createPool({
      max: 1,
      pipelineQueries: false,
      overloadTargetMillis: 20,
      overloadIntervalMillis: 50,
    });
    // Connected first (see above); then one slow query holds the only connection, and the
    // queue stands for 300 ms.
    await pool.query('SELECT 1');
    const slow = pool.query('SELECT pg_sleep(0.3)');
    const queued = Array.from({ length: 5 }, () =>
      pool.query('SELECT 1').then(
        () => 'served',
        (error: unknown) => error,
      ),
    );
    await slow;
    const outcomes = await Promise.all(queued);
    for (const outcome of outcomes) {
      expect(outcome).toBeInstanceOf(OverloadedError);
      expect((outcome as OverloadedError).code).toBe('ERR_POOL_OVERLOADED');
    }
    expect(pool.stats().shed).toBe(5);
    // With the queue gone, the pool serves again.
    expect((await pool.query<{ n: number }>('SELECT 3 AS n')).rows[0]!.n).toBe(3);
  });
});

/**
 * Connections lost in the middle of a pipeline: exactly the queries already written to the
 * lost connection fail, as may-have-run; queries that were still waiting are sent elsewhere;
 * nothing hangs.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';

import { PgConnectionLostError, type Pool } from '../../src/pg/index.js';
import { startTcpProxy, targetOf } from '../support/tcp-proxy.js';
import { adminClient, createPool, databaseUrl, terminate, until } from './helpers.js';

const depth = 5;
const lanes = 2;

/** A pool whose lanes each take exactly `depth` queries, however long they run. */
function pipelinePool(url: string = databaseUrl): Pool {
  return createPool({ max: lanes, pipelineDepth: depth, pipelineSlowQueryMillis: Infinity }, url);
}

/** Starts `count` queries that each sleep `seconds`; returns their outcomes, in order. */
function sleepers(pool: Pool, count: number, seconds: number) {
  return Promise.allSettled(
    Array.from({ length: count }, (_, i) =>
      pool.query<{ n: number }>('SELECT $1::int AS n, pg_sleep($2)', [i, seconds]),
    ),
  );
}

/** Backend pids of the pool's sessions that are running a statement right now. */
async function activePids(admin: pg.Client, applicationName: string): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
    [applicationName],
  );
  return rows.map((r) => r.pid);
}

function lost(outcomes: PromiseSettledResult<unknown>[]): PgConnectionLostError[] {
  return outcomes
    .filter((o): o is PromiseRejectedResult => o.status === 'rejected')
    .map((o) => o.reason as PgConnectionLostError);
}

describe('a connection lost mid-pipeline', () => {
  it('pg_terminate_backend: the queries sent on it fail as may-have-run, waiting ones run elsewhere', async () => {
    const applicationName = `pipeline_kill_${process.pid}`;
    const url = `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}application_name=${applicationName}`;
    const pool = pipelinePool(url);
    const admin = await adminClient();
    // 2 lanes × 5 queries written; 20 more wait in the dispatcher.
    const outcomes = sleepers(pool, 30, 0.1);
    await until(async () => (await activePids(admin, applicationName)).length === lanes);
    expect(pool.waitingCount).toBe(30 - lanes * depth);
    const [victim] = await activePids(admin, applicationName);
    await terminate(victim!);

    const settled = await outcomes;
    const failures = lost(settled);
    // Exactly the lane's five: the first was running, four were written behind it.
    expect(failures).toHaveLength(depth);
    for (const error of failures) {
      expect(error).toBeInstanceOf(PgConnectionLostError);
      expect(error).toMatchObject({
        code: 'ERR_PG_CONNECTION_LOST',
        mayHaveRun: true,
        retryable: false,
        sqlState: '57P01',
      });
    }
    // Every other query ran, the waiting ones on the surviving lane or a new one.
    const answered = settled.flatMap((o) => (o.status === 'fulfilled' ? [o.value.rows[0]?.n] : []));
    expect(answered).toHaveLength(30 - depth);
    expect(new Set(answered).size).toBe(30 - depth);
    expect((await pool.query<{ n: number }>('SELECT $1::int AS n', [1])).rows).toEqual([{ n: 1 }]);
  });

  it("the TCP proxy's dropAll: every query in flight fails with ECONNRESET, waiting ones complete", async () => {
    const proxy = await startTcpProxy({ target: targetOf(databaseUrl) });
    try {
      const applicationName = `pipeline_drop_${process.pid}`;
      const pool = pipelinePool(`${proxy.url(databaseUrl)}?application_name=${applicationName}`);
      const admin = await adminClient();
      const outcomes = sleepers(pool, 30, 0.1);
      await until(async () => (await activePids(admin, applicationName)).length === lanes);
      proxy.dropAll();

      const settled = await outcomes;
      const failures = lost(settled);
      expect(failures).toHaveLength(lanes * depth);
      for (const error of failures) {
        expect(error).toBeInstanceOf(PgConnectionLostError);
        expect(error).toMatchObject({ mayHaveRun: true, errno: 'ECONNRESET' });
      }
      expect(settled.filter((o) => o.status === 'fulfilled')).toHaveLength(30 - lanes * depth);
    } finally {
      await proxy.close();
    }
  });

  it('SQL errors and a killed connection interleaved: each query settles once, with its own outcome', async () => {
    const applicationName = `pipeline_mixed_${process.pid}`;
    const pool = createPool(
      { max: 2, pipelineDepth: 8, pipelineSlowQueryMillis: Infinity },
      `${databaseUrl}?application_name=${applicationName}`,
    );
    const admin = await adminClient();
    let settlements = 0;
    const outcomes = Promise.allSettled(
      Array.from({ length: 60 }, (_, i) => {
        const query =
          i % 4 === 3
            ? pool.query('SELECT 1 / $1::int, pg_sleep(0.02)', [0])
            : pool.query<{ n: number }>('SELECT $1::int AS n, pg_sleep(0.02)', [i]);
        return query.finally(() => settlements++);
      }),
    );
    await until(async () => (await activePids(admin, applicationName)).length > 0);
    const [victim] = await activePids(admin, applicationName);
    await terminate(victim!);
    const settled = await outcomes;
    expect(settlements).toBe(60);
    for (const [i, outcome] of settled.entries()) {
      if (outcome.status === 'fulfilled') {
        expect(outcome.value.rows[0]).toMatchObject({ n: i });
      } else if (outcome.reason instanceof PgConnectionLostError) {
        expect(outcome.reason.mayHaveRun).toBe(true);
      } else {
        expect(i % 4).toBe(3);
        expect(outcome.reason).toMatchObject({ code: '22012' });
      }
    }
    expect(
      lost(settled).filter((e) => e instanceof PgConnectionLostError).length,
    ).toBeLessThanOrEqual(8);
  });
});

/**
 * Pipelined `pool.query()` (src/pg/pipeline/) against a real PostgreSQL: several queries in
 * flight per connection, results that never cross between callers, errors that fail one
 * query, exclusive connections that no pipelined query shares, and the `pipelineQueries: false`
 * opt-out.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';

import { PoolError, type Pool } from '../../src/pg/index.js';
import { adminClient, createPool, sleep, tableName, until, untilRunning } from './helpers.js';

interface PidRow {
  pid: number;
}

/** Starts `count` queries at once and resolves with their outcomes, in order. */
function concurrently<T>(count: number, run: (i: number) => Promise<T>) {
  return Promise.allSettled(Array.from({ length: count }, (_, i) => run(i)));
}

/** True while pg's pipeline mode is on for a client (pg >= 8.23). */
function pipelined(client: pg.ClientBase): boolean {
  return (client as unknown as { pipeline: boolean }).pipeline;
}

describe('pipelined dispatch', () => {
  it('puts concurrent queries on as few connections as their number needs', async () => {
    const pool = createPool({ max: 10, pipelineDepth: 16 });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        pool.query<PidRow & { n: number }>('SELECT pg_backend_pid() AS pid, $1::int AS n', [i]),
      ),
    );
    expect(results.map((r) => r.rows[0]?.n)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const pids = new Set(results.map((r) => r.rows[0]?.pid));
    expect(pids.size).toBeLessThanOrEqual(Math.ceil(50 / 16));
    expect(pool.totalCount).toBeLessThanOrEqual(Math.ceil(50 / 16));
    // Every lane goes back to the core once it is empty.
    await until(() => pool.idleCount === pool.totalCount);
    expect(pool.waitingCount).toBe(0);
  });

  it("keeps each caller's results its own and in order, whatever the interleaving", async () => {
    const pool = createPool({ max: 3, pipelineDepth: 8 });
    const caller = async (id: number) => {
      for (let i = 0; i < 40; i++) {
        // Answers of different sizes, so that they arrive split across socket reads.
        const rows = (i * 7 + id) % 50;
        const { rows: got } = await pool.query<{ caller: number; i: number; g: number }>(
          'SELECT $1::int AS caller, $2::int AS i, g FROM generate_series(1, $3::int) g',
          [id, i, rows],
        );
        expect(got).toHaveLength(rows);
        for (const [k, row] of got.entries()) expect(row).toEqual({ caller: id, i, g: k + 1 });
      }
    };
    await Promise.all(Array.from({ length: 25 }, (_, id) => caller(id)));
  });

  it('fails only the query that errs, with pg’s own error, and keeps the connection', async () => {
    const pool = createPool({ max: 2, pipelineDepth: 32 });
    const removed: unknown[] = [];
    pool.on('remove', (client) => removed.push(client));
    const outcomes = await concurrently(300, (i) => {
      if (i % 5 === 1) return pool.query('SELECT 1 / $1::int AS n', [0]); // 22012
      if (i % 5 === 3) return pool.query('SELEC $1::int', [i]); // 42601 at Parse
      if (i % 5 === 4) return pool.query('SELECT $1::int AS n FROM missing_table', [i]); // 42P01
      return pool.query<{ n: number }>('SELECT $1::int AS n', [i]);
    });
    outcomes.forEach((outcome, i) => {
      if (i % 5 === 0 || i % 5 === 2) {
        expect(outcome).toEqual({ status: 'fulfilled', value: expect.anything() });
        expect((outcome as PromiseFulfilledResult<pg.QueryResult>).value.rows).toEqual([{ n: i }]);
      } else {
        expect(outcome.status).toBe('rejected');
        const error = (outcome as PromiseRejectedResult).reason as pg.DatabaseError;
        expect(error).toBeInstanceOf(pg.DatabaseError);
        expect(error.code).toBe(i % 5 === 1 ? '22012' : i % 5 === 3 ? '42601' : '42P01');
      }
    });
    expect(removed).toEqual([]);
    expect(pool.stats().destroys.error).toBe(0);
  });

  it('fails only the query whose parameter cannot be serialized', async () => {
    const pool = createPool({ max: 1, pipelineDepth: 32 });
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    const outcomes = await concurrently(30, (i) =>
      i === 10
        ? pool.query('SELECT $1::json AS j', [circular])
        : pool.query<{ n: number }>('SELECT $1::int AS n', [i]),
    );
    expect(outcomes[10]?.status).toBe('rejected');
    expect((outcomes[10] as PromiseRejectedResult).reason).toBeInstanceOf(TypeError);
    for (const [i, outcome] of outcomes.entries()) {
      if (i !== 10)
        expect(outcome).toMatchObject({ status: 'fulfilled', value: { rows: [{ n: i }] } });
    }
    // pg called that query back twice (at once, then at its ReadyForQuery): settled once, and
    // the connection went back clean.
    await until(() => pool.idleCount === 1);
    expect((await pool.query<{ n: number }>('SELECT $1::int AS n', [7])).rows).toEqual([{ n: 7 }]);
  });

  it('round-trips parameter and result types, rowMode, custom parsers and named statements', async () => {
    const pool = createPool({ max: 2, pipelineDepth: 16 });
    const when = new Date('2024-02-29T12:34:56.789Z');
    const bytes = Buffer.from([0, 1, 2, 254, 255]);
    const checks: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      checks.push(
        pool
          .query(
            'SELECT $1::int AS i, $2::bigint AS big, $3::numeric AS num, $4::text AS t, $5::bytea AS b, ' +
              '$6::jsonb AS j, $7::int[] AS arr, $8::text AS nothing, $9::timestamptz AS ts, $10::bool AS ok',
            [
              i,
              '9007199254740993',
              '1.10',
              `zażółć ${i} 🐘`,
              bytes,
              { i, nested: [i] },
              [i, i + 1],
              null,
              when,
              i % 2 === 0,
            ],
          )
          .then(({ rows }) => {
            expect(rows).toEqual([
              {
                i,
                big: '9007199254740993',
                num: '1.10',
                t: `zażółć ${i} 🐘`,
                b: bytes,
                j: { i, nested: [i] },
                arr: [i, i + 1],
                nothing: null,
                ts: when,
                ok: i % 2 === 0,
              },
            ]);
          }),
        pool
          .query({ text: 'SELECT $1::int AS a, $1::int + 1 AS b', values: [i], rowMode: 'array' })
          .then(({ rows }) => expect(rows).toEqual([[i, i + 1]])),
        pool
          .query({
            text: 'SELECT $1::int AS a',
            values: [i],
            types: { getTypeParser: () => (value: string) => `parsed:${value}` },
          })
          .then(({ rows }) => expect(rows).toEqual([{ a: `parsed:${i}` }])),
        // Prepared once per connection by pg, then reused, with queries pipelined behind the Parse.
        pool
          .query({ name: 'pipeline-named', text: 'SELECT $1::int * 2 AS d', values: [i] })
          .then(({ rows }) => expect(rows).toEqual([{ d: i * 2 }])),
      );
    }
    await Promise.all(checks);
  });

  it('carries large results next to small queries', async () => {
    const pool = createPool({ max: 2, pipelineDepth: 16 });
    const big = (n: number) =>
      pool.query<{ g: number; pad: string }>(
        "SELECT g, repeat('x', 1000) || $1::text AS pad FROM generate_series(1, 5000) g",
        [String(n)],
      );
    const small = Array.from({ length: 100 }, (_, i) =>
      pool.query<{ n: number }>('SELECT $1::int AS n', [i]),
    );
    const larges = [big(1), big(2), big(3), big(4)];
    for (const [k, result] of (await Promise.all(larges)).entries()) {
      expect(result.rows).toHaveLength(5000);
      expect(result.rows[4999]).toEqual({ g: 5000, pad: `${'x'.repeat(1000)}${k + 1}` });
    }
    expect((await Promise.all(small)).map((r) => r.rows[0]?.n)).toEqual(
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  it('supports the callback form and plain text on pipelined connections', async () => {
    const pool = createPool({ max: 1 });
    const results = await Promise.all(
      Array.from(
        { length: 10 },
        (_, i) =>
          new Promise<unknown>((resolve, reject) =>
            pool.query(`SELECT ${i} AS n`, (err, res) => (err ? reject(err) : resolve(res.rows))),
          ),
      ),
    );
    expect(results).toEqual(Array.from({ length: 10 }, (_, i) => [{ n: i }]));
  });
});

describe('head-of-line protection', () => {
  it('sends no new query to a connection whose oldest query has run too long', async () => {
    const pool = createPool({ max: 2, pipelineSlowQueryMillis: 20 });
    const slow = pool.query<PidRow>('SELECT pg_backend_pid() AS pid, pg_sleep(1)');
    await sleep(60);
    // No wall-clock bound (a loaded CI machine may take long to open the second connection):
    // none of them ran on the slow query's connection. The timing itself is a unit test
    // (test/pipeline/lane.test.ts, under fake timers).
    const fast = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        pool.query<PidRow & { n: number }>('SELECT pg_backend_pid() AS pid, $1::int AS n', [i]),
      ),
    );
    const slowPid = (await slow).rows[0]?.pid;
    for (const result of fast) expect(result.rows[0]?.pid).not.toBe(slowPid);
  });

  it('keeps queries waiting (not written behind it) while every connection is held up', async () => {
    const pool = createPool({ max: 1, pipelineSlowQueryMillis: 20 });
    const slow = pool.query('SELECT pg_sleep(0.3)');
    // Until it really runs (opening the connection can take a while on a loaded machine), then
    // past both head-of-line limits (20 ms in service, 4 x 20 ms since it was sent).
    await untilRunning('SELECT pg_sleep(0.3)');
    await sleep(100);
    const waiting = pool.query<{ n: number }>('SELECT $1::int AS n', [1]);
    expect(pool.waitingCount).toBe(1); // here, not queued inside pg behind the slow one
    await slow;
    expect((await waiting).rows).toEqual([{ n: 1 }]);
  });

  it('fails a query that waits longer than acquireTimeoutMillis, and only that one', async () => {
    const pool = createPool({ max: 1, pipelineSlowQueryMillis: 10, acquireTimeoutMillis: 150 });
    const slow = pool.query('SELECT pg_sleep(0.6)');
    await untilRunning('SELECT pg_sleep(0.6)');
    await sleep(60);
    const error: unknown = await pool.query('SELECT $1::int', [1]).catch((e: unknown) => e);
    expect((error as Error).cause).toBeInstanceOf(PoolError);
    expect(error).toMatchObject({ cause: { code: 'ERR_POOL_ACQUIRE_TIMEOUT' } });
    await expect(slow).resolves.toBeDefined();
    // It waited in the pipeline's queue, not the core's: counted all the same.
    expect(pool.stats().timeouts).toBe(1);
  });
});

describe('exclusive connections next to pipelined traffic', () => {
  /** Callers that keep `pool.query()` busy until `stop()`; resolves with the pids they used. */
  function hammer(pool: Pool, callers: number, sql: string) {
    let running = true;
    const pids: number[] = [];
    const done = Promise.all(
      Array.from({ length: callers }, async () => {
        while (running) {
          const { rows } = await pool.query<PidRow & { n: number }>(sql, [1]);
          pids.push(rows[0]!.pid);
        }
      }),
    );
    return {
      pids,
      stop: async () => {
        running = false;
        await done;
      },
    };
  }

  it('runs a transaction on a connection of its own, isolated, without waiting out the load', async () => {
    const table = tableName('pipeline_tx');
    const admin = await adminClient();
    await admin.query(`CREATE TABLE ${table} (id int)`);
    try {
      const pool = createPool({ max: 3, pipelineDepth: 8 });
      const seen: number[] = [];
      let running = true;
      const readers = Promise.all(
        Array.from({ length: 100 }, async () => {
          while (running) {
            const { rows } = await pool.query<{ n: number; pid: number }>(
              `SELECT count(*)::int AS n, pg_backend_pid() AS pid FROM ${table} WHERE $1::int = 1`,
              [1],
            );
            seen.push(rows[0]!.n);
          }
        }),
      );
      await until(() => seen.length > 200);
      // The readers never stop by themselves: a transaction that waited out the load would
      // never commit (the test would time out), so no wall-clock bound is needed here.
      let beforeCommit = 0;
      const txPid = await pool.transaction(async (client) => {
        expect(pipelined(client)).toBe(false);
        const { rows } = await client.query<PidRow>('SELECT pg_backend_pid() AS pid');
        for (let i = 0; i < 10; i++) await client.query(`INSERT INTO ${table} VALUES ($1)`, [i]);
        const before = seen.length;
        await until(() => seen.length > before + 200); // readers keep going meanwhile
        beforeCommit = seen.length;
        return rows[0]!.pid;
      });
      const committedAt = seen.length;
      await until(() => seen.length > committedAt + 200);
      running = false;
      await readers;
      // No reader saw the uncommitted rows (none ran inside the transaction), nor a part of them.
      expect(seen.slice(0, beforeCommit).every((n) => n === 0)).toBe(true);
      expect(seen.every((n) => n === 0 || n === 10)).toBe(true);
      expect(seen.at(-1)).toBe(10);
      expect(txPid).toBeGreaterThan(0);
    } finally {
      await admin.query(`DROP TABLE IF EXISTS ${table}`);
    }
  });

  it('hands connect() a connection promptly when lanes hold every one, and never in pipeline mode', async () => {
    const pool = createPool({ max: 2, pipelineDepth: 4 });
    const load = hammer(pool, 50, 'SELECT pg_backend_pid() AS pid, $1::int AS n');
    await until(() => load.pids.length > 500);
    // The load never stops by itself: a connect() that waited it out would never resolve.
    for (let round = 0; round < 5; round++) {
      const client = await pool.connect();
      expect(pipelined(client)).toBe(false);
      const { rows } = await client.query<PidRow>('SELECT pg_backend_pid() AS pid');
      const before = load.pids.length;
      await until(() => load.pids.length > before + 100);
      const during = load.pids.slice(before);
      expect(during).not.toContain(rows[0]!.pid);
      client.release();
    }
    await load.stop();
  });

  it('sends BEGIN, SET and multi-statement text exclusively, so lanes never inherit them', async () => {
    const pool = createPool({ max: 2, pipelineDepth: 8 });
    const load = hammer(
      pool,
      40,
      "SELECT pg_backend_pid() AS pid, $1::int AS n, current_setting('transaction_isolation') AS iso",
    );
    // Transaction control alone is refused; a text that leaves a transaction open runs on a
    // connection of its own and is rolled back by the release guard, and its caller is told.
    await expect(pool.query('BEGIN ISOLATION LEVEL SERIALIZABLE')).rejects.toMatchObject({
      code: 'ERR_PG_TRANSACTION_ON_POOL',
    });
    await expect(pool.query('BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT 1')).rejects.toMatchObject({
      code: 'ERR_PG_TRANSACTION_ON_POOL',
    });
    await pool.query("SET LOCAL application_name = 'x'; SELECT 1");
    const { rows } = await pool.query<{ status: string }>(
      "SELECT CASE WHEN now() = statement_timestamp() THEN 'implicit' ELSE 'in transaction' END AS status",
    );
    expect(rows).toEqual([{ status: 'implicit' }]);
    await load.stop();
    expect(load.pids.length).toBeGreaterThan(0);
  });
});

describe('pipelineQueries: false', () => {
  it('runs strictly one query per connection at a time, as pg.Pool does', async () => {
    const pool = createPool({ max: 5, pipelineQueries: false });
    let maxInFlight = 0;
    pool.on('acquire', (client: pg.PoolClient) => {
      expect(pipelined(client)).toBe(false);
    });
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const r = await pool.query<PidRow & { n: number }>(
          'SELECT pg_backend_pid() AS pid, $1::int AS n, pg_sleep(0.02)',
          [i],
        );
        maxInFlight = Math.max(maxInFlight, pool.totalCount - pool.idleCount);
        return r;
      }),
    );
    expect(results.map((r) => r.rows[0]?.n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(pool.totalCount).toBe(5); // 20 callers at once need all five connections
    expect(new Set(results.map((r) => r.rows[0]?.pid)).size).toBe(5);
    expect(maxInFlight).toBeGreaterThan(0);
  });

  it('is validated with the other options', () => {
    expect(() => createPool({ pipelineQueries: 'yes' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_POOL_INVALID_OPTION', option: 'pipelineQueries' }),
    );
    expect(() => createPool({ pipelineDepth: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_POOL_INVALID_OPTION', option: 'pipelineDepth' }),
    );
    expect(() => createPool({ pipelineSlowQueryMillis: -1 })).toThrow(
      expect.objectContaining({ option: 'pipelineSlowQueryMillis' }),
    );
  });
});

describe('end() with pipelined queries outstanding', () => {
  it('answers queries in flight and waiting, refuses new ones, and closes everything', async () => {
    const pool = createPool({ max: 1, pipelineDepth: 5, pipelineSlowQueryMillis: Infinity });
    const outcomes = concurrently(12, (i) =>
      pool.query<{ n: number }>('SELECT $1::int AS n, pg_sleep(0.02)', [i]),
    );
    await until(() => pool.totalCount === 1 && pool.waitingCount === 7);
    await pool.end();
    const settled = await outcomes;
    expect(settled.map((o) => o.status)).toEqual(Array(12).fill('fulfilled'));
    expect(
      settled.map((o) => (o as PromiseFulfilledResult<pg.QueryResult>).value.rows[0].n),
    ).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(pool.totalCount).toBe(0);
    await expect(pool.query('SELECT $1::int', [1])).rejects.toMatchObject({
      cause: { code: 'ERR_POOL_CLOSED' },
    });
  });

  it('rejects with ERR_POOL_QUEUE_FULL beyond maxWaiting', async () => {
    const pool = createPool({ max: 1, pipelineDepth: 2, maxWaiting: 3 });
    const outcomes = await concurrently(10, (i) => pool.query('SELECT $1::int', [i]));
    const full = outcomes.filter(
      (o) => o.status === 'rejected' && (o.reason as PoolError).code === 'ERR_POOL_QUEUE_FULL',
    );
    expect(full.length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.status === 'fulfilled').length).toBe(10 - full.length);
    expect(pool.stats().rejectedQueueFull).toBe(full.length);
  });
});

describe('a pool-wide query_timeout', () => {
  it('turns pipelining off, so a timed-out query does not take other callers down with it', async () => {
    const pool = createPool({ max: 1, query_timeout: 200 });
    const slow = pool.query('SELECT pg_sleep(2)').catch((e: unknown) => e);
    const fast = pool.query<{ n: number }>('SELECT 1 AS n');
    expect(await slow).toMatchObject({ code: 'ERR_PG_QUERY_TIMEOUT' });
    expect((await fast).rows).toEqual([{ n: 1 }]);
  });
});

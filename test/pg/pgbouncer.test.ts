/**
 * lifeguard/pg behind a real PgBouncer in transaction pooling mode (test/support/pgbouncer.ts):
 * per-query and per-transaction timeouts (`SET LOCAL`) cancel with 57014 and do not leak to
 * other clients of the same server connection; queries with and without pipelining work; and
 * the documented caveat of the per-pool form (a session-level `SET`) is shown as it is.
 *
 * Skipped when the `pgbouncer` binary is not installed; CI installs it and fails without it (see
 * .ci/run and LIFEGUARD_REQUIRE_EXTRAS in test/support/extras.ts).
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { describeWithExtra } from '../support/extras.js';
import { type PgBouncer, pgbouncerUnavailable, startPgBouncer } from '../support/pgbouncer.js';
import { adminClient, createPool, databaseUrl } from './helpers.js';

describeWithExtra('behind PgBouncer in transaction mode', pgbouncerUnavailable, () => {
  let bouncer: PgBouncer;
  /** The server's own default, read on a direct connection (0 unless configured). */
  let serverDefault = '';

  beforeAll(async () => {
    bouncer = await startPgBouncer({ databaseUrl, poolMode: 'transaction', defaultPoolSize: 2 });
    const direct = new pg.Client({ connectionString: databaseUrl });
    await direct.connect();
    try {
      serverDefault = (await direct.query('SHOW statement_timeout')).rows[0].statement_timeout;
    } finally {
      await direct.end();
    }
  });

  afterAll(async () => {
    await bouncer?.stop();
  });

  it('really shares server connections between clients (transaction pooling is on)', async () => {
    // Three client sessions, two server connections: in session mode the third would wait.
    const clients = await Promise.all([1, 2, 3].map(() => adminClient(bouncer.url)));
    const pids = new Set<number>();
    for (const client of clients) {
      pids.add((await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number);
    }
    expect(pids.size).toBeLessThanOrEqual(2);
  }, 5_000);

  it("drops pg's startup statement_timeout (ignore_startup_parameters): hence SQL timeouts", async () => {
    const pool = createPool({ statement_timeout: 250 }, bouncer.url);
    const { rows } = await pool.query('SHOW statement_timeout');
    expect(rows[0]?.statement_timeout).toBe(serverDefault);
  });

  it('a per-query statementTimeout cancels a slow statement with 57014, then the pool works', async () => {
    const pool = createPool({ max: 4 }, bouncer.url);
    const started = Date.now();
    await expect(
      pool.query({ text: 'SELECT pg_sleep(2)', statementTimeout: 200 }),
    ).rejects.toMatchObject({ code: '57014' });
    expect(Date.now() - started).toBeLessThan(1_500);
    const { rows } = await pool.query<{ n: number }>('SELECT $1::int + 1 AS n', [41]);
    expect(rows).toEqual([{ n: 42 }]);
    const shown = await pool.query('SHOW statement_timeout');
    expect(shown.rows[0]?.statement_timeout).toBe(serverDefault);
  });

  it('a per-transaction statementTimeout cancels with 57014, and does not leak afterwards', async () => {
    const pool = createPool({ max: 1 }, bouncer.url);
    await expect(
      pool.transaction(
        async (client) => {
          const { rows } = await client.query('SHOW statement_timeout');
          expect(rows[0].statement_timeout).toBe('200ms');
          await client.query('SELECT pg_sleep(2)');
        },
        { statementTimeout: 200 },
      ),
    ).rejects.toMatchObject({ code: '57014' });

    // A committed transaction must not leave its timeout behind either (a session-level SET
    // inside a transaction would survive COMMIT, though not the rollback above).
    const committed = await pool.transaction(
      async (client) => (await client.query('SHOW statement_timeout')).rows[0].statement_timeout,
      { statementTimeout: 200 },
    );
    expect(committed).toBe('200ms');

    // SET LOCAL ended with the transaction: neither this pool's session nor the server
    // connection PgBouncer hands out next (LIFO: the same one) kept the 200 ms.
    const shown = await pool.query('SHOW statement_timeout');
    expect(shown.rows[0]?.statement_timeout).toBe(serverDefault);
    const other = await adminClient(bouncer.url);
    expect((await other.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe(
      serverDefault,
    );
    const slept = await pool.transaction(async (client) => {
      await client.query('SELECT pg_sleep(0.5)');
      return (await client.query('SELECT 1 AS ok')).rows[0].ok as number;
    });
    expect(slept).toBe(1);
  });

  for (const pipeline of [true, false]) {
    it(`plain queries and parameters work with pipelineQueries: ${pipeline}`, async () => {
      const pool = createPool({ max: 3, pipelineQueries: pipeline }, bouncer.url);
      const plain = await pool.query('SELECT 1 AS one, current_database() IS NOT NULL AS db');
      expect(plain.rows).toEqual([{ one: 1, db: true }]);
      // More concurrent queries than client connections, and those than server connections.
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          pool.query<{ n: number; s: string; z: null }>(
            'SELECT $1::int * 2 AS n, $2::text AS s, $3::text AS z',
            [i, `v${i}`, null],
          ),
        ),
      );
      expect(results.map((result) => result.rows[0])).toEqual(
        Array.from({ length: 40 }, (_, i) => ({ n: i * 2, s: `v${i}`, z: null })),
      );
      // A per-query timeout mixed in, on either path.
      await expect(
        pool.query({ text: 'SELECT pg_sleep(1)', statementTimeout: 100 }),
      ).rejects.toMatchObject({ code: '57014' });
      const after = await pool.query<{ ok: boolean }>('SELECT $1::bool AS ok', [true]);
      expect(after.rows).toEqual([{ ok: true }]);
    });
  }

  it('a per-pool statementTimeout (session SET) follows the server connection, not the pool', async () => {
    // The caveat of docs/pg.md, made deterministic with a single server connection: every
    // session-level SET lands on it, whichever pool sent it.
    const single = await startPgBouncer({
      databaseUrl,
      poolMode: 'transaction',
      defaultPoolSize: 1,
    });
    try {
      const a = createPool({ max: 1, statementTimeout: 100 }, single.url);
      const b = createPool({ max: 1, statementTimeout: 5_000 }, single.url);
      const show = async (pool: typeof a) =>
        (await pool.query('SHOW statement_timeout')).rows[0]?.statement_timeout as string;
      expect(await show(a)).toBe('100ms');
      expect(await show(b)).toBe('5s');
      // Pool a's connection was set once, at connect; pool b's SET has since replaced it.
      expect(await show(a)).toBe('5s');
      // The per-query form stays correct on the same shared connection.
      await expect(
        a.query({ text: 'SELECT pg_sleep(1)', statementTimeout: 100 }),
      ).rejects.toMatchObject({ code: '57014' });
      await a.end();
      await b.end();
    } finally {
      await single.stop();
    }
  });
});

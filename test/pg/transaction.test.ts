/**
 * pool.transaction(): BEGIN/COMMIT/ROLLBACK on one connection, transaction modes and local
 * timeouts, and whole-function retries after serialization failures and deadlocks.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  PgConnectionLostError,
  PgTransactionAbortedError,
  PgTransactionRetriesExhaustedError,
} from '../../src/pg/index.js';
import { adminClient, backendPid, createPool, tableName } from './helpers.js';

let table = '';

beforeEach(async () => {
  table = tableName('tx');
  const admin = await adminClient();
  await admin.query(`CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL)`);
  await admin.query(`INSERT INTO ${table} VALUES (1, 0), (2, 0)`);
});

afterEach(async () => {
  const admin = await adminClient();
  await admin.query(`DROP TABLE IF EXISTS ${table}`);
});

async function valueOf(pool: ReturnType<typeof createPool>, id: number): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`SELECT n FROM ${table} WHERE id = $1`, [id]);
  return rows[0]!.n;
}

describe('transaction', () => {
  it('commits and resolves with what the function returned', async () => {
    const pool = createPool();
    const result = await pool.transaction(async (client) => {
      await client.query(`UPDATE ${table} SET n = 5 WHERE id = 1`);
      return 'done';
    });
    expect(result).toBe('done');
    expect(await valueOf(pool, 1)).toBe(5);
  });

  it("rolls back and rejects with the function's own error when it throws", async () => {
    const pool = createPool({ max: 1 });
    const thrown = new Error('changed my mind');
    const error = await pool
      .transaction(async (client) => {
        await client.query(`UPDATE ${table} SET n = 5 WHERE id = 1`);
        throw thrown;
      })
      .catch((e: unknown) => e);
    expect(error).toBe(thrown);
    expect(await valueOf(pool, 1)).toBe(0);
  });

  it('applies isolation level, read only and deferrable', async () => {
    const pool = createPool();
    const settings = await pool.transaction(
      async (client) => {
        const show = async (name: string) =>
          (await client.query(`SHOW ${name}`)).rows[0][name] as string;
        return [
          await show('transaction_isolation'),
          await show('transaction_read_only'),
          await show('transaction_deferrable'),
        ];
      },
      { isolationLevel: 'serializable', readOnly: true, deferrable: true },
    );
    expect(settings).toEqual(['serializable', 'on', 'on']);
    const write = pool.transaction((client) => client.query(`UPDATE ${table} SET n = 1`), {
      readOnly: true,
    });
    await expect(write).rejects.toMatchObject({ code: '25006' }); // read_only_sql_transaction
  });

  it('sets timeouts with SET LOCAL, so they end with the transaction', async () => {
    const pool = createPool({ max: 1 });
    const inside = await pool.transaction(
      async (client) =>
        (await client.query('SHOW statement_timeout')).rows[0].statement_timeout as string,
      { statementTimeout: 1_500, lockTimeout: 200, idleInTransactionSessionTimeout: 10_000 },
    );
    expect(inside).toBe('1500ms');
    const { rows } = await pool.query('SHOW statement_timeout');
    expect(rows[0]?.statement_timeout).toBe('0');
    const slow = pool.transaction((client) => client.query('SELECT pg_sleep(2)'), {
      statementTimeout: 50,
    });
    await expect(slow).rejects.toMatchObject({ code: '57014' }); // query_canceled
  });

  it('refuses a function that swallowed a failed statement: the COMMIT rolled back', async () => {
    const pool = createPool({ max: 1 });
    const error = await pool
      .transaction(async (client) => {
        await client.query(`UPDATE ${table} SET n = 9 WHERE id = 1`);
        await client.query('SELECT 1/0').catch(() => undefined);
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PgTransactionAbortedError);
    expect(error).toMatchObject({ code: 'ERR_PG_TRANSACTION_ABORTED' });
    expect(await valueOf(pool, 1)).toBe(0);
  });

  it('rejects invalid options with a typed error before touching the database', async () => {
    const pool = createPool();
    const run = (options: object) => pool.transaction(() => undefined, options);
    await expect(run({ isolationLevel: 'chaos' })).rejects.toMatchObject({
      code: 'ERR_PG_INVALID_ARGUMENT',
    });
    await expect(run({ retries: -1 })).rejects.toMatchObject({ code: 'ERR_PG_INVALID_ARGUMENT' });
    await expect(run({ statementTimeout: 1.5 })).rejects.toMatchObject({
      code: 'ERR_PG_INVALID_ARGUMENT',
    });
    await expect(run({ isolation: 'serializable' })).rejects.toMatchObject({
      code: 'ERR_PG_INVALID_ARGUMENT',
    });
    expect(pool.totalCount).toBe(0);
  });

  it('reports a connection lost inside the function as not committed (mayHaveRun: false)', async () => {
    const pool = createPool();
    const error = await pool
      .transaction(async (client) => {
        await client.query(`UPDATE ${table} SET n = 3 WHERE id = 1`);
        await client.query('SELECT pg_terminate_backend(pg_backend_pid())');
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PgConnectionLostError);
    expect(error).toMatchObject({ mayHaveRun: false, sqlState: '57P01' });
    expect(await valueOf(pool, 1)).toBe(0);
  });
});

describe('transaction retries', () => {
  /** A concurrent committed update: the transaction's next write to that row fails with 40001. */
  async function interfere(): Promise<void> {
    const admin = await adminClient();
    await admin.query(`UPDATE ${table} SET n = n + 100 WHERE id = 1`);
  }

  it('runs the whole function again after a serialization failure, and commits', async () => {
    const pool = createPool();
    let attempts = 0;
    await pool.transaction(
      async (client) => {
        attempts++;
        await client.query(`SELECT n FROM ${table} WHERE id = 1`); // takes the snapshot
        if (attempts === 1) await interfere();
        await client.query(`UPDATE ${table} SET n = n + 1 WHERE id = 1`);
      },
      { isolationLevel: 'repeatable read', retries: 3 },
    );
    expect(attempts).toBe(2);
    expect(await valueOf(pool, 1)).toBe(101);
  });

  it('gives up after `retries` more attempts with a typed error carrying the SQLSTATE', async () => {
    const pool = createPool();
    let attempts = 0;
    const error = await pool
      .transaction(
        async (client) => {
          attempts++;
          await client.query(`SELECT n FROM ${table} WHERE id = 1`);
          await interfere();
          await client.query(`UPDATE ${table} SET n = n + 1 WHERE id = 1`);
        },
        { isolationLevel: 'serializable', retries: 2 },
      )
      .catch((e: unknown) => e);
    expect(attempts).toBe(3);
    expect(error).toBeInstanceOf(PgTransactionRetriesExhaustedError);
    expect(error).toMatchObject({
      code: 'ERR_PG_TRANSACTION_RETRIES_EXHAUSTED',
      attempts: 3,
      sqlState: '40001',
    });
    expect((error as Error).cause).toBeInstanceOf(pg.DatabaseError);
  });

  it("does not retry by default, and rejects with pg's 40001 error", async () => {
    const pool = createPool();
    let attempts = 0;
    const error = await pool
      .transaction(
        async (client) => {
          attempts++;
          await client.query(`SELECT n FROM ${table} WHERE id = 1`);
          await interfere();
          await client.query(`UPDATE ${table} SET n = n + 1 WHERE id = 1`);
        },
        { isolationLevel: 'repeatable read' },
      )
      .catch((e: unknown) => e);
    expect(attempts).toBe(1);
    expect(error).toMatchObject({ code: '40001' });
  });

  it('runs the function again after a deadlock', async () => {
    const pool = createPool();
    const other = await adminClient();
    await other.query('BEGIN');
    await other.query(`UPDATE ${table} SET n = n + 10 WHERE id = 2`);
    let otherDone: Promise<unknown> | undefined;
    let attempts = 0;
    const pid = await pool.transaction(
      async (client) => {
        attempts++;
        // This session detects the deadlock first, so it is the one aborted with 40P01.
        await client.query("SET LOCAL deadlock_timeout = '20ms'");
        await client.query(`UPDATE ${table} SET n = n + 1 WHERE id = 1`);
        if (attempts === 1) {
          // Waits for our row 1 while holding row 2; then we wait for row 2: a cycle.
          otherDone = other
            .query(`UPDATE ${table} SET n = n + 10 WHERE id = 1`)
            .then(() => other.query('COMMIT'));
        }
        await client.query(`UPDATE ${table} SET n = n + 1 WHERE id = 2`);
        return backendPid(client);
      },
      { retries: 1 },
    );
    await otherDone;
    expect(pid).toBeGreaterThan(0);
    expect(attempts).toBe(2);
    expect([await valueOf(pool, 1), await valueOf(pool, 2)]).toEqual([11, 11]);
  });
});

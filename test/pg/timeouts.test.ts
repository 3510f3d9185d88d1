/**
 * statement_timeout, lock_timeout and idle_in_transaction_session_timeout, set per pool (SET
 * on each new connection), per query and per transaction (SET LOCAL): sent as SQL, so they
 * also work where startup parameters do not (PgBouncer).
 */
import { describe, expect, it } from 'vitest';

import { PgConnectionLostError } from '../../src/pg/index.js';
import { adminClient, backendPid, createPool, nextEvent, tableName } from './helpers.js';

describe('per-pool timeouts', () => {
  it('are SET on each new connection, and a cancelled statement keeps its connection', async () => {
    const pool = createPool({
      max: 1,
      statementTimeout: 100,
      lockTimeout: 50,
      idleInTransactionSessionTimeout: 60_000,
    });
    const client = await pool.connect();
    const pid = await backendPid(client);
    const show = async (name: string) =>
      (await client.query(`SHOW ${name}`)).rows[0][name] as string;
    expect([await show('statement_timeout'), await show('lock_timeout')]).toEqual([
      '100ms',
      '50ms',
    ]);
    expect(await show('idle_in_transaction_session_timeout')).toBe('1min');
    client.release();
    await expect(pool.query('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
    const after = await pool.connect();
    expect(await backendPid(after)).toBe(pid);
    after.release();
  });

  it("still passes pg's startup parameters through, as pg.Pool does", async () => {
    const pool = createPool({ statement_timeout: 250 });
    const { rows } = await pool.query('SHOW statement_timeout');
    expect(rows[0]?.statement_timeout).toBe('250ms');
  });
});

describe('per-query timeouts', () => {
  it('cancel a slow query, and do not outlive it on that connection', async () => {
    const pool = createPool({ max: 1 });
    await expect(
      pool.query({ text: 'SELECT pg_sleep(2)', statementTimeout: 50 }),
    ).rejects.toMatchObject({
      code: '57014',
    });
    const { rows } = await pool.query('SHOW statement_timeout');
    expect(rows[0]?.statement_timeout).toBe('0');
    const client = await pool.connect();
    expect(client.getTransactionStatus()).toBe('I');
    client.release();
  });

  it("return the query's own result, with values and rowMode intact", async () => {
    const pool = createPool();
    const result = await pool.query({
      text: "SELECT $1::int AS n, current_setting('statement_timeout') AS t",
      values: [7],
      rowMode: 'array',
      statementTimeout: 1_234,
    });
    expect(result.rows).toEqual([[7, '1234ms']]);
    expect(result.command).toBe('SELECT');
  });

  it('give up waiting for a lock with lockTimeout (55P03)', async () => {
    const table = tableName('locked');
    const admin = await adminClient();
    await admin.query(`CREATE TABLE ${table} (id int)`);
    try {
      await admin.query('BEGIN');
      await admin.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      const pool = createPool();
      await expect(
        pool.query({ text: `SELECT * FROM ${table}`, lockTimeout: 30 }),
      ).rejects.toMatchObject({
        code: '55P03',
      });
    } finally {
      await admin.query('ROLLBACK');
      await admin.query(`DROP TABLE ${table}`);
    }
  });

  it('reject invalid values with a typed error', async () => {
    const pool = createPool();
    await expect(pool.query({ text: 'SELECT 1', statementTimeout: -5 })).rejects.toMatchObject({
      code: 'ERR_PG_INVALID_ARGUMENT',
      argument: 'statementTimeout',
    });
  });
});

describe('per-transaction timeouts', () => {
  it('end a session left idle inside the transaction (idleInTransactionSessionTimeout)', async () => {
    const pool = createPool();
    const error = await pool
      .transaction(
        async (client) => {
          await client.query('SELECT 1');
          await nextEvent(client, 'error'); // the server ends the session while we sit idle
          await client.query('SELECT 1');
        },
        { idleInTransactionSessionTimeout: 50 },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PgConnectionLostError);
    expect(error).toMatchObject({ mayHaveRun: false });
    expect((error as Error).message).toMatch(/idle-in-transaction/);
  });
});

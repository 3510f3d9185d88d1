/**
 * A client is never handed to the next caller carrying the previous one's state: an open or
 * failed transaction is rolled back, a broken client is destroyed, and a second release throws.
 */
import { describe, expect, it } from 'vitest';

import { PoolError } from '../../src/pg/index.js';
import {
  backendPid,
  createPool,
  nextEvent,
  tableName,
  terminate,
  waitForBackendGone,
} from './helpers.js';

describe('release guard', () => {
  it('rolls back a client released inside an open transaction before reusing it', async () => {
    const pool = createPool({ max: 1 });
    const table = tableName('guard_open');
    await pool.query(`CREATE TABLE ${table} (n int)`);
    try {
      const first = await pool.connect();
      const pid = await backendPid(first);
      await first.query('BEGIN');
      await first.query(`INSERT INTO ${table} VALUES (1)`);
      expect(first.getTransactionStatus()).toBe('T');
      first.release();

      const second = await pool.connect();
      expect(await backendPid(second)).toBe(pid); // the same connection, not a new one
      expect(second.getTransactionStatus()).toBe('I');
      expect((await second.query(`SELECT count(*)::int AS n FROM ${table}`)).rows).toEqual([
        { n: 0 },
      ]);
      second.release();
    } finally {
      await pool.query(`DROP TABLE ${table}`);
    }
  });

  it('rolls back a client released inside a failed transaction', async () => {
    const pool = createPool({ max: 1 });
    const first = await pool.connect();
    await first.query('BEGIN');
    await expect(first.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    // Released at once: the server's ReadyForQuery ('E') may not even have arrived yet.
    first.release();
    // Would fail with 25P02 (in_failed_sql_transaction) without the rollback.
    expect((await pool.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });

  it('rolls back when BEGIN and a failing statement were sent in one simple query', async () => {
    const pool = createPool({ max: 1 });
    const client = await pool.connect();
    await expect(client.query('BEGIN; SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    client.release();
    const next = await pool.connect();
    expect(next.getTransactionStatus()).toBe('I');
    next.release();
  });

  it('waits for a query still in flight at release, then returns the client clean', async () => {
    const pool = createPool({ max: 1 });
    const client = await pool.connect();
    const pid = await backendPid(client);
    const inFlight = client.query('SELECT pg_sleep(0.05), 7 AS n');
    client.release();
    expect((await inFlight).rows[0]).toMatchObject({ n: 7 });
    const next = await pool.connect();
    expect(await backendPid(next)).toBe(pid);
    next.release();
  });

  it('destroys a client whose connection broke while it was checked out', async () => {
    const pool = createPool({ max: 1 });
    const client = await pool.connect();
    const pid = await backendPid(client);
    await client.query('BEGIN');
    const broke = nextEvent(client, 'error');
    await terminate(pid);
    await broke;
    const removed = nextEvent(pool, 'remove');
    client.release();
    await removed;
    await waitForBackendGone(pid);
    const next = await pool.connect();
    expect(await backendPid(next)).not.toBe(pid);
    next.release();
  });

  it('throws a typed error when a client is released twice', async () => {
    const pool = createPool();
    const client = await pool.connect();
    client.release();
    let error: unknown;
    try {
      client.release();
    } catch (e) {
      error = e;
    }
    // pg.Pool's error (class, no code, message), lifeguard's typed one as its cause.
    expect((error as Error).constructor).toBe(Error);
    expect(error).toMatchObject({
      message: 'Release called on client which has already been released to the pool.',
      cause: expect.any(PoolError),
    });
    expect((error as Error).cause).toMatchObject({ code: 'ERR_POOL_RELEASE_INVALID' });
  });

  it('does not let a stale release() from an earlier checkout release the current holder', async () => {
    const pool = createPool({ max: 1 });
    const first = await pool.connect();
    const staleRelease = first.release;
    staleRelease();
    const second = await pool.connect();
    expect(second).toBe(first); // same pg.Client object, new checkout
    expect(() => staleRelease()).toThrow(
      expect.objectContaining({
        cause: expect.objectContaining({ code: 'ERR_POOL_RELEASE_INVALID' }),
      }),
    );
    expect(pool.idleCount).toBe(0);
    expect((await second.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    second.release();
  });
});

/**
 * lifeguard/pg is a drop-in pg.Pool: the same calls, callbacks, events, counters and types.
 */
import { inspect } from 'node:util';

import pg from 'pg';
import { describe, expect, expectTypeOf, it } from 'vitest';

import { Pool, PoolError } from '../../src/pg/index.js';
import { backendPid, createPool, nextEvent, until } from './helpers.js';

describe('types', () => {
  it('is assignable wherever @types/pg expects a Pool, and hands out PoolClients', async () => {
    const pool: pg.Pool = createPool();
    // Compiled, never called: the assertions are on types.
    const typeChecks = async (p: Pool) => {
      expectTypeOf(await p.connect()).toEqualTypeOf<pg.PoolClient>();
      expectTypeOf(await p.query<{ n: number }>('SELECT 1')).toEqualTypeOf<
        pg.QueryResult<{ n: number }>
      >();
      expectTypeOf(await p.query({ text: 'SELECT 1', rowMode: 'array' })).toEqualTypeOf<
        pg.QueryArrayResult<unknown[]>
      >();
    };
    expect(typeChecks).toBeTypeOf('function');
    expect((await pool.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });
});

describe('query', () => {
  it('runs text, text with values, and a config object', async () => {
    const pool = createPool();
    expect((await pool.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    expect((await pool.query('SELECT $1::int AS n', [2])).rows).toEqual([{ n: 2 }]);
    const config = { text: 'SELECT $1::text AS s', values: ['x'] };
    expect((await pool.query(config)).rows).toEqual([{ s: 'x' }]);
    expect(config).toEqual({ text: 'SELECT $1::text AS s', values: ['x'] });
  });

  it('passes rowMode, types and name through to pg', async () => {
    const pool = createPool({ max: 1 });
    const types = { getTypeParser: () => (value: string) => `parsed:${value}` };
    const result = await pool.query({
      name: 'compat-named',
      text: 'SELECT $1::int AS a, 2 AS b',
      values: [1],
      rowMode: 'array',
      types,
    });
    expect(result.rows).toEqual([['parsed:1', 'parsed:2']]);
    expect(result.fields.map((f) => f.name)).toEqual(['a', 'b']);
    // The named statement stays prepared on that connection and can be reused.
    const again = await pool.query({
      name: 'compat-named',
      text: 'SELECT $1::int AS a, 2 AS b',
      values: [5],
    });
    expect(again.rows).toEqual([{ a: 5, b: 2 }]);
  });

  it('calls back with (err, result), for text, values and config', async () => {
    const pool = createPool();
    const viaText = await new Promise<pg.QueryResult>((resolve, reject) =>
      pool.query('SELECT 1 AS n', (err, res) => (err ? reject(err) : resolve(res))),
    );
    expect(viaText.rows).toEqual([{ n: 1 }]);
    const viaValues = await new Promise<pg.QueryResult>((resolve, reject) =>
      pool.query('SELECT $1::int AS n', [3], (err, res) => (err ? reject(err) : resolve(res))),
    );
    expect(viaValues.rows).toEqual([{ n: 3 }]);
    const error = await new Promise<Error>((resolve) =>
      pool.query('SELEC 1', (err) => resolve(err)),
    );
    expect(error).toBeInstanceOf(pg.DatabaseError);
  });

  it('runs a pg.Query submittable and releases its connection when it ends', async () => {
    const pool = createPool({ max: 1 });
    const query = new pg.Query('SELECT generate_series(1, 3) AS n');
    const rows: unknown[] = [];
    query.on('row', (row) => rows.push(row));
    expect(pool.query(query)).toBe(query);
    await nextEvent(query, 'end');
    expect(rows).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect((await pool.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });

  it('calls a function passed in place of the query text back with pg.Pool error', async () => {
    const pool = createPool();
    const query = pool.query as unknown as (fn: (err: unknown) => void) => unknown;
    const error = await new Promise((resolve) => query.call(pool, resolve));
    expect((error as Error).constructor).toBe(Error);
    expect(error).toMatchObject({
      message: 'Passing a function as the first parameter to pool.query is not supported',
      cause: { code: 'ERR_PG_INVALID_ARGUMENT' },
    });
  });

  it('refuses transaction control, which would not hold across pool.query() calls', async () => {
    const pool = createPool({ max: 1 });
    await pool.query('CREATE TEMP TABLE IF NOT EXISTS tx_on_pool (n int)');
    for (const text of [
      'BEGIN',
      ' begin isolation level serializable;',
      'COMMIT',
      'ROLLBACK TO s',
    ]) {
      await expect(pool.query(text)).rejects.toMatchObject({
        code: 'ERR_PG_TRANSACTION_ON_POOL',
        message: expect.stringMatching(/pool\.transaction\(.*pool\.connect\(\)/s),
      });
    }
    // A text that leaves a transaction open ran, and is rolled back: nothing of it committed.
    await expect(pool.query('BEGIN; INSERT INTO tx_on_pool VALUES (1)')).rejects.toMatchObject({
      code: 'ERR_PG_TRANSACTION_ON_POOL',
    });
    expect((await pool.query('SELECT count(*)::int AS n FROM tx_on_pool')).rows).toEqual([
      { n: 0 },
    ]);
    // A whole transaction in one text runs on one connection, and is fine.
    await pool.query('BEGIN; INSERT INTO tx_on_pool VALUES (2); COMMIT');
    expect((await pool.query('SELECT count(*)::int AS n FROM tx_on_pool')).rows).toEqual([
      { n: 1 },
    ]);
  });
});

describe('connect', () => {
  it('hands out a real pg.Client with release(), notifications and escaping intact', async () => {
    const pool = createPool();
    const client = await pool.connect();
    expect(client).toBeInstanceOf(pg.Client);
    expect(client.escapeIdentifier('a"b')).toBe('"a""b"');
    await client.query('LISTEN compat_channel');
    const notified = nextEvent<[pg.Notification]>(client, 'notification');
    await pool.query("SELECT pg_notify('compat_channel', 'hello')");
    const [notification] = await notified;
    expect(notification.payload).toBe('hello');
    await client.query('UNLISTEN *');
    client.release();
  });

  it('supports the callback form with a done function', async () => {
    const pool = createPool();
    const pid = await new Promise<number>((resolve, reject) => {
      pool.connect((err, client, done) => {
        if (err || !client) return reject(err ?? new Error('no client'));
        backendPid(client).then((p) => {
          done();
          resolve(p);
        }, reject);
      });
    });
    expect(pid).toBeGreaterThan(0);
    await until(() => pool.idleCount === 1); // done() gave it back
  });

  it('release(err) and release(true) destroy the client instead of reusing it', async () => {
    const pool = createPool({ max: 1 });
    const first = await pool.connect();
    const firstPid = await backendPid(first);
    const removed = nextEvent(pool, 'remove');
    first.release(new Error('broken'));
    await removed;
    const second = await pool.connect();
    const secondPid = await backendPid(second);
    expect(secondPid).not.toBe(firstPid);
    const removedAgain = nextEvent(pool, 'remove');
    second.release(true);
    await removedAgain;
    expect(pool.totalCount).toBe(0);
  });
});

describe('events and counters', () => {
  it('emits connect, acquire, release and remove with the client, like pg.Pool', async () => {
    const pool = createPool({ max: 1 });
    const seen: string[] = [];
    let releasedWith: unknown = 'unset';
    pool.on('connect', (client) => seen.push(`connect:${client instanceof pg.Client}`));
    pool.on('acquire', (client) => seen.push(`acquire:${client instanceof pg.Client}`));
    pool.on('release', (err, client) => {
      releasedWith = err;
      seen.push(`release:${client instanceof pg.Client}`);
    });
    pool.on('remove', (client) => seen.push(`remove:${client instanceof pg.Client}`));
    await pool.query('SELECT 1');
    // A pipelined query's connection goes back at the end of the current turn of the event
    // loop, not before the query resolves: 'release' is checked once the pool has ended.
    await pool.end();
    expect(releasedWith).toBeUndefined();
    expect(seen).toEqual(['connect:true', 'acquire:true', 'release:true', 'remove:true']);
  });

  it('counts total, idle and waiting clients', async () => {
    const pool = createPool({ max: 2 });
    expect([pool.totalCount, pool.idleCount, pool.waitingCount]).toEqual([0, 0, 0]);
    const a = await pool.connect();
    const b = await pool.connect();
    expect([pool.totalCount, pool.idleCount]).toEqual([2, 0]);
    const waiting = pool.connect();
    expect(pool.waitingCount).toBe(1);
    a.release();
    const c = await waiting;
    expect(pool.waitingCount).toBe(0);
    b.release();
    c.release();
    await pool.query('SELECT 1');
    await until(() => pool.idleCount === 2);
    expect([pool.totalCount, pool.expiredCount]).toEqual([2, 0]);
  });

  it("reports a client held past leakDetectionMillis with a 'leak' event", async () => {
    const pool = createPool({ leakDetectionMillis: 30, reapIntervalMillis: 10 });
    const client = await pool.connect();
    const [leaked, info] = await nextEvent<[pg.PoolClient, { heldMillis: number; stack: string }]>(
      pool,
      'leak',
    );
    expect(leaked).toBe(client);
    expect(info.heldMillis).toBeGreaterThanOrEqual(30);
    expect(info.stack).toContain('compat.test.ts');
    client.release();
  });

  it('runs onConnect on each new client before anyone uses it', async () => {
    const pool = createPool({
      onConnect: async (client) => {
        await client.query("SET application_name = 'from_on_connect'");
      },
    });
    const { rows } = await pool.query<{ name: string }>(
      "SELECT current_setting('application_name') AS name",
    );
    expect(rows[0]?.name).toBe('from_on_connect');
  });
});

describe('options', () => {
  it('shows pg.Pool-shaped options with defaults, without the password', () => {
    const pool = createPool({ password: 'hunter2-secret', max: 4 });
    expect(pool.options).toMatchObject({
      max: 4,
      min: 0,
      idleTimeoutMillis: 10_000,
      maxUses: Infinity,
      allowExitOnIdle: false,
      maxLifetimeSeconds: 0,
    });
    expect(pool.options.password).toBe('hunter2-secret');
    expect(inspect(pool.options)).not.toContain('hunter2-secret');
    expect(JSON.stringify(pool.options)).not.toContain('hunter2-secret');
    expect(inspect(pool, { depth: 5 })).not.toContain('hunter2-secret');
  });

  it('rejects invalid values of the options it honours (unknown keys: options-compat.test.ts)', () => {
    expect(() => new Pool({ max: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_POOL_INVALID_OPTION' }),
    );
    expect(() => new Pool({ verify: 'yes' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_POOL_INVALID_OPTION', option: 'verify' }),
    );
    expect(() => new Pool({ statementTimeout: -1 })).toThrow(
      expect.objectContaining({ code: 'ERR_POOL_INVALID_OPTION', option: 'statementTimeout' }),
    );
  });

  it('turns TCP keepalive on by default and lets it be turned off', async () => {
    const on = await createPool().connect();
    const off = await createPool({ keepAlive: false }).connect();
    const keepAliveOf = (client: pg.PoolClient) =>
      (client as unknown as { connection: { _keepAlive: boolean } }).connection._keepAlive;
    expect(keepAliveOf(on)).toBe(true);
    expect(keepAliveOf(off)).toBe(false);
    on.release();
    off.release();
  });

  it('starts keepalive probes after 10 s of silence by default, not the kernel’s 2 hours', async () => {
    const delayOf = (client: pg.PoolClient) =>
      (client as unknown as { connection: { _keepAliveInitialDelayMillis: number } }).connection
        ._keepAliveInitialDelayMillis;
    const byDefault = await createPool().connect();
    const chosen = await createPool({ keepAliveInitialDelayMillis: 3_000 }).connect();
    expect(delayOf(byDefault)).toBe(10_000);
    expect(delayOf(chosen)).toBe(3_000);
    byDefault.release();
    chosen.release();
  });
});

describe('end', () => {
  it('calls back, refuses a second end() and new work, with pg.Pool messages', async () => {
    const pool = createPool();
    await pool.query('SELECT 1');
    await new Promise<void>((resolve) => pool.end(() => resolve()));
    expect(pool.ended).toBe(true);
    expect(pool.ending).toBe(true);
    await expect(pool.end()).rejects.toMatchObject({
      message: 'Called end on pool more than once',
      cause: { code: 'ERR_POOL_CLOSED' },
    });
    const again = await new Promise<unknown>((resolve) => pool.end(resolve));
    expect(again).toMatchObject({ message: 'Called end on pool more than once' });
    const error: unknown = await pool.query('SELECT 1').catch((e: unknown) => e);
    // pg.Pool's class (Error, no code) and message; lifeguard's typed error as the cause.
    expect((error as Error).constructor).toBe(Error);
    expect((error as { code?: unknown }).code).toBeUndefined();
    expect((error as Error).cause).toBeInstanceOf(PoolError);
    const refused = {
      message: 'Cannot use a pool after calling end on the pool',
      cause: { code: 'ERR_POOL_CLOSED' },
    };
    expect(error).toMatchObject(refused);
    await expect(pool.connect()).rejects.toMatchObject(refused);
    await expect(pool.transaction(() => 1)).rejects.toMatchObject(refused);
  });

  it('answers every query made before it, queued or in flight (it drains)', async () => {
    const pool = createPool({ max: 2 });
    const queries = Array.from({ length: 20 }, (_, i) => pool.query('SELECT $1::int AS n', [i]));
    const slow = pool.query('SELECT pg_sleep(0.05), 1 AS n');
    await pool.end();
    const results = await Promise.all(queries);
    expect(results.map((r) => r.rows[0]!.n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect((await slow).rows[0]!.n).toBe(1);
    expect(pool.totalCount).toBe(0);
  });

  it('drains with pipelining off too, and serves connect() callers already waiting', async () => {
    const pool = createPool({ max: 1, pipelineQueries: false });
    const held = await pool.connect();
    const queued = pool.query('SELECT 1 AS n');
    const waiter = pool.connect();
    const ended = pool.end();
    held.release();
    expect((await queued).rows).toEqual([{ n: 1 }]);
    const client = await waiter;
    client.release();
    await ended;
    expect(pool.totalCount).toBe(0);
  });
});

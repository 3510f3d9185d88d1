/**
 * Network faults in the middle of traffic, through the TCP proxy: a connection reset while a
 * large answer is streaming back, a reset as the query goes out, a reset under many pipelined
 * queries, and a bandwidth cap under a large result. Each must end in a correct answer or a
 * typed error, never a hang, and the pool must go on serving.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { PgConnectionLostError, PoolError } from '../../src/pg/index.js';
import { startTcpProxy, targetOf, type TcpProxy } from '../support/tcp-proxy.js';
import { chain, createPool, databaseUrl } from './helpers.js';

let proxy: TcpProxy;
beforeEach(async () => {
  proxy = await startTcpProxy({ target: targetOf(databaseUrl) });
});
afterEach(async () => {
  await proxy.close();
});

/** About 1.1 MB of rows, with a checksum to prove every row arrived intact. */
const kLargeResult = `SELECT i, md5(i::text) || repeat('x', 1000) AS payload
  FROM generate_series(1, 1000) AS i`;

function checksum(rows: { i: number; payload: string }[]): string {
  let sum = 0;
  for (const row of rows) sum = (sum * 31 + row.i + row.payload.length) % 1_000_000_007;
  return `${rows.length}:${sum}`;
}

describe('a reset in the middle of a query', () => {
  it('fails the query with ERR_PG_CONNECTION_LOST (may have run), and the pool recovers', async () => {
    const pool = createPool({ max: 2 }, proxy.url(databaseUrl));
    await pool.query('SELECT 1');

    // 100 kB of the answer arrive, then the connection breaks.
    proxy.resetAfterBytes(100_000, { limit: 1 });
    const error = await pool.query(kLargeResult).catch((e: unknown) => e);
    expect(proxy.resetCount).toBe(1);
    expect(error).toBeInstanceOf(PgConnectionLostError);
    expect(error).toMatchObject({ code: 'ERR_PG_CONNECTION_LOST', mayHaveRun: true });

    // The broken connection is gone; the next query gets a whole answer on a new one.
    const { rows } = await pool.query<{ i: number; payload: string }>(kLargeResult);
    expect(rows).toHaveLength(1000);
    expect(pool.stats().destroys.error).toBe(1);
  });

  it('a reset as the query goes out (client to server) is typed too', async () => {
    const pool = createPool({ max: 1 }, proxy.url(databaseUrl));
    await pool.query('SELECT 1');
    proxy.resetAfterBytes(1, { direction: 'up', limit: 1 });
    const error = await pool.query('SELECT 2').catch((e: unknown) => e);
    // Written to the socket before the reset: the pool cannot prove it never ran.
    expect(error).toBeInstanceOf(PgConnectionLostError);
    expect((error as PgConnectionLostError).code).toBe('ERR_PG_CONNECTION_LOST');
    expect((await pool.query<{ n: number }>('SELECT 3 AS n')).rows[0]?.n).toBe(3);
  });

  it('many pipelined queries on a lane that is reset: each one answered or typed, none hangs', async () => {
    const pool = createPool({ max: 4 }, proxy.url(databaseUrl));
    await pool.query('SELECT 1');
    proxy.resetAfterBytes(20_000, { limit: 2 });
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, (_, n) =>
        pool.query<{ n: number }>('SELECT $1::int AS n, repeat($2, 200) AS pad', [n, 'y']).then(
          (r) => (r.rows[0]?.n === n ? 'ok' : 'wrong answer'),
          (e: unknown) => (e instanceof PoolError ? e.code : `untyped: ${String(e)}`),
        ),
      ),
    );
    expect(proxy.resetCount).toBeGreaterThanOrEqual(1);
    const kinds = new Set(outcomes);
    expect([...kinds].every((k) => k === 'ok' || k === 'ERR_PG_CONNECTION_LOST')).toBe(true);
    expect(outcomes.filter((k) => k === 'ERR_PG_CONNECTION_LOST').length).toBeGreaterThan(0);
    proxy.resetAfterBytes(0);
    expect((await pool.query<{ n: number }>('SELECT 7 AS n')).rows[0]?.n).toBe(7);
  });
});

describe('a bandwidth cap', () => {
  it('delivers a large result correctly, at the capped rate', async () => {
    const pool = createPool({ max: 1 }, proxy.url(databaseUrl));
    const reference = await pool.query<{ i: number; payload: string }>(kLargeResult);

    proxy.setBandwidth(2_000_000); // 2 MB/s: the ~1.1 MB answer needs at least ~0.5 s
    const started = performance.now();
    const capped = await pool.query<{ i: number; payload: string }>(kLargeResult);
    const elapsed = performance.now() - started;

    expect(checksum(capped.rows)).toBe(checksum(reference.rows));
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(pool.stats().destroys.error).toBe(0);
  });

  it('a query that outlasts query_timeout under the cap fails in time, and the pool recovers', async () => {
    const pool = createPool({ max: 1, query_timeout: 300 }, proxy.url(databaseUrl));
    await pool.query('SELECT 1');
    proxy.setBandwidth(200_000); // the ~1.1 MB answer would take over 5 s
    const started = performance.now();
    const error = await pool.query(kLargeResult).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(2_000);
    // pg's read timeout, possibly wrapped in a typed error (see resilience-half-open.test.ts).
    expect(chain(error).some((e) => (e as Error).message === 'Query read timeout')).toBe(true);
    proxy.setBandwidth(0);
    expect((await pool.query<{ n: number }>('SELECT 1 AS n')).rows[0]?.n).toBe(1);
  });
});

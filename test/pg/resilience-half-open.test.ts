/**
 * Half-open connections: the server vanishes without a FIN (a firewall dropped the flow, a
 * host died), so the client's socket stays open and nothing ever arrives on it. The TCP proxy's
 * `halfOpen()` makes that real: PostgreSQL sees its client gone, the pool sees silence.
 *
 * What finds such a connection, with the pool's own means:
 * - idle: validation on checkout (`validateAfterIdleMillis`, bounded by
 *   `validateTimeoutMillis`), so the next caller gets a new connection;
 * - in use: pg's client-side `query_timeout`, which fails the query and makes the pool destroy
 *   the connection. Without it an in-flight query has nothing to bound it but TCP keepalive,
 *   which a userland proxy cannot exercise (its kernel acknowledges the probes) and which, with
 *   the kernel's default 2 h idle time, is no bound a caller would wait for.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { PoolError } from '../../src/pg/index.js';
import { startTcpProxy, targetOf, type TcpProxy } from '../support/tcp-proxy.js';
import { backendPid, chain, createPool, databaseUrl, until } from './helpers.js';

let proxy: TcpProxy;
beforeEach(async () => {
  proxy = await startTcpProxy({ target: targetOf(databaseUrl) });
});
afterEach(async () => {
  await proxy.close();
});

describe('half-open connections', () => {
  it('an idle half-open connection fails validation within validateTimeoutMillis and is replaced', async () => {
    const pool = createPool(
      { max: 1, validateAfterIdleMillis: 0, validateTimeoutMillis: 300 },
      proxy.url(databaseUrl),
    );
    const client = await pool.connect();
    const pid = await backendPid(client);
    client.release();
    await until(() => pool.idleCount === 1);

    proxy.halfOpen();
    const started = performance.now();
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const elapsed = performance.now() - started;

    expect(rows[0]?.pid).not.toBe(pid); // served by a new connection...
    expect(elapsed).toBeGreaterThanOrEqual(250); // ...after the validation gave up...
    expect(elapsed).toBeLessThan(3_000); // ...within a bound, not a hang
    expect(pool.stats().destroys.validation).toBe(1);
    expect(pool.totalCount).toBe(1);
  });

  it('a query in flight on a half-open connection fails within query_timeout; the pool replaces the connection', async () => {
    const pool = createPool({ max: 1, query_timeout: 400 }, proxy.url(databaseUrl));
    await pool.query('SELECT 1');

    // The query is written, the server vanishes before answering.
    const running = pool.query('SELECT pg_sleep(0.2)').catch((e: unknown) => e);
    await until(() => pool.idleCount === 0);
    proxy.halfOpen();
    const started = performance.now();
    const error = await running;
    const elapsed = performance.now() - started;

    expect(error).toBeInstanceOf(Error);
    expect(elapsed).toBeLessThan(2_000); // bounded by query_timeout, not by the kernel
    // The connection is not handed out again: the next query runs on a new one, at once.
    const next = performance.now();
    const { rows } = await pool.query<{ n: number }>('SELECT 1 AS n');
    expect(rows[0]?.n).toBe(1);
    expect(performance.now() - next).toBeLessThan(1_000);
    expect(pool.stats().destroys.error).toBe(1);
  });

  it('the error of a query on a half-open connection is typed, with a stable code', async () => {
    const pool = createPool({ max: 1, query_timeout: 400 }, proxy.url(databaseUrl));
    await pool.query('SELECT 1');
    const running = pool.query('SELECT pg_sleep(0.2)').catch((e: unknown) => e);
    await until(() => pool.idleCount === 0);
    proxy.halfOpen();
    const error = await running;
    // A caller must be able to tell "the connection went silent" from a SQL error without
    // parsing messages: a PoolError, with the pg read timeout chained as the cause.
    expect(error).toBeInstanceOf(PoolError);
    expect(typeof (error as PoolError).code).toBe('string');
    expect(chain(error).some((e) => (e as Error).message === 'Query read timeout')).toBe(true);
  });

  it('the control: with no read timeout, nothing answers a query on a half-open connection', async () => {
    // Proves the fault is real (no FIN, no RST reaches the client), and shows the default: a
    // pipelined query in flight when the server vanishes has nothing to bound it.
    const pool = createPool({ max: 1, endTimeoutMillis: 200 }, proxy.url(databaseUrl));
    await pool.query('SELECT 1');
    let settled = false;
    const running = pool.query('SELECT 1').then(
      () => (settled = true),
      () => (settled = true),
    );
    proxy.halfOpen();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(settled).toBe(false);
    await pool.end(); // destroys the connection after endTimeoutMillis: the query fails
    await running;
    expect(settled).toBe(true);
  });

  it('new connections are unaffected while old ones are half-open (several at once)', async () => {
    const pool = createPool(
      { max: 4, pipelineQueries: false, validateAfterIdleMillis: 0, validateTimeoutMillis: 300 },
      proxy.url(databaseUrl),
    );
    const clients = await Promise.all([1, 2, 3, 4].map(() => pool.connect()));
    const pids = await Promise.all(clients.map((c) => backendPid(c)));
    for (const c of clients) c.release();
    await until(() => pool.idleCount === 4);

    proxy.halfOpen();
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')),
    );
    for (const r of results) expect(pids).not.toContain(r.rows[0]?.pid);
    expect(pool.stats().destroys.validation).toBe(4);
  });
});

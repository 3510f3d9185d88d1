/**
 * Failures are classified (SQL error vs broken connection; retryable or not), keep their
 * SQLSTATE or errno, and never carry credentials.
 */
import { inspect } from 'node:util';

import pg from 'pg';
import { describe, expect, it } from 'vitest';

import { findFreePort } from '../../scripts/lib/database.js';
import { PgConnectError, PgQueryTimeoutError, PoolError } from '../../src/pg/index.js';
import { backendPid, chain, createPool, databaseUrl, nextEvent } from './helpers.js';

const secret = 'Wr0ng-pa55word-for-lifeguard-tests';

/** Everything an error could show: inspect (hidden fields too), stacks, JSON, of the whole chain. */
function allText(error: unknown): string {
  return chain(error)
    .map((e) =>
      [
        inspect(e, { depth: 8, showHidden: true }),
        String((e as Error).stack),
        JSON.stringify(e),
      ].join('\n'),
    )
    .join('\n');
}

function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

/** Records everything the pool emits or logs, as text. */
function record(pool: ReturnType<typeof createPool>, logs: string[]): string[] {
  const seen: string[] = [];
  for (const event of ['error', 'connect', 'acquire', 'release', 'remove']) {
    pool.on(event, (...args: unknown[]) => seen.push(inspect(args, { depth: 4 })));
  }
  seen.push(...logs);
  return seen;
}

describe('SQL errors', () => {
  it("fail only the query: pg's DatabaseError unchanged, and the connection is kept", async () => {
    const pool = createPool({ max: 1 });
    const pid = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const error: unknown = await pool.query('SELEC 1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(pg.DatabaseError);
    expect(error).toMatchObject({ code: '42601', severity: 'ERROR' });
    const unique = await pool.query('SELECT 1/0').catch((e: unknown) => e);
    expect(unique).toMatchObject({ code: '22012' });
    const after = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]
      ?.pid;
    expect(after).toBe(pid); // pg.Pool would have thrown this connection away
    expect(pool.stats().destroys.error).toBe(0);
  });

  it("destroys the connection when pg's query_timeout fires, with a typed error chaining pg's", async () => {
    const pool = createPool({ max: 1 });
    const client = await pool.connect();
    const pid = await backendPid(client);
    client.release();
    const removed = nextEvent(pool, 'remove');
    const error = await pool
      .query({ text: 'SELECT pg_sleep(5)', query_timeout: 50 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PgQueryTimeoutError);
    expect(error).toMatchObject({ code: 'ERR_PG_QUERY_TIMEOUT', mayHaveRun: true });
    expect((error as Error).cause).toMatchObject({ message: 'Query read timeout' });
    await removed; // the statement is still running there: that connection cannot be reused
    const next = await pool.connect();
    expect(await backendPid(next)).not.toBe(pid);
    next.release();
  });
});

describe('connection errors', () => {
  it('a refused connection reaches the caller as ECONNREFUSED, as with pg.Pool, with the pool context as cause', async () => {
    const port = await findFreePort();
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(port);
    const pool = createPool(
      { connectionTimeoutMillis: 2_000, circuitBreakerThreshold: 1 },
      url.toString(),
    );
    const error: unknown = await pool.query('SELECT 1').catch((e: unknown) => e);
    // The driver's own error (class, code, message), as pg.Pool hands it over ...
    expect(error).not.toBeInstanceOf(PoolError);
    expect(error).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect', port });
    expect((error as Error).message).toContain('ECONNREFUSED');
    // ... with the circuit that opened (threshold 1) and the connect attempt down its cause.
    expect((error as Error).cause).toMatchObject({ code: 'ERR_POOL_CIRCUIT_OPEN', waited: true });
    const connectError = chain(error).find((e) => e instanceof PgConnectError);
    expect(connectError).toMatchObject({
      code: 'ERR_PG_CONNECT_FAILED',
      retryable: true,
      errno: 'ECONNREFUSED',
    });
  });

  it('a wrong password is a non-retryable 28P01, and the password appears nowhere', async (ctx) => {
    // A server that trusts every connection (a local DATABASE_URL) cannot test this.
    const probe = new pg.Client({ connectionString: withPassword(databaseUrl, secret) });
    const trusted = await probe.connect().then(
      () => true,
      () => false,
    );
    await probe.end().catch(() => undefined);
    if (trusted) ctx.skip();

    const logs: string[] = [];
    const pool = createPool(
      { circuitBreakerThreshold: 1, log: (...m: unknown[]) => logs.push(inspect(m)) },
      withPassword(databaseUrl, secret),
    );
    const seen = record(pool, logs);
    const error: unknown = await pool.query('SELECT 1').catch((e: unknown) => e);
    const connectError = chain(error).find((e) => e instanceof PgConnectError);
    expect(connectError).toMatchObject({ retryable: false, sqlState: '28P01' });
    expect(allText(error)).not.toContain(secret);
    expect(seen.join('\n')).not.toContain(secret);
    expect(inspect(pool.stats())).not.toContain(secret);
    expect(inspect(pool, { depth: 6, showHidden: true })).not.toContain(secret);
  });

  it('a wrong password fails the caller at once, with no retries first', async (ctx) => {
    const probe = new pg.Client({ connectionString: withPassword(databaseUrl, secret) });
    const trusted = await probe.connect().then(
      () => true,
      () => false,
    );
    await probe.end().catch(() => undefined);
    if (trusted) ctx.skip();

    // Default circuit threshold (5) and a long acquire timeout: without the retryable check the
    // caller would wait through five backed-off attempts.
    const pool = createPool({ connectionTimeoutMillis: 60_000 }, withPassword(databaseUrl, secret));
    const error: unknown = await pool.query('SELECT 1').catch((e: unknown) => e);
    expect(chain(error).map((e) => (e as { code?: unknown }).code)).toContain(
      'ERR_POOL_CREATE_FAILED',
    );
    expect(chain(error).find((e) => e instanceof PgConnectError)).toMatchObject({
      sqlState: '28P01',
    });
    expect(pool.stats().createFailures).toBe(1);
  });

  it('an unknown host is a non-retryable ENOTFOUND, and the password is masked', async () => {
    const url = new URL(withPassword(databaseUrl, secret));
    url.hostname = 'no-such-host.invalid';
    const pool = createPool({ circuitBreakerThreshold: 1 }, url.toString());
    const error: unknown = await pool.query('SELECT 1').catch((e: unknown) => e);
    const connectError = chain(error).find((e) => e instanceof PgConnectError);
    expect(connectError).toMatchObject({ retryable: false });
    expect(['ENOTFOUND', 'EAI_AGAIN']).toContain((connectError as PgConnectError).errno);
    expect(allText(error)).not.toContain(secret);
  });

  it('an unparsable connection string fails without leaking its password', async () => {
    const pool = createPool(
      { circuitBreakerThreshold: 1 },
      `postgres://user:${secret}@host:notaport/db`,
    );
    const error: unknown = await pool.query('SELECT 1').catch((e: unknown) => e);
    const connectError = chain(error).find((e) => e instanceof PgConnectError);
    expect(connectError).toMatchObject({ retryable: false });
    expect(allText(error)).not.toContain(secret);
  });

  it('masks a password that onConnect puts into its error', async () => {
    const pool = createPool({
      password: secret,
      circuitBreakerThreshold: 1,
      onConnect: () => {
        throw new Error(`cannot use postgres://app:${secret}@db/app or password=${secret}`);
      },
    });
    const error: unknown = await pool.query('SELECT 1').catch((e: unknown) => e);
    // The hook's own error reaches the caller, as with pg.Pool, masked in place.
    expect(error).not.toBeInstanceOf(PoolError);
    expect((error as Error).message).toMatch(/^cannot use postgres:\/\/app:\*\*\*@db\/app/);
    expect(allText(error)).not.toContain(secret);
    expect(allText(error)).toContain('***');
  });
});

/**
 * Real faults: the server stopped and started under load, sessions killed while idle or busy,
 * a server that never answers, a network black hole, the process exiting on its own, and the
 * pool ended with work outstanding.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PgConnectionLostError, PoolError } from '../../src/pg/index.js';
import { serverControlUnavailable, startOwnDatabase } from '../support/own-database.js';
import { startSilentServer } from '../support/silent-server.js';
import { startTcpProxy, targetOf } from '../support/tcp-proxy.js';
import type { EmbeddedDatabase } from '../../scripts/lib/database.js';
import {
  backendPid,
  createPool,
  databaseUrl,
  nextEvent,
  terminate,
  until,
  untilRunning,
} from './helpers.js';

describe.skipIf(serverControlUnavailable !== undefined)('server stopped and started', () => {
  let db: EmbeddedDatabase;
  beforeAll(async () => {
    db = await startOwnDatabase();
  });
  afterAll(async () => {
    await db?.stop();
  });

  it('fails running queries as may-have-run, serves queued ones once it is back, times out the rest', async () => {
    // Patient callers wait out the outage: no circuit breaker, quick reconnect attempts.
    const patient = createPool(
      {
        max: 2,
        acquireTimeoutMillis: 20_000,
        circuitBreakerThreshold: Infinity,
        createRetryMaxMillis: 100,
      },
      db.url,
    );
    const impatient = createPool(
      { max: 2, acquireTimeoutMillis: 300, createRetryMaxMillis: 100 },
      db.url,
    );
    await Promise.all([patient.query('SELECT 1'), impatient.query('SELECT 1')]);

    const running = patient.query('SELECT pg_sleep(30)').catch((e: unknown) => e);
    await until(async () => patient.idleCount === 0);
    await db.stopServer();

    expect(await running).toBeInstanceOf(PgConnectionLostError);
    expect(await running).toMatchObject({ mayHaveRun: true, retryable: false });

    const queued = [1, 2, 3].map((n) => patient.query<{ n: number }>('SELECT $1::int AS n', [n]));
    const started = Date.now();
    const late = await impatient.query('SELECT 1').catch((e: unknown) => e);
    // Timed out, refused by the open circuit, or (failed while it waited, as the circuit
    // opened) pg's own ECONNREFUSED with the circuit as its cause.
    // A timeout is pg.Pool's plain Error, with lifeguard's typed error as its cause.
    const code =
      (late as { code?: string }).code ?? ((late as Error).cause as { code?: string }).code;
    expect(['ERR_POOL_ACQUIRE_TIMEOUT', 'ERR_POOL_CIRCUIT_OPEN', 'ECONNREFUSED']).toContain(code);
    if (code === 'ECONNREFUSED') {
      expect((late as Error).cause).toMatchObject({ code: 'ERR_POOL_CIRCUIT_OPEN' });
    }
    expect(Date.now() - started).toBeLessThan(5_000);

    await db.startServer();
    const answers = await Promise.all(queued);
    expect(answers.map((r) => r.rows[0]?.n)).toEqual([1, 2, 3]);
    // The impatient pool's circuit opened during the outage: it fails fast until its next
    // probe (at most createRetryMaxMillis away), then one successful probe closes it.
    await until(async () => {
      const answer = await impatient.query<{ n: number }>('SELECT 2 AS n').catch(() => undefined);
      return answer?.rows[0]?.n === 2;
    }, 2_000);
    expect(impatient.stats().circuit).toBe('closed');
  });
});

/** pg.Pool's refusal after end(), with lifeguard's ERR_POOL_CLOSED as its cause. */
const usedAfterEnd = {
  message: 'Cannot use a pool after calling end on the pool',
  cause: { code: 'ERR_POOL_CLOSED' },
};

describe('killed sessions', () => {
  it('pg_terminate_backend on a busy connection fails that query as may-have-run, without retrying', async () => {
    const pool = createPool({ max: 2 });
    let acquires = 0;
    pool.on('acquire', () => acquires++);
    const client = await pool.connect();
    const pid = await backendPid(client);
    client.release();
    const busy = pool.query('SELECT pg_sleep(30)').catch((e: unknown) => e);
    await until(async () => pool.idleCount === 0);
    await terminate(pid);
    const error = await busy;
    expect(error).toBeInstanceOf(PgConnectionLostError);
    expect(error).toMatchObject({
      code: 'ERR_PG_CONNECTION_LOST',
      mayHaveRun: true,
      sqlState: '57P01',
    });
    expect(acquires).toBe(2); // connect() and the query: no silent second attempt
    expect((await pool.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });

  it('pg_terminate_backend on an idle connection: the next query gets a new one', async () => {
    const pool = createPool({ max: 1 });
    const client = await pool.connect();
    const pid = await backendPid(client);
    client.release();
    const errored = nextEvent(pool, 'error');
    await terminate(pid);
    await errored;
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(rows[0]?.pid).not.toBe(pid);
  });
});

describe('unresponsive servers', () => {
  it('times out connecting to a server that accepts and never answers, and closes the socket', async () => {
    const silent = await startSilentServer();
    // pg.Pool's `Client` option, used here to see the client the pool made.
    const made: pg.Client[] = [];
    class RecordingClient extends pg.Client {
      constructor(config: pg.ClientConfig) {
        super(config);
        made.push(this);
      }
    }
    try {
      const pool = createPool(
        { connectionTimeoutMillis: 200, Client: RecordingClient },
        silent.url(),
      );
      const started = Date.now();
      const error = await pool.query('SELECT 1').catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(2_000);
      // pg.Pool's words; lifeguard's typed error (timeout or open circuit) as the cause.
      expect((error as Error).message).toMatch(/^Connection terminated due to connection timeout/);
      expect((error as Error).cause).toBeInstanceOf(PoolError);
      expect(((error as Error).cause as PoolError).code).toMatch(
        /^ERR_POOL_(ACQUIRE_TIMEOUT|CIRCUIT_OPEN)$/,
      );
      expect(silent.acceptedCount).toBe(1);
      const socketOf = (client: pg.Client) =>
        (client as unknown as { connection: { stream: { destroyed: boolean } } }).connection.stream;
      await until(() => made.length === 1 && socketOf(made[0]!).destroyed);
    } finally {
      await silent.close();
    }
  });

  it('replaces an idle connection that stopped answering (network black hole) on validation', async () => {
    const proxy = await startTcpProxy({ target: targetOf(databaseUrl) });
    try {
      const pool = createPool(
        { max: 1, validateAfterIdleMillis: 0, validateTimeoutMillis: 200 },
        proxy.url(databaseUrl),
      );
      const client = await pool.connect();
      const pid = await backendPid(client);
      client.release();
      await until(() => pool.idleCount === 1); // idle, not handed straight to the next caller
      proxy.blackhole(true);
      // The core emits 'remove' before it creates the replacement: let that one through.
      pool.once('remove', () => proxy.blackhole(false));
      const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      expect(rows[0]?.pid).not.toBe(pid);
      expect(pool.stats().destroys.validation).toBe(1);
    } finally {
      await proxy.close();
    }
  });
});

describe('network resets', () => {
  it('fails the busy query as may-have-run, reports the idle connection, and carries on', async () => {
    const proxy = await startTcpProxy({ target: targetOf(databaseUrl) });
    try {
      const pool = createPool({ max: 2 }, proxy.url(databaseUrl));
      const [a, b] = [await pool.connect(), await pool.connect()];
      a.release();
      b.release();
      await until(() => pool.idleCount === 2);
      // Short: the server only notices the lost client when this statement ends.
      const busy = pool.query('SELECT pg_sleep(3)').catch((e: unknown) => e);
      await untilRunning('SELECT pg_sleep(3)');
      expect(pool.idleCount).toBe(1);
      const idleError = nextEvent<[Error & { code?: string }]>(pool, 'error');
      proxy.dropAll();
      expect((await idleError)[0].code).toBe('ECONNRESET');
      const error = await busy;
      expect(error).toBeInstanceOf(PgConnectionLostError);
      expect(error).toMatchObject({ mayHaveRun: true, errno: 'ECONNRESET' });
      expect((await pool.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    } finally {
      await proxy.close();
    }
  });
});

describe('allowExitOnIdle', () => {
  const fixture = fileURLToPath(new URL('../fixtures/allow-exit-on-idle.ts', import.meta.url));

  /**
   * Runs the fixture; resolves with its exit code, or 'running' if it is still alive `ms` after
   * it printed its answer (counted from the answer, not the spawn: starting tsx on a loaded
   * machine can take seconds), or 20 s after the spawn if it never answers.
   */
  function runFixture(
    allowExit: boolean,
    ms: number,
  ): Promise<{ code: number | 'running'; output: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        LIFEGUARD_ALLOW_EXIT: allowExit ? '1' : '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    return new Promise((resolve) => {
      const giveUp = (): void => {
        child.kill('SIGKILL');
        resolve({ code: 'running', output });
      };
      let timer = setTimeout(giveUp, 20_000);
      const collect = (chunk: Buffer): void => {
        const answered = output.includes('answer');
        output += chunk.toString();
        if (!answered && output.includes('answer')) {
          clearTimeout(timer);
          timer = setTimeout(giveUp, ms);
        }
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, output });
      });
    });
  }

  it('lets the process exit on its own while the pool holds an idle connection', async () => {
    const withFlag = await runFixture(true, 8_000);
    expect(withFlag.output).toContain('answer 42 idle 1');
    expect(withFlag.code).toBe(0);
  });

  it('keeps the process alive without it (the control)', async () => {
    const withoutFlag = await runFixture(false, 1_500);
    expect(withoutFlag.output).toContain('answer 42 idle 1');
    expect(withoutFlag.code).toBe('running');
  });
});

describe('end() with work outstanding', () => {
  it('serves waiters once the holder releases, refuses new work, then closes everything', async () => {
    const pool = createPool({ max: 1 });
    const client = await pool.connect();
    const waiting = pool.query<{ n: number }>('SELECT 1 AS n');
    expect(pool.waitingCount).toBe(1);
    let ended = false;
    const ending = pool.end().then(() => (ended = true));
    await expect(pool.query('SELECT 1')).rejects.toMatchObject(usedAfterEnd);
    // The holder may finish its work first.
    expect((await client.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    expect(ended).toBe(false);
    const removed = nextEvent(pool, 'remove');
    client.release();
    expect((await waiting).rows).toEqual([{ n: 1 }]);
    await ending;
    await removed;
    expect(pool.totalCount).toBe(0);
  });

  it('closes a client that is never released once endTimeoutMillis has passed', async () => {
    const pool = createPool({ endTimeoutMillis: 100 });
    const leaked = await pool.connect();
    const started = Date.now();
    await pool.end();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(pool.totalCount).toBe(0);
    expect(() => leaked.release()).not.toThrow(); // a late release is harmless
    await expect(pool.query('SELECT 1')).rejects.toMatchObject(usedAfterEnd);
  });
});

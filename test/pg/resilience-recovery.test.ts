/**
 * Recovery that is fast and still gentle: the pool backs off by what a failed connection cost
 * the server. Every pool here has an exponential backoff far too long to wait out
 * (`createRetryBaseMillis` 30 s), so each test can only pass if refusals and "starting up"
 * answers are paced by `createProbeIntervalMillis` instead; and the gaps between attempts,
 * which no slow machine can shrink, show the pace is never faster than that.
 *
 * - a refused port: attempts at least the interval apart, callers failed fast with pg's
 *   ECONNREFUSED or ERR_POOL_CIRCUIT_OPEN (retry due within 1.5 intervals), the circuit open
 *   throughout (no half-open flapping);
 * - a server answering 57P03 "starting up": probed at the interval, and the first probe after
 *   it is ready serves the waiting caller;
 * - a real server stopped and started: patient callers all served by the first probes after
 *   the restart, none hung.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectLog, countingClient, type ConnectLog } from '../../bench/lib/counting-client.js';
import { findFreePort, type EmbeddedDatabase } from '../../scripts/lib/database.js';
import { PgConnectError, Pool, type PoolConfig } from '../../src/pg/index.js';
import { serverControlUnavailable, startOwnDatabase } from '../support/own-database.js';
import { startStartingServer } from '../support/starting-server.js';
import { targetOf } from '../support/tcp-proxy.js';
import { chain, createPool, databaseUrl, sleep, until } from './helpers.js';

const kProbeMillis = 100;

/** Options that make an exponential delay hopeless and the probe pace short. */
const gentle: PoolConfig = {
  max: 4,
  createRetryBaseMillis: 30_000,
  createRetryMaxMillis: 60_000,
  createProbeIntervalMillis: kProbeMillis,
};

/** The gaps between consecutive times, in ms. */
function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]!);
}

function connectError(error: unknown): PgConnectError | undefined {
  return chain(error).find((e): e is PgConnectError => e instanceof PgConnectError);
}

describe('a refused port', () => {
  it('is probed at the probe pace, callers fail fast with pg.Pool errors, the circuit stays open', async () => {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(await findFreePort());
    const connects = connectLog();
    const pool = createPool(
      {
        ...gentle,
        circuitBreakerThreshold: 3,
        connectionTimeoutMillis: 2_000,
        Client: countingClient(connects),
      },
      url.toString(),
    );
    const circuit: string[] = [];
    pool.on('circuit', ({ previous, state }) => circuit.push(`${previous}->${state}`));

    const errors: unknown[] = [];
    const deadline = performance.now() + 20_000; // only so that a regression fails, not hangs
    while (connects.attempts.length < 10 && performance.now() < deadline) {
      errors.push(await pool.query('SELECT 1').catch((e: unknown) => e));
      await sleep(5);
    }

    expect(connects.attempts.length).toBeGreaterThanOrEqual(10);
    for (const gap of gaps(connects.attempts)) expect(gap).toBeGreaterThanOrEqual(kProbeMillis - 1);
    const codes = new Set(errors.map((e) => (e as { code?: unknown }).code));
    expect([...codes].sort()).toEqual(['ECONNREFUSED', 'ERR_POOL_CIRCUIT_OPEN']);
    for (const error of errors) {
      const { code, retryInMillis } = error as { code: string; retryInMillis?: number };
      // Refused at once: the next probe is due within 1.5 intervals, not 30 s.
      if (code === 'ERR_POOL_CIRCUIT_OPEN') expect(retryInMillis).toBeLessThanOrEqual(150);
      expect(connectError(error)).toMatchObject({ errno: 'ECONNREFUSED', cost: 'free' });
    }
    expect(circuit).toEqual(['closed->open']);
    expect(pool.stats().circuit).toBe('open');
  });
});

describe('a server that is starting up (57P03)', () => {
  it('is probed at the fixed interval, and the first probe once it is ready serves the caller', async () => {
    const server = await startStartingServer(targetOf(databaseUrl));
    try {
      // A caller of an impatient pool gets pg's own error for it, as from pg.Pool.
      const impatient = createPool(
        { ...gentle, circuitBreakerThreshold: 1 },
        server.url(databaseUrl),
      );
      const refused = await impatient.query('SELECT 1').catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: '57P03', severity: 'FATAL' });
      expect(connectError(refused)).toMatchObject({ sqlState: '57P03', cost: 'starting' });
      await impatient.end();

      const patient = createPool(
        { ...gentle, circuitBreakerThreshold: Infinity, connectionTimeoutMillis: 60_000 },
        server.url(databaseUrl),
      );
      const before = server.acceptedCount;
      const waiting = patient.query<{ ok: number }>('SELECT 1 AS ok');
      await until(() => server.startingUpAnswers >= before + 5, 20_000);
      server.ready();
      expect((await waiting).rows).toEqual([{ ok: 1 }]);
      const attempts = server.acceptedAt.slice(before);
      for (const gap of gaps(attempts)) expect(gap).toBeGreaterThanOrEqual(kProbeMillis - 1);
      // Every attempt but one was answered "starting up": the first after ready() served.
      expect(server.acceptedCount - server.startingUpAnswers).toBe(1);
    } finally {
      await server.close();
    }
  });
});

describe.skipIf(serverControlUnavailable !== undefined)('a real server restart', () => {
  let db: EmbeddedDatabase;
  beforeAll(async () => {
    db = await startOwnDatabase();
  });
  afterAll(async () => {
    await db?.stop();
  });

  /** Attempts that started in [from, to). */
  const between = (log: ConnectLog, from: number, to = Infinity): number[] =>
    log.attempts.filter((t) => t >= from && t < to);

  it('is probed gently while down, and serves every waiting caller once it is back', async () => {
    const connects = connectLog();
    const pool = new Pool({
      ...gentle,
      connectionString: db.url,
      circuitBreakerThreshold: Infinity,
      connectionTimeoutMillis: 60_000,
      endTimeoutMillis: 2_000,
      Client: countingClient(connects),
    });
    try {
      await pool.query('SELECT 1');
      await db.stopServer();
      const downAt = performance.now();
      const callers = Array.from({ length: 8 }, () =>
        pool.query<{ ok: number }>('SELECT 1 AS ok').then(
          (result) => result.rows[0]?.ok,
          (error: unknown) => error,
        ),
      );
      await until(() => between(connects, downAt).length >= 5, 20_000);
      await db.startServer();
      const readyAt = performance.now();
      // None hung, none failed: all served, with no long backoff to wait out.
      expect(await Promise.all(callers)).toEqual(Array.from({ length: 8 }, () => 1));

      const whileDown = between(connects, downAt, readyAt);
      // Refusals, then perhaps "starting up" answers: one probe at a time, paced.
      for (const gap of gaps(whileDown)) expect(gap).toBeGreaterThanOrEqual(kProbeMillis - 1);
      // Once ready, the first probe succeeds (or one already under way did), and the pool
      // refills for the other callers at once: at most `max` more attempts.
      expect(between(connects, readyAt).length).toBeLessThanOrEqual(1 + gentle.max!);
      expect(pool.stats()).toMatchObject({ circuit: 'closed', waiting: 0 });
    } finally {
      await pool.end();
    }
  });
});

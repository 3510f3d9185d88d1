/**
 * A slow network, made real by the TCP proxy delaying every chunk: connecting takes several
 * round trips (startup, authentication, parameter status), so a delay that is harmless for one
 * query makes a connect exceed its timeout. The pool must fail such attempts with a typed
 * error naming the cause, keep no half-open connection, and recover by itself once the
 * network is fast again.
 */
import { describe, expect, it } from 'vitest';

import { PoolError } from '../../src/pg/index.js';
import { startTcpProxy, targetOf } from '../support/tcp-proxy.js';
import { chain, createPool, databaseUrl } from './helpers.js';

describe('a slow network', () => {
  it('fails connects that outlast createTimeoutMillis, times the caller out with that cause, then recovers', async () => {
    const proxy = await startTcpProxy({ target: targetOf(databaseUrl) });
    try {
      proxy.setDelay(150); // each direction: a connect needs several round trips of 300 ms
      const pool = createPool(
        {
          max: 2,
          createTimeoutMillis: 300,
          acquireTimeoutMillis: 1_000,
          createRetryBaseMillis: 10,
        },
        proxy.url(databaseUrl),
      );
      const error: unknown = await pool.query('SELECT 1').catch((e: unknown) => e);
      // pg.Pool's plain Error, then lifeguard's typed chain as its cause.
      expect((error as Error).cause).toBeInstanceOf(PoolError);
      const codes = chain(error).map((e) => (e as { code?: unknown }).code);
      // The caller gave up after its own deadline, and the error says what was going wrong.
      expect(codes[0]).toBeUndefined();
      expect(codes[1]).toBe('ERR_POOL_ACQUIRE_TIMEOUT');
      expect(codes).toContain('ERR_POOL_CREATE_FAILED');
      expect(codes).toContain('ERR_POOL_CREATE_TIMEOUT');
      // No connection was ever established; each attempt was given up after 300 ms.
      expect(pool.stats().creates).toBe(0);
      expect(pool.stats().createFailures).toBeGreaterThanOrEqual(2);

      proxy.setDelay(0);
      // The circuit may be open after the failures: the next attempt comes after its backoff.
      let result: { rows: { n: number }[] } | undefined;
      for (let attempt = 0; attempt < 50 && result === undefined; attempt++) {
        result = await pool.query<{ n: number }>('SELECT 1 AS n').catch(async () => {
          await new Promise((resolve) => setTimeout(resolve, 50));
          return undefined;
        });
      }
      expect(result?.rows[0]?.n).toBe(1);
    } finally {
      await proxy.close();
    }
  });

  it('serves queries over a delayed network once connected, slower but correct', async () => {
    const proxy = await startTcpProxy({ target: targetOf(databaseUrl) });
    try {
      const pool = createPool({ max: 2 }, proxy.url(databaseUrl));
      await pool.query('SELECT 1'); // connected at full speed
      proxy.setDelay(40);
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => pool.query<{ n: number }>('SELECT $1::int AS n', [i])),
      );
      const elapsed = performance.now() - started;
      expect(results.map((r) => r.rows[0]?.n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      // The delay is really in the path (each round trip costs at least 80 ms)...
      expect(elapsed).toBeGreaterThanOrEqual(80);
      // ...and it costs time, not correctness or connections.
      expect(pool.totalCount).toBeLessThanOrEqual(2);
      expect(pool.stats().destroys.error).toBe(0);
    } finally {
      await proxy.close();
    }
  });
});

/**
 * A real database outage under load (the short, asserted version of bench/outage.ts): one pool
 * receives 100 queries per second, the server is stopped for 2 s and started again.
 *
 * - no call hangs: every one settles within acquireTimeoutMillis plus a margin;
 * - every error is a typed PoolError with a stable code, from a known set;
 * - connection attempts while the server is down are bounded by the backoff, far below one per
 *   failed request (a naive pool makes one per request);
 * - the open circuit fails callers fast instead of making them wait their full timeout;
 * - the pool serves again soon after the server is ready (bounded by createRetryMaxMillis).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Pool } from '../../src/pg/index.js';
import { connectLog, countingClient } from '../../bench/lib/counting-client.js';
import { runOutage } from '../../bench/lib/outage.js';
import type { EmbeddedDatabase } from '../../scripts/lib/database.js';
import { serverControlUnavailable, startOwnDatabase } from '../support/own-database.js';

const kAcquireTimeoutMillis = 2_000;
const kRetryMaxMillis = 500;

describe.skipIf(serverControlUnavailable !== undefined)('database outage under load', () => {
  let db: EmbeddedDatabase;
  beforeAll(async () => {
    db = await startOwnDatabase();
  });
  afterAll(async () => {
    await db?.stop();
  });

  it('no hung promise, typed errors, bounded reconnects, fast failure and quick recovery', async () => {
    const connects = connectLog();
    const pool = new Pool({
      connectionString: db.url,
      max: 4,
      acquireTimeoutMillis: kAcquireTimeoutMillis,
      createRetryBaseMillis: 50,
      createRetryMaxMillis: kRetryMaxMillis,
      endTimeoutMillis: 1_000,
      Client: countingClient(connects),
    });
    try {
      const result = await runOutage(
        {
          db,
          ratePerPool: 100,
          warmupMillis: 500,
          outageMillis: 2_000,
          recoveryMillis: 1_500,
          graceMillis: kAcquireTimeoutMillis + 3_000,
        },
        [{ name: 'lifeguard', kind: 'lifeguard', pool, connects }],
      );
      const outcome = result.contenders[0]!;
      const context = JSON.stringify(outcome);

      expect(outcome.hung, context).toBe(0);
      expect(outcome.untypedErrors, context).toBe(0);
      // A caller that waited while the circuit opened gets pg's own ECONNREFUSED (as pg.Pool
      // would), with the open circuit as its cause.
      const allowed = new Set([
        'ERR_POOL_CIRCUIT_OPEN',
        'ERR_POOL_ACQUIRE_TIMEOUT',
        'ERR_PG_CONNECTION_LOST',
        'ECONNREFUSED',
      ]);
      for (const code of Object.keys(outcome.all.errorsByCode)) {
        expect(allowed, `unexpected code ${code}: ${context}`).toContain(code);
      }

      // Plenty of callers failed while the server was down, but attempts stayed few: one
      // serialized probe at a time, spaced by the jittered backoff.
      const outageSeconds = (result.timeline.ready - result.timeline.stopRequested) / 1000;
      expect(outcome.outageCalls.failed, context).toBeGreaterThan(100);
      expect(outcome.attemptsDuringOutage, context).toBeLessThan(outcome.outageCalls.failed / 10);
      expect(outcome.attemptsPerSecondDuringOutage, context).toBeLessThanOrEqual(
        Math.max(20, 60 / outageSeconds),
      );

      // Fail fast: most callers heard about the outage long before their acquire timeout.
      expect(outcome.outageErrorLatencyMillis.p50, context).toBeLessThan(kAcquireTimeoutMillis / 4);
      expect(outcome.outageErrorLatencyMillis.max, context).toBeLessThan(
        kAcquireTimeoutMillis + 1_000,
      );

      // Back in service within the backoff's cap (plus connect time on a busy machine).
      expect(outcome.firstSuccessAfterReadyMillis, context).toBeDefined();
      expect(outcome.firstSuccessAfterReadyMillis!, context).toBeLessThan(kRetryMaxMillis + 1_500);
      expect(outcome.all.succeeded, context).toBeGreaterThan(100);
    } finally {
      await pool.end();
    }
  });
});

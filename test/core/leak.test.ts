import { describe, expect, it } from 'vitest';
import type { PoolEvents } from '../../src/core/index.js';
import type { FakeResource } from './support/fake-factory.js';
import { advance, flush, makePool, track, useFakeClock } from './support/harness.js';

useFakeClock();

type Leak = PoolEvents<FakeResource>['leak'];

function leakLog(pool: ReturnType<typeof makePool>['pool']): (Leak & { at: number })[] {
  const log: (Leak & { at: number })[] = [];
  pool.on('leak', (event) => log.push({ ...event, at: performance.now() }));
  return log;
}

/** A named frame of our own, to find in the captured stack. */
async function checkOutForTooLong(pool: ReturnType<typeof makePool>['pool']) {
  return pool.acquire();
}

describe('leak detection', () => {
  it('reports a resource held longer than leakDetectionMillis, with the stack of its acquire', async () => {
    const { pool } = makePool({ leakDetectionMillis: 2000 });
    const leaks = leakLog(pool);
    const resource = await checkOutForTooLong(pool);
    await advance(1999);
    expect(leaks).toEqual([]);
    await advance(1);
    expect(leaks).toHaveLength(1);
    const [leak] = leaks;
    expect(leak!.resource).toBe(resource);
    expect(leak!.heldMillis).toBe(2000);
    expect(leak!.at).toBe(2000);
    expect(leak!.stack).toContain('Resource acquired here');
    expect(leak!.stack).toContain('checkOutForTooLong');
    expect(leak!.stack).toContain('leak.test.ts');
    expect(pool.stats().leaks).toBe(1);
  });

  it('checks for leaks at least as often as leakDetectionMillis, whatever the reap interval', async () => {
    const { pool } = makePool({ leakDetectionMillis: 300, reapIntervalMillis: 10_000 });
    const leaks = leakLog(pool);
    await advance(100);
    await pool.acquire();
    await advance(500);
    // Checked every 300 ms: seen at 600, when it had been held for 500 ms.
    expect(leaks.map((l) => [l.at, l.heldMillis])).toEqual([[600, 500]]);
  });

  it('reports a leak once per checkout, and again for a later checkout', async () => {
    const { pool } = makePool({ leakDetectionMillis: 1000, reapIntervalMillis: 100 });
    const leaks = leakLog(pool);
    const resource = await pool.acquire();
    await advance(10_000);
    expect(leaks).toHaveLength(1);
    pool.release(resource);
    const again = await pool.acquire();
    expect(again).toBe(resource);
    await advance(1000);
    expect(leaks).toHaveLength(2);
    expect(leaks[1]!.heldMillis).toBe(1000);
    expect(pool.stats().leaks).toBe(2);
  });

  it('does not report a resource given back in time', async () => {
    const { pool } = makePool({ leakDetectionMillis: 1000, reapIntervalMillis: 100 });
    const leaks = leakLog(pool);
    for (let i = 0; i < 10; i++) {
      const resource = await pool.acquire();
      await advance(900);
      pool.release(resource);
    }
    await advance(10_000);
    expect(leaks).toEqual([]);
    expect(pool.stats().leaks).toBe(0);
  });

  it('keeps the stack of a caller who had to wait, not of whoever released', async () => {
    const { pool } = makePool({ max: 1, leakDetectionMillis: 1000, reapIntervalMillis: 100 });
    const leaks = leakLog(pool);
    const held = await pool.acquire();
    const waiter = track(checkOutForTooLong(pool));
    await advance(500);
    pool.release(held);
    await flush();
    expect(waiter.status).toBe('resolved');
    await advance(1000);
    expect(leaks).toHaveLength(1);
    expect(leaks[0]!.heldMillis).toBe(1000);
    expect(leaks[0]!.stack).toContain('checkOutForTooLong');
  });

  it('is off by default', async () => {
    const { pool } = makePool();
    const leaks = leakLog(pool);
    await pool.acquire();
    await advance(24 * 3_600_000);
    expect(leaks).toEqual([]);
    expect(pool.stats().leaks).toBe(0);
  });
});

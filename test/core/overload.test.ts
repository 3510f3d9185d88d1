import { describe, expect, it } from 'vitest';
import { OverloadedError, PoolError, type PoolOptions } from '../../src/core/index.js';
import type { FakeResource } from './support/fake-factory.js';
import { advance, flush, makePool, track, useFakeClock } from './support/harness.js';

useFakeClock();

/** A pool of one resource, held by us, so that every other acquire must queue. */
async function saturated(options: PoolOptions) {
  const made = makePool({ max: 1, acquireTimeoutMillis: 60_000, ...options });
  const held = await made.pool.acquire();
  return { ...made, held };
}

describe('overload shedding (CoDel)', () => {
  it('is off by default: a waiter is served however long it waited', async () => {
    const { pool, held } = await saturated({});
    const late = track(pool.acquire());
    await advance(5_000);
    pool.release(held);
    await flush();
    expect(late.status).toBe('resolved');
    expect(pool.stats().shed).toBe(0);
  });

  it('sheds waiters older than the target once the queue has not emptied for the interval', async () => {
    const { pool, held } = await saturated({
      overloadTargetMillis: 50,
      overloadIntervalMillis: 100,
    });
    const old1 = track(pool.acquire()); // t=0
    const old2 = track(pool.acquire());
    await advance(180);
    const young = track(pool.acquire()); // t=180
    await advance(20); // t=200: queue busy for 200 >= 100; old ones waited 200 > 50, young 20
    pool.release(held);
    await flush();
    expect(old1.status).toBe('rejected');
    expect(old2.status).toBe('rejected');
    expect(young.status).toBe('resolved');
    expect(young.value).toBe(held);
    const error = old1.error as OverloadedError;
    expect(error).toBeInstanceOf(OverloadedError);
    expect(error).toBeInstanceOf(PoolError);
    expect(error.code).toBe('ERR_POOL_OVERLOADED');
    expect(error.waitedMillis).toBe(200);
    expect(error.message).toMatch(/waiting 200 ms.*not emptied for 200 ms/);
    expect(old1.settleCount).toBe(1);
    const stats = pool.stats();
    expect(stats.shed).toBe(2);
    expect(stats.timeouts).toBe(0);
    expect(stats.waiting).toBe(0);
  });

  it('serves old waiters while the queue has been busy for less than the interval', async () => {
    const { pool, held } = await saturated({
      overloadTargetMillis: 10,
      overloadIntervalMillis: 100,
    });
    const waiter = track(pool.acquire());
    await advance(99); // waited 99 > target, but the queue has stood only 99 ms
    pool.release(held);
    await flush();
    expect(waiter.status).toBe('resolved');
    expect(pool.stats().shed).toBe(0);
  });

  it('forgets a standing queue once it empties', async () => {
    const { pool, held } = await saturated({
      overloadTargetMillis: 10,
      overloadIntervalMillis: 100,
    });
    const first = track(pool.acquire());
    await advance(150);
    pool.release(held); // queue busy 150 ms, first waited 150: shed, queue now empty
    await flush();
    expect(first.status).toBe('rejected');
    const again = await pool.acquire(); // idle resource, fast path
    const second = track(pool.acquire()); // the queue becomes busy again now
    await advance(60);
    pool.release(again);
    await flush();
    expect(second.status).toBe('resolved');
  });

  it('sheds the last waiter too, and then parks the resource as idle', async () => {
    const { pool, held } = await saturated({ overloadTargetMillis: 5, overloadIntervalMillis: 20 });
    const only = track(pool.acquire());
    await advance(30);
    pool.release(held);
    await flush();
    expect(only.status).toBe('rejected');
    expect(pool.idle).toBe(1);
    expect(pool.inUse).toBe(0);
    // and the parked resource still serves the next caller
    await expect(pool.acquire()).resolves.toBe(held);
  });

  it('sheds waiters when a resource arrives by creation, not only by release', async () => {
    const { pool, fake } = makePool({
      max: 1,
      overloadTargetMillis: 10,
      overloadIntervalMillis: 50,
      createTimeoutMillis: 5_000,
    });
    fake.script('create', { kind: 'ok', afterMillis: 200 });
    const old = track(pool.acquire());
    await advance(195);
    const young = track(pool.acquire());
    await advance(5);
    await flush();
    expect(old.status).toBe('rejected');
    expect((old.error as PoolError).code).toBe('ERR_POOL_OVERLOADED');
    expect(young.status).toBe('resolved');
  });

  it('rejects an invalid target or interval with a message naming the option', () => {
    expect(() => makePool({ overloadTargetMillis: -1 })).toThrow(/overloadTargetMillis/);
    expect(() => makePool({ overloadIntervalMillis: 0 })).toThrow(/overloadIntervalMillis/);
    expect(() => makePool({ overloadTargetMillis: Infinity })).toThrow(/overloadTargetMillis/);
  });
});

describe('leak reclaim', () => {
  it('takes back a resource held past leakReclaimMillis, destroys it and serves the waiters', async () => {
    const { pool, fake } = makePool({ max: 1, leakReclaimMillis: 1_000, reapIntervalMillis: 100 });
    const events: unknown[] = [];
    pool.on('leak', (e) =>
      events.push({ reclaimed: e.reclaimed, held: e.heldMillis, stack: e.stack }),
    );
    const destroyed: unknown[] = [];
    pool.on('destroy', (e) => destroyed.push(e.reason));
    const leaked: FakeResource = await pool.acquire();
    const waiter = track(pool.acquire());
    await advance(999);
    expect(waiter.status).toBe('pending');
    await advance(1);
    await flush();
    expect(events).toEqual([
      { reclaimed: true, held: 1_000, stack: expect.stringContaining('overload.test.ts') },
    ]);
    expect(destroyed).toEqual(['leak']);
    expect(fake.destroyCount(leaked)).toBe(1);
    expect(fake.destroyReasons).toContain('leak');
    await advance(10);
    expect(waiter.status).toBe('resolved');
    expect(waiter.value).not.toBe(leaked);
    // The borrower's late release is ignored, not a double-release error.
    expect(() => pool.release(leaked)).not.toThrow();
    const stats = pool.stats();
    expect(stats.destroys.leak).toBe(1);
    expect(stats.leaks).toBe(1);
    expect(stats.inUse).toBe(1);
  });

  it('reports the leak first and reclaims it later, counting one leak', async () => {
    const { pool } = makePool({
      leakDetectionMillis: 500,
      leakReclaimMillis: 2_000,
      reapIntervalMillis: 100,
    });
    const seen: boolean[] = [];
    pool.on('leak', (e) => seen.push(e.reclaimed));
    await pool.acquire();
    await advance(600);
    expect(seen).toEqual([false]);
    await advance(1_500);
    expect(seen).toEqual([false, true]);
    expect(pool.stats().leaks).toBe(1);
    expect(pool.total).toBe(0);
  });

  it('leaves resources released in time alone', async () => {
    const { pool } = makePool({ leakReclaimMillis: 1_000, reapIntervalMillis: 100 });
    const r = await pool.acquire();
    await advance(900);
    pool.release(r);
    await advance(5_000);
    expect(pool.stats().destroys.leak).toBe(0);
    expect(pool.idle).toBe(1);
  });

  it('refuses a reclaim limit below the detection threshold', () => {
    expect(() => makePool({ leakDetectionMillis: 1_000, leakReclaimMillis: 500 })).toThrow(
      /leakReclaimMillis/,
    );
  });
});

describe('leases()', () => {
  it('lists what is checked out, longest-held first, with the acquire stack when capture is on', async () => {
    const { pool } = makePool({ leakDetectionMillis: 60_000 });
    const a = await pool.acquire();
    await advance(300);
    const b = await pool.acquire();
    await advance(200);
    const c = await pool.acquire();
    pool.release(c);
    const leases = pool.leases();
    expect(leases.map((l) => [l.resource, l.heldMillis])).toEqual([
      [a, 500],
      [b, 200],
    ]);
    expect(leases[0]!.stack).toContain('overload.test.ts');
    expect(leases[0]!.uses).toBe(1);
  });

  it('has no stacks without leak detection, and is empty when nothing is held', async () => {
    const { pool } = makePool();
    expect(pool.leases()).toEqual([]);
    const r = await pool.acquire();
    expect(pool.leases()).toEqual([{ resource: r, heldMillis: 0, uses: 1, stack: undefined }]);
  });
});

import { describe, expect, it, vi } from 'vitest';
import type { FakeResource } from './support/fake-factory.js';
import { advance, flush, makePool, useFakeClock } from './support/harness.js';

useFakeClock();

/** Destroy events as `[time, resource id, reason]`, stamped with the fake clock. */
function destroyLog(pool: ReturnType<typeof makePool>['pool']): [number, number, string][] {
  const log: [number, number, string][] = [];
  pool.on('destroy', ({ resource, reason }) => log.push([performance.now(), resource.id, reason]));
  return log;
}

async function acquireMany(pool: ReturnType<typeof makePool>['pool'], n: number) {
  const out: FakeResource[] = [];
  for (let i = 0; i < n; i++) out.push(await pool.acquire());
  return out;
}

describe('idleTimeoutMillis', () => {
  it('closes idle resources above min once they sat idle that long', async () => {
    const { pool, fake } = makePool({
      min: 1,
      max: 3,
      idleTimeoutMillis: 1000,
      reapIntervalMillis: 100,
    });
    await flush();
    const log = destroyLog(pool);
    const [a, b, c] = await acquireMany(pool, 3);
    pool.release(a!);
    pool.release(b!);
    pool.release(c!);
    await advance(999);
    expect(log).toEqual([]);
    await advance(1);
    // The two oldest idle resources go; the most recently used one stays, as min asks.
    expect(log).toEqual([
      [1000, a!.id, 'idle'],
      [1000, b!.id, 'idle'],
    ]);
    expect([...fake.live]).toEqual([c]);
    await advance(10_000);
    expect(pool.stats()).toMatchObject({ total: 1, idle: 1, destroys: { ...zero(), idle: 2 } });
  });

  it('counts idle time from the last release, not from creation', async () => {
    const { pool } = makePool({ idleTimeoutMillis: 1000, reapIntervalMillis: 100 });
    const log = destroyLog(pool);
    const resource = await pool.acquire();
    await advance(5000);
    pool.release(resource);
    await advance(900);
    pool.release(await pool.acquire());
    await advance(900);
    expect(log).toEqual([]);
    await advance(100);
    expect(log).toEqual([[6900, resource.id, 'idle']]);
  });

  it('never closes a resource that is checked out', async () => {
    const { pool, fake } = makePool({ idleTimeoutMillis: 1000, reapIntervalMillis: 100 });
    const resource = await pool.acquire();
    await advance(60_000);
    expect(fake.live.has(resource)).toBe(true);
    expect(pool.stats().destroys.idle).toBe(0);
  });

  it('keeps idle resources forever when idleTimeoutMillis is 0', async () => {
    const { pool } = makePool({ idleTimeoutMillis: 0, reapIntervalMillis: 100 });
    const resources = await acquireMany(pool, 3);
    for (const r of resources) pool.release(r);
    await advance(3_600_000);
    expect(pool.stats()).toMatchObject({ total: 3, idle: 3 });
  });

  it('arms one idle timer for the earliest deadline, whatever the number of releases', async () => {
    const { pool } = makePool({ max: 50, idleTimeoutMillis: 1000, reapIntervalMillis: 100 });
    const resources = await acquireMany(pool, 50);
    await flush();
    const timers = vi.getTimerCount();
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    for (const r of resources) {
      pool.release(r);
      await advance(10);
    }
    // The first release arms it; every later one has a later deadline and sets nothing.
    expect(vi.getTimerCount()).toBe(timers + 1);
    expect(setTimeoutSpy).toHaveBeenCalledTimes(1);
    expect(setIntervalSpy).not.toHaveBeenCalled();
  });

  it('removes an idle resource when its idle time is up, not at the next reaper run', async () => {
    const { pool } = makePool({ idleTimeoutMillis: 7, reapIntervalMillis: 60_000 });
    const log = destroyLog(pool);
    const counts: number[][] = [];
    pool.on('destroy', () => counts.push([pool.total, pool.idle]));
    const [a, b] = await acquireMany(pool, 2);
    pool.release(a!);
    await advance(3);
    pool.release(b!);
    await advance(20);
    expect(log).toEqual([
      [7, a!.id, 'idle'],
      [10, b!.id, 'idle'],
    ]);
    // Each destroy is reported with the counts already without the resource.
    expect(counts).toEqual([
      [1, 1],
      [0, 0],
    ]);
  });

  it('never removes idle resources below min, even when several come back at once', async () => {
    const { pool } = makePool({
      max: 3,
      min: 1,
      idleTimeoutMillis: 10,
      reapIntervalMillis: 60_000,
    });
    const log = destroyLog(pool);
    const resources = await acquireMany(pool, 3);
    for (const r of resources) pool.release(r);
    await advance(100);
    expect(log.map(([, , why]) => why)).toEqual(['idle', 'idle']);
    expect(pool.total).toBe(1);
    expect(pool.idle).toBe(1);
  });
});

describe('maxLifetimeMillis', () => {
  it('retires an idle resource past its lifetime, even at min, and replaces it', async () => {
    const { pool, fake } = makePool({
      min: 1,
      max: 2,
      maxLifetimeMillis: 5000,
      maxLifetimeJitter: 0,
      reapIntervalMillis: 100,
    });
    await flush();
    const [first] = [...fake.live];
    const log = destroyLog(pool);
    await advance(4999);
    expect(log).toEqual([]);
    await advance(1);
    expect(log).toEqual([[5000, first!.id, 'lifetime']]);
    await flush();
    expect(fake.calls.create).toBe(2);
    expect(pool.stats()).toMatchObject({ total: 1, idle: 1 });
    expect(fake.live.has(first!)).toBe(false);
  });

  it('never kills a resource in use: it is retired when it comes back', async () => {
    const { pool, fake } = makePool({
      maxLifetimeMillis: 5000,
      maxLifetimeJitter: 0,
      reapIntervalMillis: 100,
    });
    const log = destroyLog(pool);
    const resource = await pool.acquire();
    await advance(20_000);
    expect(fake.live.has(resource)).toBe(true);
    expect(pool.stats()).toMatchObject({ total: 1, inUse: 1 });
    expect(pool.expiredCount).toBe(1);
    pool.release(resource);
    expect(log).toEqual([[20_000, resource.id, 'lifetime']]);
    expect(pool.stats()).toMatchObject({ total: 0, inUse: 0 });
  });

  it('retires an idle resource when its lifetime is up, between two reaper runs', async () => {
    const { pool } = makePool({
      maxLifetimeMillis: 1000,
      maxLifetimeJitter: 0,
      reapIntervalMillis: 60_000,
    });
    const log = destroyLog(pool);
    const old = await pool.acquire();
    pool.release(old);
    await advance(1500);
    const fresh = await pool.acquire();
    expect(fresh).not.toBe(old);
    expect(log).toEqual([[1000, old.id, 'lifetime']]);
  });

  it('shortens each lifetime by a random share of the jitter, so a cohort does not expire at once', async () => {
    const random = vi.spyOn(Math, 'random');
    for (const value of [0, 0.5, 0.999]) random.mockReturnValueOnce(value);
    const { pool } = makePool({
      max: 3,
      maxLifetimeMillis: 10_000,
      maxLifetimeJitter: 0.1,
      reapIntervalMillis: 100,
    });
    const log = destroyLog(pool);
    const [a, b, c] = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    for (const r of [a, b, c]) pool.release(r);
    await advance(20_000);
    // Lifetimes 10 000, 9 500 and 9 000.1 ms, each retired when it is up (the idle timer).
    expect(log).toEqual([
      [9001, c.id, 'lifetime'],
      [9500, b.id, 'lifetime'],
      [10_000, a.id, 'lifetime'],
    ]);
  });

  it('spreads the expiry of resources created together with the default jitter', async () => {
    const { pool } = makePool({ max: 20, maxLifetimeMillis: 10_000, reapIntervalMillis: 1 });
    const log = destroyLog(pool);
    const resources = await Promise.all(Array.from({ length: 20 }, () => pool.acquire()));
    for (const r of resources) pool.release(r);
    await advance(10_000);
    expect(log).toHaveLength(20);
    const times = log.map(([t]) => t);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(9000);
    expect(Math.max(...times)).toBeLessThanOrEqual(10_000);
    expect(new Set(times).size).toBeGreaterThan(10);
  });

  it('keeps resources forever when maxLifetimeMillis is 0', async () => {
    const { pool } = makePool({ maxLifetimeMillis: 0, idleTimeoutMillis: 0 });
    pool.release(await pool.acquire());
    await advance(24 * 3_600_000);
    expect(pool.stats()).toMatchObject({ total: 1, destroys: zero() });
  });
});

function zero() {
  return { idle: 0, lifetime: 0, uses: 0, validation: 0, error: 0, reset: 0, end: 0, budget: 0 };
}

import { describe, expect, it, vi } from 'vitest';
import { ReleaseError } from '../../src/core/index.js';
import { FakeFactory, hang, ok, type FakeResource } from './support/fake-factory.js';
import {
  advance,
  flush,
  makePool,
  recordEvents,
  rejectionOf,
  track,
  useFakeClock,
} from './support/harness.js';

useFakeClock();

describe('acquire and release', () => {
  it('creates a resource when none is idle, and reuses it once it is released', async () => {
    const { pool, fake } = makePool({ max: 2 });
    const first = await pool.acquire();
    expect(fake.calls.create).toBe(1);
    expect(pool.stats()).toMatchObject({ total: 1, idle: 0, inUse: 1 });
    pool.release(first);
    expect(pool.stats()).toMatchObject({ total: 1, idle: 1, inUse: 0 });
    const second = await pool.acquire();
    expect(second).toBe(first);
    expect(fake.calls.create).toBe(1);
    expect(fake.calls.destroy).toBe(0);
  });

  it('hands out an idle resource within microtasks, before a setImmediate could run', async () => {
    const { pool } = makePool();
    pool.release(await pool.acquire());
    const order: string[] = [];
    setImmediate(() => order.push('immediate'));
    void pool.acquire().then(() => order.push('acquired'));
    // Three microtask turns, no macrotask: the fast path needs no more than one.
    await Promise.resolve();
    await Promise.resolve();
    await Promise.resolve();
    expect(order).toEqual(['acquired']);
    await flush();
    expect(order).toEqual(['acquired', 'immediate']);
  });

  it('allocates no timer to hand out an idle resource, nor to take it back', async () => {
    const { pool } = makePool({ max: 3, idleTimeoutMillis: 10_000, maxLifetimeMillis: 60_000 });
    const resources = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    for (const resource of resources) pool.release(resource);
    await flush();
    const timers = vi.getTimerCount();
    for (let i = 0; i < 1000; i++) {
      const a = await pool.acquire();
      const b = await pool.acquire();
      expect(vi.getTimerCount()).toBe(timers);
      pool.release(a);
      pool.release(b);
      expect(vi.getTimerCount()).toBe(timers);
    }
    expect(pool.stats()).toMatchObject({ total: 3, idle: 3, acquires: 2003 });
  });

  it('hands out the most recently released resource first, so the others can age out', async () => {
    const { pool } = makePool({ max: 3 });
    const [a, b, c] = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    pool.release(b);
    pool.release(a);
    pool.release(c);
    expect(await pool.acquire()).toBe(c);
    expect(await pool.acquire()).toBe(a);
    expect(await pool.acquire()).toBe(b);
  });

  it('destroys a resource released with an error instead of reusing it', async () => {
    const { pool, fake } = makePool();
    const events = recordEvents(pool, 'destroy');
    const broken = await pool.acquire();
    const failure = new Error('connection reset');
    pool.release(broken, failure);
    expect(events).toEqual([['destroy', { resource: broken, reason: 'error', error: failure }]]);
    expect(fake.live.has(broken)).toBe(false);
    expect(pool.stats()).toMatchObject({ total: 0, idle: 0, inUse: 0 });
    const next = await pool.acquire();
    expect(next).not.toBe(broken);
    expect(fake.calls.create).toBe(2);
    expect(pool.stats().destroys.error).toBe(1);
  });

  it.each([undefined, null, false])('treats a release with %s as a clean release', async (e) => {
    const { pool, fake } = makePool();
    const resource = await pool.acquire();
    pool.release(resource, e);
    expect(fake.calls.destroy).toBe(0);
    expect(await pool.acquire()).toBe(resource);
  });

  it('hands a released resource directly to the oldest waiter', async () => {
    const { pool } = makePool({ max: 1 });
    const held = await pool.acquire();
    const waiter = track(pool.acquire());
    const events = recordEvents(pool, 'acquire');
    await advance(40);
    expect(pool.stats()).toMatchObject({ waiting: 1, idle: 0 });
    pool.release(held);
    // Handed over synchronously: it never shows up as idle.
    expect(pool.stats()).toMatchObject({ waiting: 0, idle: 0, inUse: 1 });
    expect(events).toEqual([['acquire', { resource: held, waitedMillis: 40 }]]);
    await flush();
    expect(waiter.value).toBe(held);
  });

  it('serves waiters strictly in the order they called acquire', async () => {
    const { pool } = makePool({ max: 1 });
    const held = await pool.acquire();
    const order: number[] = [];
    const waiters = [0, 1, 2, 3, 4].map((i) =>
      pool.acquire().then((resource) => {
        order.push(i);
        return resource;
      }),
    );
    let current = held;
    for (const waiter of waiters) {
      pool.release(current);
      current = await waiter;
    }
    expect(order).toEqual([0, 1, 2, 3, 4]);
    pool.release(current);
  });

  it('never has more than max resources existing or being created', async () => {
    const { pool, fake } = makePool({ max: 3 });
    fake.setDefault('create', ok(100));
    const acquires = Array.from({ length: 10 }, () => track(pool.acquire()));
    await flush();
    expect(fake.calls.create).toBe(3);
    expect(pool.stats()).toMatchObject({ total: 0, pendingCreates: 3, waiting: 10 });
    await advance(100);
    expect(pool.stats()).toMatchObject({ total: 3, pendingCreates: 0, inUse: 3, waiting: 7 });
    expect(acquires.filter((a) => a.status === 'resolved')).toHaveLength(3);
    expect(fake.calls.create).toBe(3);
    expect(fake.peakLive).toBe(3);
  });

  it('starts only as many creations as there are waiters', async () => {
    const { pool, fake } = makePool({ max: 10 });
    fake.setDefault('create', hang());
    void pool.acquire().catch(() => {});
    void pool.acquire().catch(() => {});
    await flush();
    expect(fake.calls.create).toBe(2);
    expect(pool.pendingCreates).toBe(2);
  });

  it('retires a resource after maxUses acquires', async () => {
    const { pool, fake } = makePool({ maxUses: 2 });
    const events = recordEvents(pool, 'destroy');
    const first = await pool.acquire();
    pool.release(first);
    expect(await pool.acquire()).toBe(first);
    pool.release(first);
    expect(events).toEqual([['destroy', { resource: first, reason: 'uses' }]]);
    const next = await pool.acquire();
    expect(next).not.toBe(first);
    expect(fake.calls.create).toBe(2);
    expect(pool.stats().destroys.uses).toBe(1);
  });
});

describe('releasing what is not checked out', () => {
  it('throws ERR_POOL_RELEASE_INVALID when a resource is released twice', async () => {
    const { pool } = makePool();
    const resource = await pool.acquire();
    pool.release(resource);
    let thrown: unknown;
    try {
      pool.release(resource);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ReleaseError);
    expect((thrown as ReleaseError).code).toBe('ERR_POOL_RELEASE_INVALID');
    expect((thrown as ReleaseError).message).toMatch(/released twice/);
    expect(pool.stats()).toMatchObject({ idle: 1, inUse: 0, total: 1 });
  });

  it('throws ERR_POOL_RELEASE_INVALID for a resource the pool never handed out', async () => {
    const { pool } = makePool();
    const stranger: FakeResource = { id: 999 };
    expect(() => pool.release(stranger)).toThrow(ReleaseError);
    const other = makePool();
    const theirs = await other.pool.acquire();
    expect(() => pool.release(theirs)).toThrow(
      'Cannot release a resource that is not checked out from this pool (released twice?)',
    );
    expect(pool.stats().inUse).toBe(0);
    other.pool.release(theirs);
  });

  it('throws ERR_POOL_RELEASE_INVALID for a resource released again after an error release', async () => {
    const { pool } = makePool();
    const resource = await pool.acquire();
    pool.release(resource, new Error('bad'));
    expect(() => pool.release(resource)).toThrow(ReleaseError);
    expect(pool.stats().destroys.error).toBe(1);
  });
});

describe('min: resources kept warm', () => {
  it('creates min resources in the background when the pool is built', async () => {
    const fake = new FakeFactory().setDefault('create', ok(50));
    const { pool } = makePool({ min: 2, max: 5 }, {}, fake);
    // Started by the constructor, before any caller asked.
    expect(fake.calls.create).toBe(2);
    expect(pool.stats()).toMatchObject({ total: 0, pendingCreates: 2 });
    await advance(50);
    expect(pool.stats()).toMatchObject({ total: 2, idle: 2, pendingCreates: 0 });
    const started = fake.calls.create;
    const resource = track(pool.acquire());
    await Promise.resolve();
    expect(resource.status).toBe('resolved'); // no creation on the caller's path
    expect(fake.calls.create).toBe(started);
  });

  it('replaces a destroyed resource to stay at min', async () => {
    const { pool, fake } = makePool({ min: 2, max: 5 });
    await flush();
    const resource = await pool.acquire();
    pool.release(resource, new Error('broken'));
    expect(fake.calls.create).toBe(3);
    await flush();
    expect(pool.stats()).toMatchObject({ total: 2, idle: 2 });
  });

  it('counts checked-out resources toward min, so demand beyond it creates on demand', async () => {
    const { pool, fake } = makePool({ min: 1, max: 5 });
    await flush();
    const a = await pool.acquire();
    expect(fake.calls.create).toBe(1);
    // `min` counts every resource, checked out or not: no extra warm one is made for it.
    await advance(5_000);
    expect(fake.calls.create).toBe(1);
    const b = await pool.acquire();
    expect(fake.calls.create).toBe(2);
    pool.release(a);
    pool.release(b);
  });
});

describe('allowExitOnIdle', () => {
  it('unrefs a resource when it goes idle and refs it when it is handed out', async () => {
    const { pool, fake } = makePool({ allowExitOnIdle: true }, { refs: true });
    const resource = await pool.acquire();
    expect(fake.refCalls).toEqual([{ op: 'ref', resource }]);
    pool.release(resource);
    expect(fake.refCalls).toEqual([
      { op: 'ref', resource },
      { op: 'unref', resource },
    ]);
    await pool.acquire();
    expect(fake.refCalls.map((c) => c.op)).toEqual(['ref', 'unref', 'ref']);
  });

  it('does not call ref or unref without allowExitOnIdle', async () => {
    const { pool, fake } = makePool({}, { refs: true });
    pool.release(await pool.acquire());
    expect(fake.refCalls).toEqual([]);
  });
});

describe('a rejected acquire', () => {
  it('is an ordinary rejected promise, not a synchronous throw', async () => {
    const { pool } = makePool();
    void pool.end();
    let promise: Promise<FakeResource> | undefined;
    expect(() => {
      promise = pool.acquire();
    }).not.toThrow();
    expect(await rejectionOf(promise!)).toMatchObject({ code: 'ERR_POOL_CLOSED' });
  });
});

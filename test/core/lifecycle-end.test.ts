import { describe, expect, it, vi } from 'vitest';
import { PoolClosedError } from '../../src/core/index.js';
import { FakeFactory, answer, fail, hang, hangForever, late, ok } from './support/fake-factory.js';
import {
  advance,
  endWithin,
  flush,
  makePool,
  recordEvents,
  rejectionOf,
  track,
  useFakeClock,
} from './support/harness.js';

useFakeClock();

function expectClosed(error: unknown, message?: string): void {
  expect(error).toBeInstanceOf(PoolClosedError);
  expect((error as PoolClosedError).code).toBe('ERR_POOL_CLOSED');
  if (message !== undefined) expect((error as Error).message).toBe(message);
}

describe('end()', () => {
  it('returns the same promise on every call, whatever the options', () => {
    const { pool } = makePool();
    const first = pool.end();
    expect(pool.end()).toBe(first);
    expect(pool.end({ timeoutMillis: 5 })).toBe(first);
    expect(pool.ended).toBe(true);
  });

  it('destroys idle resources with reason "end" and resolves', async () => {
    const { pool, fake } = makePool({ max: 3 });
    const resources = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    for (const r of resources) pool.release(r);
    const destroys = recordEvents(pool, 'destroy');
    const ended = await endWithin(pool, 0);
    expect(ended.status).toBe('resolved');
    expect(destroys.map(([, e]) => e.reason)).toEqual(['end', 'end', 'end']);
    expect(fake.live.size).toBe(0);
    expect(fake.badDestroys).toEqual([]);
    expect(pool.stats()).toMatchObject({ total: 0, idle: 0, inUse: 0 });
    expect(pool.stats().destroys.end).toBe(3);
  });

  it('with drain: false, rejects every queued waiter with ERR_POOL_CLOSED', async () => {
    const { pool } = makePool({ max: 1 });
    await pool.acquire();
    const waiters = [track(pool.acquire()), track(pool.acquire())];
    void pool.end({ drain: false });
    await flush();
    for (const waiter of waiters) {
      expectClosed(waiter.error, 'The pool was ended while this caller waited');
      expect(waiter.settleCount).toBe(1);
    }
    expect(pool.stats().waiting).toBe(0);
  });

  it('rejects acquire, lease and use at once after end(), even before end() resolves', async () => {
    const { pool, fake } = makePool();
    const held = await pool.acquire();
    void pool.end();
    expectClosed(await rejectionOf(pool.acquire()), 'Cannot acquire: the pool has been ended');
    expectClosed(await rejectionOf(pool.lease()));
    expectClosed(await rejectionOf(pool.use(() => 1)));
    expect(fake.calls.create).toBe(1);
    pool.release(held);
  });

  it('waits for checked-out resources and destroys each as it comes back, without reset', async () => {
    const { pool, fake } = makePool({}, { reset: true });
    const a = await pool.acquire();
    const b = await pool.acquire();
    const ended = track(pool.end());
    await advance(20_000);
    expect(ended.status).toBe('pending');
    pool.release(a);
    expect(fake.live.has(a)).toBe(false);
    await advance(1000);
    expect(ended.status).toBe('pending');
    pool.release(b);
    await flush();
    expect(ended.status).toBe('resolved');
    expect(fake.calls.reset).toBe(0);
    expect(fake.live.size).toBe(0);
    expect(pool.stats().destroys.end).toBe(2);
  });

  it('waits 30 s for checked-out resources by default, so a leak cannot make it hang', async () => {
    const { pool, fake } = makePool();
    const resource = await pool.acquire();
    const ended = track(pool.end());
    await advance(29_999);
    expect(ended.status).toBe('pending');
    expect(fake.live.has(resource)).toBe(true);
    await advance(1);
    await flush();
    expect(ended.status).toBe('resolved');
    expect(fake.live.size).toBe(0);
  });

  it('waits for every release with timeoutMillis Infinity', async () => {
    const { pool, fake } = makePool();
    const resource = await pool.acquire();
    const ended = track(pool.end({ timeoutMillis: Infinity }));
    await advance(24 * 3_600_000);
    expect(ended.status).toBe('pending');
    expect(fake.live.has(resource)).toBe(true);
    pool.release(resource);
    await flush();
    expect(ended.status).toBe('resolved');
  });

  it('destroys resources still checked out at the timeoutMillis deadline, and ignores their release', async () => {
    const { pool, fake } = makePool();
    const resource = await pool.acquire();
    const destroys = recordEvents(pool, 'destroy');
    const ended = track(pool.end({ timeoutMillis: 1000 }));
    await advance(999);
    expect(fake.live.has(resource)).toBe(true);
    await advance(1);
    await flush();
    expect(ended.status).toBe('resolved');
    expect(destroys).toEqual([['destroy', { resource, reason: 'end' }]]);
    expect(fake.live.size).toBe(0);
    expect(pool.stats()).toMatchObject({ total: 0, inUse: 0 });
    expect(() => pool.release(resource)).not.toThrow();
    expect(fake.destroyCount(resource)).toBe(1);
    expect(pool.stats().destroys.end).toBe(1);
  });

  it('aborts creations in progress, without counting them as failures', async () => {
    const { pool, fake } = makePool();
    fake.script('create', hang());
    const errors = recordEvents(pool, 'error', 'circuit');
    const waiter = track(pool.acquire());
    await flush();
    const ended = await endWithin(pool, 0, { drain: false });
    expect(ended.status).toBe('resolved');
    const [signal] = fake.createSignals;
    expect(signal!.aborted).toBe(true);
    expectClosed(signal!.reason, 'The pool was ended while creating');
    expectClosed(waiter.error);
    expect(errors).toEqual([]);
    expect(pool.stats()).toMatchObject({ createFailures: 0, pendingCreates: 0 });
  });

  it('schedules no retry for a creation it aborted, leaving no timer behind', async () => {
    const fake = new FakeFactory().setDefault('create', hang());
    const { pool } = makePool({ min: 1 }, {}, fake);
    await flush();
    expect(pool.pendingCreates).toBe(1);
    const ended = await endWithin(pool, 0);
    expect(ended.status).toBe('resolved');
    expect(pool.stats().createFailures).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects an acquire made by an event listener while end() runs', async () => {
    const { pool, fake } = makePool();
    const resource = await pool.acquire();
    pool.release(resource);
    const fromListener: ReturnType<typeof track>[] = [];
    pool.once('destroy', () => fromListener.push(track(pool.acquire())));
    await endWithin(pool, 0);
    expect(fromListener).toHaveLength(1);
    expect(fromListener[0]!.status).toBe('rejected'); // not handed the resource being destroyed
    expectClosed(fromListener[0]!.error);
    expect(pool.stats().inUse).toBe(0);
    expect(fake.live.size).toBe(0);
  });

  it('destroys a resource whose creation ignored the abort, before end() resolves', async () => {
    const { pool, fake } = makePool();
    fake.script('create', late(2000));
    const destroys = recordEvents(pool, 'destroy');
    void pool.acquire().catch(() => {});
    await flush();
    const ended = await endWithin(pool, 5000, { drain: false });
    expect(ended.status).toBe('resolved');
    expect(performance.now()).toBe(2000);
    expect(destroys.map(([, e]) => e.reason)).toEqual(['end']);
    expect(fake.live.size).toBe(0);
  });

  it('resolves even when a create ignores its abort signal and never settles', async () => {
    const { pool, fake } = makePool({ createTimeoutMillis: 1000 });
    fake.script('create', hangForever());
    void pool.acquire().catch(() => {});
    await flush();
    const ended = await endWithin(pool, 60_000);
    expect(ended.status).toBe('resolved');
  });

  it('waits for a destroy that hangs only until destroyTimeoutMillis', async () => {
    const { pool, fake } = makePool({ destroyTimeoutMillis: 700 });
    pool.on('error', () => {});
    fake.script('destroy', hang());
    pool.release(await pool.acquire());
    const ended = track(pool.end());
    await advance(699);
    expect(ended.status).toBe('pending');
    await advance(1);
    expect(ended.status).toBe('resolved');
  });

  it('leaves no timer behind once it resolved', async () => {
    const { pool } = makePool({ min: 2, acquireTimeoutMillis: 1000, leakDetectionMillis: 500 });
    await flush();
    const held = await pool.acquire();
    pool.release(held);
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    expect((await endWithin(pool, 0)).status).toBe('resolved');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not destroy checked-out resources early when timeoutMillis exceeds a timer’s range', async () => {
    const { pool, fake } = makePool();
    const resource = await pool.acquire();
    const ended = track(pool.end({ timeoutMillis: 2 ** 31 }));
    await advance(10);
    expect(fake.live.has(resource)).toBe(true);
    expect(ended.status).toBe('pending');
    pool.release(resource);
    await flush();
    expect(ended.status).toBe('resolved');
  });
});

describe('end() while a hook is running', () => {
  it('resolves when a validation running at end() fails', async () => {
    const { pool, fake } = makePool({ validateTimeoutMillis: 300 }, { validate: true });
    pool.release(await pool.acquire());
    await advance(1000);
    fake.script('validate', answer(false, 100));
    const waiter = track(pool.acquire());
    const ended = await endWithin(pool, 10_000, { drain: false });
    expectClosed(waiter.error);
    expect(ended.status).toBe('resolved');
    expect(fake.live.size).toBe(0);
  });

  it('resolves when a validation running at end() hangs past validateTimeoutMillis', async () => {
    const { pool, fake } = makePool({ validateTimeoutMillis: 300 }, { validate: true });
    pool.release(await pool.acquire());
    await advance(1000);
    fake.script('validate', hang());
    void pool.acquire().catch(() => {});
    const ended = await endWithin(pool, 10_000, { drain: false });
    expect(ended.status).toBe('resolved');
    expect(fake.live.size).toBe(0);
  });

  it('destroys a resource exactly once when the end deadline passes during its reset', async () => {
    const { pool, fake } = makePool({ resetTimeoutMillis: 5000 }, { reset: true });
    pool.on('error', () => {});
    fake.script('reset', hang());
    const resource = await pool.acquire();
    pool.release(resource);
    const ended = await endWithin(pool, 10_000, { timeoutMillis: 100 });
    expect(ended.status).toBe('resolved');
    await advance(10_000);
    expect(fake.destroyCount(resource)).toBe(1);
    expect(fake.badDestroys).toEqual([]);
    const { destroys } = pool.stats();
    expect(Object.values(destroys).reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('destroys a resource exactly once when the end deadline passes during its validation', async () => {
    const { pool, fake } = makePool({}, { validate: true });
    pool.release(await pool.acquire());
    await advance(1000);
    fake.script('validate', ok(1000));
    const resource = [...fake.live][0]!;
    void pool.acquire().catch(() => {});
    const ended = await endWithin(pool, 10_000, { timeoutMillis: 100 });
    expect(ended.status).toBe('resolved');
    await advance(10_000);
    expect(fake.destroyCount(resource)).toBe(1);
    expect(fake.badDestroys).toEqual([]);
  });

  it('lets a reset running at end() finish, then destroys the resource', async () => {
    const { pool, fake } = makePool({}, { reset: true });
    fake.script('reset', ok(300));
    const resource = await pool.acquire();
    pool.release(resource);
    const ended = track(pool.end());
    await advance(299);
    expect(ended.status).toBe('pending');
    expect(fake.live.has(resource)).toBe(true);
    await advance(1);
    await flush();
    expect(ended.status).toBe('resolved');
    expect(fake.destroyCount(resource)).toBe(1);
  });
});

describe('timers', () => {
  it('unrefs every timer the pool creates, so a pool never keeps the process alive', async () => {
    type Handle = { hasRef(): boolean };
    const handles: Handle[] = [];
    const realSetTimeout = globalThis.setTimeout;
    const realSetInterval = globalThis.setInterval;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(
      (...args: Parameters<typeof setTimeout>) => {
        const handle = realSetTimeout(...args);
        handles.push(handle);
        return handle;
      },
    );
    vi.spyOn(globalThis, 'setInterval').mockImplementation(
      (...args: Parameters<typeof setInterval>) => {
        const handle = realSetInterval(...args);
        handles.push(handle);
        return handle;
      },
    );
    vi.spyOn(Math, 'random').mockReturnValue(0.5);

    // The factory answers at once or never, so every timer below is the pool's.
    const fake = new FakeFactory();
    const { pool } = makePool(
      { min: 1, max: 3, acquireTimeoutMillis: 1000, leakDetectionMillis: 500 },
      { validate: true, reset: true },
      fake,
    );
    await flush(); // the reaper, and the min creation's timeout
    const a = await pool.acquire();
    fake.script('create', fail(new Error('refused')));
    const b = track(pool.acquire()); // the acquire timeout, a create timeout, a retry timer
    await advance(50);
    expect(b.status).toBe('resolved');
    pool.release(a); // reset: a bounded call
    pool.release(b.value!);
    await advance(1000);
    const c = await pool.acquire(); // idle for 1 s: validate, a bounded call
    pool.release(c, new Error('broken')); // destroy: a bounded call
    const d = await pool.acquire();
    void pool.end({ timeoutMillis: 100 }); // the end deadline
    await advance(200);
    expect(fake.live.has(d)).toBe(false);

    expect(handles.length).toBeGreaterThanOrEqual(8);
    expect(handles.filter((h) => h.hasRef())).toEqual([]);
  });
});

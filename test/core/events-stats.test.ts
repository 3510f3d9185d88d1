import { describe, expect, it, vi } from 'vitest';
import { ListenerError, type DestroyReason, type PoolEvents } from '../../src/core/index.js';
import { LatencySummary } from '../../src/core/summary.js';
import { FakeFactory, answer, fail, hang, ok, type FakeResource } from './support/fake-factory.js';
import {
  advance,
  flush,
  makePool,
  recordEvents,
  track,
  useFakeClock,
  type TestPool,
} from './support/harness.js';

useFakeClock();

const noDestroys = {
  idle: 0,
  lifetime: 0,
  uses: 0,
  validation: 0,
  error: 0,
  reset: 0,
  leak: 0,
  end: 0,
  budget: 0,
};

describe('events', () => {
  it('emits create with how long the creation took', async () => {
    const { pool, fake } = makePool();
    fake.script('create', ok(250));
    const log = recordEvents(pool, 'create');
    const resource = track(pool.acquire());
    await advance(250);
    expect(log).toEqual([['create', { resource: resource.value, durationMillis: 250 }]]);
  });

  it('emits acquire with how long the caller waited, 0 when it did not', async () => {
    const { pool, fake } = makePool();
    fake.script('create', ok(120));
    const log = recordEvents(pool, 'acquire');
    const waited = track(pool.acquire());
    await advance(120);
    pool.release(waited.value!);
    await pool.acquire();
    expect(log).toEqual([
      ['acquire', { resource: waited.value, waitedMillis: 120 }],
      ['acquire', { resource: waited.value, waitedMillis: 0 }],
    ]);
  });

  it('emits release with how long it was held, and the error it came back with', async () => {
    const { pool } = makePool();
    const log = recordEvents(pool, 'release');
    const resource = await pool.acquire();
    await advance(300);
    pool.release(resource);
    await pool.acquire();
    await advance(5);
    const failure = new Error('broken');
    pool.release(resource, failure);
    expect(log).toEqual([
      ['release', { resource, heldMillis: 300, error: undefined }],
      ['release', { resource, heldMillis: 5, error: failure }],
    ]);
  });

  type Watch = (made: TestPool) => TestPool;
  const destroyScenarios: [DestroyReason, (watch: Watch) => Promise<TestPool>][] = [
    [
      'idle',
      async (watch) => {
        const made = watch(makePool({ idleTimeoutMillis: 1000, reapIntervalMillis: 100 }));
        made.pool.release(await made.pool.acquire());
        await advance(1000);
        return made;
      },
    ],
    [
      'lifetime',
      async (watch) => {
        const made = watch(makePool({ maxLifetimeMillis: 1000, maxLifetimeJitter: 0 }));
        const resource = await made.pool.acquire();
        await advance(1000);
        made.pool.release(resource);
        return made;
      },
    ],
    [
      'uses',
      async (watch) => {
        const made = watch(makePool({ maxUses: 1 }));
        made.pool.release(await made.pool.acquire());
        return made;
      },
    ],
    [
      'validation',
      async (watch) => {
        const made = watch(makePool({}, { validate: true }));
        made.pool.release(await made.pool.acquire());
        await advance(1000);
        made.fake.script('validate', answer(false));
        await made.pool.acquire();
        return made;
      },
    ],
    [
      'error',
      async (watch) => {
        const made = watch(makePool());
        made.pool.release(await made.pool.acquire(), new Error('x'));
        return made;
      },
    ],
    [
      'reset',
      async (watch) => {
        const made = watch(makePool({}, { reset: true }));
        made.fake.script('reset', fail(new Error('x')));
        made.pool.release(await made.pool.acquire());
        await flush();
        return made;
      },
    ],
    [
      'end',
      async (watch) => {
        const made = watch(makePool());
        made.pool.release(await made.pool.acquire());
        await made.pool.end();
        return made;
      },
    ],
  ];

  it.each(destroyScenarios)(
    'emits destroy with reason "%s" and counts it under that reason only',
    async (reason, scenario) => {
      const log: [string, PoolEvents<FakeResource>['destroy']][] = [];
      const made = await scenario((m) => {
        m.pool.on('destroy', (e) => log.push(['destroy', e]));
        return m;
      });
      expect(log.map(([, e]) => [e.resource.id, e.reason])).toEqual([[1, reason]]);
      expect(made.pool.stats().destroys).toEqual({ ...noDestroys, [reason]: 1 });
      expect(made.fake.calls.destroy).toBe(1);
    },
  );

  it('carries the failure in the error event of a failed creation', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.01);
    const { pool, fake } = makePool();
    const root = new Error('refused');
    fake.script('create', fail(root));
    const log = recordEvents(pool, 'error');
    const acquired = track(pool.acquire());
    await advance(10);
    expect(acquired.status).toBe('resolved');
    expect(log).toHaveLength(1);
    expect(log[0]![1].error).toMatchObject({ code: 'ERR_POOL_CREATE_FAILED', cause: root });
  });

  it('does not throw when an error is emitted with no error listener', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.01);
    const { pool, fake } = makePool();
    fake.script('create', fail(new Error('refused')), fail(new Error('refused')));
    expect(pool.listenerCount('error')).toBe(0);
    const resource = track(pool.acquire());
    await advance(10);
    expect(fake.live.has(resource.value!)).toBe(true);
    expect(pool.stats().createFailures).toBe(2);
  });

  it.each(['create', 'acquire', 'release', 'destroy'] as const)(
    'survives a %s listener that throws, reporting it as ERR_POOL_LISTENER_FAILED',
    async (event) => {
      const { pool, fake } = makePool({ maxUses: 1 });
      const thrown = new Error(`listener for ${event} broke`);
      pool.on(event, () => {
        throw thrown;
      });
      const errors = recordEvents(pool, 'error');
      const resource = await pool.acquire();
      pool.release(resource); // maxUses 1: destroyed
      const next = await pool.acquire();
      expect(next).not.toBe(resource);
      expect(fake.live.has(resource)).toBe(false);
      expect(pool.stats()).toMatchObject({ inUse: 1, total: 1, acquires: 2, creates: 2 });
      expect(errors.length).toBeGreaterThanOrEqual(1);
      const error = errors[0]![1].error as ListenerError;
      expect(error).toBeInstanceOf(ListenerError);
      expect(error.code).toBe('ERR_POOL_LISTENER_FAILED');
      expect(error.event).toBe(event);
      expect(error.cause).toBe(thrown);
    },
  );

  it('swallows an error listener that throws, and still calls the other listeners', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.01);
    const { pool, fake } = makePool();
    fake.script('create', fail(new Error('refused')));
    const seen: string[] = [];
    pool.on('error', () => {
      seen.push('first');
      throw new Error('error listener broke');
    });
    pool.on('error', () => seen.push('second'));
    const acquired = track(pool.acquire());
    await advance(10);
    expect(seen).toEqual(['first', 'second']);
    expect(acquired.status).toBe('resolved');
  });

  it('supports once, off and listenerCount', async () => {
    const { pool } = makePool();
    const calls: string[] = [];
    const persistent = (): void => void calls.push('on');
    pool.on('acquire', persistent);
    pool.once('acquire', () => calls.push('once'));
    expect(pool.listenerCount('acquire')).toBe(2);
    pool.release(await pool.acquire());
    expect(pool.listenerCount('acquire')).toBe(1);
    pool.off('acquire', persistent);
    expect(pool.listenerCount('acquire')).toBe(0);
    pool.release(await pool.acquire());
    expect(calls).toEqual(['on', 'once']);
  });
});

describe('stats()', () => {
  it('reports every gauge', async () => {
    const fake = new FakeFactory().script('create', ok(), ok(), hang());
    const { pool } = makePool({ min: 1, max: 3 }, {}, fake);
    await flush();
    const held = await pool.acquire();
    const second = await pool.acquire();
    pool.release(second);
    await pool.acquire(); // takes `second` back: total 2, both in use
    void pool.acquire().catch(() => {}); // creates a third, which hangs
    void pool.acquire().catch(() => {}); // waits
    expect(pool.stats()).toMatchObject({
      total: 2,
      idle: 0,
      inUse: 2,
      pendingCreates: 1,
      waiting: 2,
      max: 3,
      min: 1,
      circuit: 'closed',
    });
    expect([pool.total, pool.idle, pool.inUse, pool.pendingCreates, pool.waiting]).toEqual([
      2, 0, 2, 1, 2,
    ]);
    pool.release(held);
  });

  it('counts acquires, waits, timeouts, aborts, rejections, creations and failures', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const fake = new FakeFactory().setDefault('validate', answer(false));
    const { pool } = makePool(
      { max: 2, maxWaiting: 1, acquireTimeoutMillis: 1000, leakDetectionMillis: 500 },
      { validate: true },
      fake,
    );
    const a = await pool.acquire(); // waited for its creation
    pool.release(a);
    await pool.acquire(); // immediate
    fake.script('create', ok(100));
    const b = track(pool.acquire()); // waited 100 ms
    await advance(100);
    const aborted = new AbortController();
    const c = track(pool.acquire({ signal: aborted.signal }));
    void pool.acquire().catch(() => {}); // queue full
    aborted.abort();
    const d = track(pool.acquire());
    await advance(1000); // d times out; both held resources leak
    pool.release(b.value!);
    await advance(1000);
    await pool.acquire(); // validation fails; a new one is created
    expect([c.status, d.status]).toEqual(['rejected', 'rejected']);
    expect(pool.stats()).toMatchObject({
      acquires: 4,
      waitedAcquires: 3,
      timeouts: 1,
      aborts: 1,
      rejectedQueueFull: 1,
      circuitRejections: 0,
      creates: 3,
      createFailures: 0,
      validationFailures: 1,
      leaks: 2,
      destroys: { ...noDestroys, validation: 1 },
    });
  });

  it('summarises wait, hold and creation times', async () => {
    const fake = new FakeFactory().script('create', ok(100), ok(300));
    const { pool } = makePool({ max: 2 }, {}, fake);
    const first = track(pool.acquire());
    const second = track(pool.acquire());
    await advance(300);
    await advance(20);
    pool.release(first.value!);
    await advance(40);
    pool.release(second.value!);
    const { waitTime, holdTime, createTime } = pool.stats();
    expect(createTime).toEqual({
      count: 2,
      sum: 400,
      min: 100,
      max: 300,
      mean: 200,
      p50: 128,
      p99: 300,
    });
    expect(waitTime).toEqual({
      count: 2,
      sum: 400,
      min: 100,
      max: 300,
      mean: 200,
      p50: 128,
      p99: 300,
    });
    // Held for 320 - 100 = 220 and 360 - 300 = 60 ms.
    expect(holdTime).toEqual({
      count: 2,
      sum: 280,
      min: 60,
      max: 220,
      mean: 140,
      p50: 64,
      p99: 220,
    });
  });

  it('returns a snapshot that does not move afterwards', async () => {
    const { pool } = makePool();
    const before = pool.stats();
    pool.release(await pool.acquire(), new Error('x'));
    expect(before).toMatchObject({ acquires: 0, total: 0, destroys: noDestroys });
    expect(before.waitTime.count).toBe(0);
    expect(pool.stats()).toMatchObject({ acquires: 1, destroys: { ...noDestroys, error: 1 } });
  });
});

describe('LatencySummary', () => {
  it('is all zeros when empty', () => {
    expect(new LatencySummary().snapshot()).toEqual({
      count: 0,
      sum: 0,
      min: 0,
      max: 0,
      mean: 0,
      p50: 0,
      p99: 0,
    });
  });

  it('reads percentiles to within a power of two, never above the maximum', () => {
    const summary = new LatencySummary();
    for (let ms = 1; ms <= 100; ms++) summary.record(ms);
    // The 50th value lies in [32, 64), the 99th in [64, 128), clamped to the max of 100.
    expect(summary.snapshot()).toEqual({
      count: 100,
      sum: 5050,
      min: 1,
      max: 100,
      mean: 50.5,
      p50: 64,
      p99: 100,
    });
  });

  it('puts sub-millisecond values in the first bucket', () => {
    const summary = new LatencySummary();
    summary.record(0.25);
    summary.record(0.5);
    expect(summary.snapshot()).toMatchObject({ min: 0.25, max: 0.5, p50: 0.5, p99: 0.5 });
  });
});

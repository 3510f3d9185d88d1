import { describe, expect, it, vi } from 'vitest';
import {
  AcquireTimeoutError,
  CreateFailedError,
  CreateTimeoutError,
  HookFailedError,
} from '../../src/core/index.js';
import { fail, hang, late, ok, throwSync } from './support/fake-factory.js';
import { advance, flush, makePool, recordEvents, track, useFakeClock } from './support/harness.js';

useFakeClock();

describe('acquireTimeoutMillis: how long a caller waits in the queue', () => {
  it('rejects a waiter exactly at its deadline, saying how long it waited and the counts, itself included', async () => {
    const { pool } = makePool({ max: 1, acquireTimeoutMillis: 1000 });
    const held = await pool.acquire();
    const waiter = track(pool.acquire());
    await advance(999);
    expect(waiter.status).toBe('pending');
    await advance(1);
    expect(waiter.status).toBe('rejected');
    const error = waiter.error as AcquireTimeoutError;
    expect(error).toBeInstanceOf(AcquireTimeoutError);
    expect(error.code).toBe('ERR_POOL_ACQUIRE_TIMEOUT');
    expect(error.waitedMillis).toBe(1000);
    expect(error.message).toBe(
      'Timed out after 1000 ms waiting for a resource (total=1 idle=0 inUse=1 pendingCreates=0 waiting=1)',
    );
    expect(error.counts).toEqual({ total: 1, idle: 0, inUse: 1, pendingCreates: 0, waiting: 1 });
    expect('cause' in error).toBe(false);
    expect(pool.stats()).toMatchObject({ timeouts: 1, waiting: 0 });
    pool.release(held);
    expect(pool.stats()).toMatchObject({ idle: 1, inUse: 0 });
  });

  it('times each waiter out at its own deadline, and counts the others still waiting', async () => {
    const { pool } = makePool({ max: 1, acquireTimeoutMillis: 1000 });
    await pool.acquire();
    const first = track(pool.acquire());
    await advance(300);
    const second = track(pool.acquire());
    await advance(300);
    const third = track(pool.acquire());
    await advance(400); // t = 1000
    expect([first.status, second.status, third.status]).toEqual(['rejected', 'pending', 'pending']);
    expect((first.error as Error).message).toContain('waiting=3)');
    await advance(300); // t = 1300
    expect([second.status, third.status]).toEqual(['rejected', 'pending']);
    expect((second.error as AcquireTimeoutError).waitedMillis).toBe(1000);
    expect((second.error as AcquireTimeoutError).counts.waiting).toBe(2);
    await advance(300); // t = 1600
    expect(third.status).toBe('rejected');
    expect(pool.stats().timeouts).toBe(3);
  });

  it('extends the timeout’s stack with the frames of the caller that waited', async () => {
    const { pool } = makePool({ max: 1, acquireTimeoutMillis: 100, asyncStackTraces: true });
    await pool.acquire();
    async function checkOutFromHandler(): Promise<unknown> {
      return await pool.acquire();
    }
    const waiter = track(checkOutFromHandler());
    await advance(100);
    const stack = (waiter.error as Error).stack!;
    expect(stack).toMatch(/^AcquireTimeoutError: Timed out after 100 ms/);
    expect(stack).toContain('--- acquire() called from ---');
    const callerPart = stack.slice(stack.indexOf('--- acquire() called from ---'));
    expect(callerPart).toContain('checkOutFromHandler');
    expect(callerPart).toContain('timeouts.test.ts');
  });

  it('leaves the stack alone when asyncStackTraces is off, as by default', async () => {
    const { pool } = makePool({ max: 1, acquireTimeoutMillis: 100 });
    await pool.acquire();
    const waiter = track(pool.acquire());
    await advance(100);
    const error = waiter.error as AcquireTimeoutError;
    expect(error.code).toBe('ERR_POOL_ACQUIRE_TIMEOUT');
    expect(error.stack).not.toContain('--- acquire() called from ---');
  });

  it('uses one timer for the whole queue, not one per waiter', async () => {
    const { pool } = makePool({ max: 1, acquireTimeoutMillis: 1000 });
    await pool.acquire();
    const before = vi.getTimerCount();
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const waiters = Array.from({ length: 100 }, () => track(pool.acquire()));
    expect(setTimeoutSpy.mock.calls.length).toBeLessThanOrEqual(1);
    expect(vi.getTimerCount()).toBeLessThanOrEqual(before + 1);
    await advance(1000);
    expect(waiters.every((w) => w.status === 'rejected')).toBe(true);
  });

  it('names the last creation error in the timeout, chained as its cause', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { pool, fake } = makePool({
      acquireTimeoutMillis: 1000,
      circuitBreakerThreshold: Infinity,
    });
    const refused = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    fake.setDefault('create', fail(refused));
    const waiter = track(pool.acquire());
    await advance(1000);
    // Attempts at 0, 50, 150, 350 and 750 ms (half of 100, 200, 400, 800 between them).
    expect(fake.calls.create).toBe(5);
    const error = waiter.error as AcquireTimeoutError;
    expect(error).toBeInstanceOf(AcquireTimeoutError);
    expect(error.message).toBe(
      'Timed out after 1000 ms waiting for a resource (total=0 idle=0 inUse=0 pendingCreates=0 waiting=1); last create error: Creating a resource failed (attempt 5): connect ECONNREFUSED 127.0.0.1:5432',
    );
    expect(error.cause).toBeInstanceOf(CreateFailedError);
    expect((error.cause as CreateFailedError).attempt).toBe(5);
    expect((error.cause as CreateFailedError).cause).toBe(refused);
  });

  it('lets a caller wait forever with Infinity, without a timer', async () => {
    const { pool } = makePool({ max: 1, acquireTimeoutMillis: Infinity });
    const held = await pool.acquire();
    const before = vi.getTimerCount();
    const waiter = track(pool.acquire());
    expect(vi.getTimerCount()).toBe(before);
    await advance(24 * 3600 * 1000);
    expect(waiter.status).toBe('pending');
    pool.release(held);
    await flush();
    expect(waiter.value).toBe(held);
  });

  it('with 0, fails a caller who would have to wait but serves an idle resource', async () => {
    const { pool, fake } = makePool({ max: 1, acquireTimeoutMillis: 0 });
    fake.setDefault('create', ok(10));
    const waiter = track(pool.acquire());
    await advance(1);
    expect(waiter.status).toBe('rejected');
    expect(waiter.error).toMatchObject({ code: 'ERR_POOL_ACQUIRE_TIMEOUT' });
    await advance(9); // the creation it started still completes, and goes idle
    expect(pool.stats()).toMatchObject({ idle: 1, total: 1 });
    const resource = track(pool.acquire());
    await Promise.resolve();
    expect(resource.status).toBe('resolved');
  });

  it('never leaks a resource: the creation a timed-out waiter started joins the idle set', async () => {
    const { pool, fake } = makePool({ acquireTimeoutMillis: 1000 });
    fake.script('create', ok(2500));
    const waiter = track(pool.acquire());
    await advance(1000);
    expect(waiter.status).toBe('rejected');
    expect(pool.stats()).toMatchObject({ pendingCreates: 1, waiting: 0 });
    await advance(1500);
    expect(pool.stats()).toMatchObject({ total: 1, idle: 1, pendingCreates: 0 });
    expect(fake.live.size).toBe(1);
    expect(fake.calls.create).toBe(1);
  });

  it('does not spin on a 1 ms timer when acquireTimeoutMillis exceeds what setTimeout can hold', async () => {
    // Node (and the fake clock) run a delay above 2^31-1 ms after 1 ms instead.
    const { pool } = makePool({ max: 1, acquireTimeoutMillis: 2 ** 31 + 10_000 });
    await pool.acquire();
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const waiter = track(pool.acquire());
    await advance(100);
    expect(waiter.status).toBe('pending');
    expect(setTimeoutSpy.mock.calls.length).toBeLessThanOrEqual(1);
  });
});

describe('createTimeoutMillis: one creation attempt', () => {
  it('aborts the signal of a create that takes too long, then retries for the waiter', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { pool, fake } = makePool({ createTimeoutMillis: 1000 });
    const errors = recordEvents(pool, 'error');
    fake.script('create', hang());
    const waiter = track(pool.acquire());
    await advance(999);
    expect(fake.createSignals[0]!.aborted).toBe(false);
    await advance(1);
    const signal = fake.createSignals[0]!;
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(CreateTimeoutError);
    expect((signal.reason as CreateTimeoutError).code).toBe('ERR_POOL_CREATE_TIMEOUT');
    expect((signal.reason as Error).message).toBe('Creating a resource timed out after 1000 ms');
    expect(errors).toHaveLength(1);
    const failure = errors[0]![1].error as CreateFailedError;
    expect(failure).toBeInstanceOf(CreateFailedError);
    expect(failure.code).toBe('ERR_POOL_CREATE_FAILED');
    expect(failure.cause).toBe(signal.reason);
    expect(failure.message).toBe(
      'Creating a resource failed (attempt 1): Creating a resource timed out after 1000 ms',
    );
    expect(pool.stats()).toMatchObject({ pendingCreates: 0, createFailures: 1 });
    await advance(50); // half of the 100 ms backoff
    expect(fake.calls.create).toBe(2);
    expect(waiter.status).toBe('resolved');
    expect(pool.stats()).toMatchObject({ creates: 1, total: 1, inUse: 1 });
  });

  it('destroys a resource that arrives after its attempt timed out', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.01); // retry 1 ms after the timeout
    const { pool, fake } = makePool({ createTimeoutMillis: 1000 });
    const destroys = recordEvents(pool, 'destroy');
    fake.script('create', late(3000));
    const waiter = track(pool.acquire());
    await advance(1010);
    expect(waiter.status).toBe('resolved'); // from the second attempt
    const good = waiter.value!;
    expect(fake.calls.destroy).toBe(0);
    await advance(1990);
    expect(fake.calls.destroy).toBe(1);
    expect(destroys).toHaveLength(1);
    const [, event] = destroys[0]!;
    expect(event.resource).not.toBe(good);
    expect(event.reason).toBe('error');
    expect([...fake.live]).toEqual([good]);
    expect(pool.stats()).toMatchObject({ total: 1, inUse: 1, idle: 0 });
  });

  it('bounds each attempt separately from the caller’s own deadline', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.01);
    const { pool, fake } = makePool({ createTimeoutMillis: 1000, acquireTimeoutMillis: 10_000 });
    fake.script('create', hang(), hang(), ok());
    const waiter = track(pool.acquire());
    await advance(2010); // attempts at 0, 1001 and 2003 ms
    expect(fake.calls.create).toBe(3);
    expect(waiter.status).toBe('resolved');
    expect(fake.createSignals.map((s) => s.aborted)).toEqual([true, true, false]);
  });

  it('treats a create that throws synchronously as a failed attempt', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.01);
    const { pool, fake } = makePool();
    const errors = recordEvents(pool, 'error');
    const thrown = new TypeError('bad config');
    fake.script('create', throwSync(thrown));
    const waiter = track(pool.acquire());
    await advance(5);
    expect(errors.map(([, e]) => e.error.cause)).toEqual([thrown]);
    expect(waiter.status).toBe('resolved');
    expect(fake.calls.create).toBe(2);
  });
});

describe('destroyTimeoutMillis: one destroy call', () => {
  it('reports a destroy that hangs, and carries on', async () => {
    const { pool, fake } = makePool({ destroyTimeoutMillis: 500 });
    const errors = recordEvents(pool, 'error');
    fake.script('destroy', hang());
    const resource = await pool.acquire();
    pool.release(resource, new Error('broken'));
    await advance(499);
    expect(errors).toEqual([]);
    await advance(1);
    expect(errors).toHaveLength(1);
    const event = errors[0]![1] as { error: HookFailedError; resource: unknown };
    expect(event.resource).toBe(resource);
    expect(event.error).toBeInstanceOf(HookFailedError);
    expect(event.error.code).toBe('ERR_POOL_DESTROY_FAILED');
    expect(event.error.message).toBe("The factory's destroy() did not finish within 500 ms");
    const next = await pool.acquire();
    expect(next).not.toBe(resource);
  });

  it.each([
    ['rejects', fail(new Error('EPIPE'))],
    ['throws', throwSync(new Error('EPIPE'))],
  ])('reports a destroy that %s, with what it threw as the cause', async (_, step) => {
    const { pool, fake } = makePool();
    const errors = recordEvents(pool, 'error');
    fake.script('destroy', step);
    pool.release(await pool.acquire(), new Error('broken'));
    await flush();
    expect(errors).toHaveLength(1);
    const error = errors[0]![1].error;
    expect(error.code).toBe('ERR_POOL_DESTROY_FAILED');
    expect(error.message).toBe("The factory's destroy() failed: EPIPE");
    expect((error.cause as Error).message).toBe('EPIPE');
    expect(pool.stats()).toMatchObject({
      total: 0,
      destroys: expect.objectContaining({ error: 1 }),
    });
  });
});

import { describe, expect, it } from 'vitest';
import { HookFailedError } from '../../src/core/index.js';
import { answer, fail, hang, ok, throwSync, type FakeResource } from './support/fake-factory.js';
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

/** A pool holding `n` idle resources, all released at the current time. */
async function poolWithIdle(
  n: number,
  options: Parameters<typeof makePool>[0] = {},
): Promise<TestPool & { resources: FakeResource[] }> {
  const made = makePool({ max: n, ...options }, { validate: true });
  const resources = await Promise.all(Array.from({ length: n }, () => made.pool.acquire()));
  for (const r of resources) made.pool.release(r);
  return { ...made, resources };
}

describe('validation before hand-out', () => {
  it('does not validate a resource idle for exactly validateAfterIdleMillis', async () => {
    const { pool, fake, resources } = await poolWithIdle(1);
    await advance(500);
    expect(await pool.acquire()).toBe(resources[0]);
    expect(fake.calls.validate).toBe(0);
  });

  it('validates a resource idle longer than that, and hands it out once it passes', async () => {
    const { pool, fake, resources } = await poolWithIdle(1);
    const acquires = recordEvents(pool, 'acquire');
    fake.script('validate', ok(20));
    await advance(501);
    const waiter = track(pool.acquire());
    expect(fake.validated).toEqual(resources);
    await advance(19);
    expect(waiter.status).toBe('pending');
    expect(pool.stats()).toMatchObject({ waiting: 1, idle: 0, inUse: 0, total: 1 });
    await advance(1);
    expect(waiter.value).toBe(resources[0]);
    expect(acquires).toEqual([['acquire', { resource: resources[0], waitedMillis: 20 }]]);
    // Both the first acquire (which waited for the creation) and this one count as waited.
    expect(pool.stats()).toMatchObject({ acquires: 2, waitedAcquires: 2, inUse: 1 });
  });

  it('restarts the idle clock when a resource is used, so a busy resource is not re-validated', async () => {
    const { pool, fake } = await poolWithIdle(1);
    await advance(1000);
    for (let i = 0; i < 5; i++) {
      pool.release(await pool.acquire());
      await advance(400);
    }
    expect(fake.calls.validate).toBe(1);
  });

  it('validates after any idle time when validateAfterIdleMillis is 0', async () => {
    const { pool, fake } = await poolWithIdle(1, { validateAfterIdleMillis: 0 });
    pool.release(await pool.acquire()); // no time passed: no check
    expect(fake.calls.validate).toBe(0);
    await advance(1);
    pool.release(await pool.acquire());
    expect(fake.calls.validate).toBe(1);
  });

  it('never validates without a validate hook', async () => {
    const { pool, fake } = makePool();
    pool.release(await pool.acquire());
    await advance(10_000);
    pool.release(await pool.acquire());
    expect(fake.calls.validate).toBe(0);
  });

  it('does not start a creation for a caller whose resource is being validated', async () => {
    const { pool, fake } = await poolWithIdle(1, { max: 5 });
    fake.script('validate', ok(100));
    await advance(1000);
    const waiter = track(pool.acquire());
    await advance(50);
    expect(pool.stats().pendingCreates).toBe(0);
    expect(fake.calls.create).toBe(1);
    await advance(50);
    expect(waiter.status).toBe('resolved');
  });

  it.each([
    ['returns false', answer(false), undefined],
    [
      'rejects',
      fail(new Error('connection lost')),
      "The factory's validate() failed: connection lost",
    ],
    [
      'throws',
      throwSync(new Error('connection lost')),
      "The factory's validate() failed: connection lost",
    ],
    [
      'hangs past validateTimeoutMillis',
      hang(),
      "The factory's validate() did not finish within 300 ms",
    ],
  ])(
    'destroys a resource whose validation %s, and gives the caller a new one',
    async (_, step, message) => {
      const { pool, fake, resources } = await poolWithIdle(1, { validateTimeoutMillis: 300 });
      const destroys = recordEvents(pool, 'destroy');
      const [dead] = resources;
      fake.script('validate', step);
      await advance(1000);
      const waiter = track(pool.acquire());
      await advance(step.kind === 'hang' ? 300 : 0);
      await flush();
      expect(destroys).toHaveLength(1);
      const [, event] = destroys[0]!;
      expect(event.resource).toBe(dead);
      expect(event.reason).toBe('validation');
      if (message === undefined) {
        expect('error' in event).toBe(false);
      } else {
        const error = event.error as HookFailedError;
        expect(error).toBeInstanceOf(HookFailedError);
        expect(error.code).toBe('ERR_POOL_VALIDATION_FAILED');
        expect(error.message).toBe(message);
        if (step.kind === 'fail') expect(error.cause).toBe(step.error);
      }
      expect(waiter.status).toBe('resolved');
      expect(waiter.value).not.toBe(dead);
      expect(fake.live.has(dead!)).toBe(false);
      expect(fake.calls.create).toBe(2);
      expect(pool.stats()).toMatchObject({
        validationFailures: 1,
        total: 1,
        inUse: 1,
        destroys: expect.objectContaining({ validation: 1 }),
      });
    },
  );

  it('tries the next idle resource before creating a new one', async () => {
    const { pool, fake, resources } = await poolWithIdle(2);
    fake.script('validate', answer(false), answer(true));
    await advance(1000);
    const resource = await pool.acquire();
    // The most recently released one is checked first.
    expect(fake.validated).toEqual([resources[1], resources[0]]);
    expect(resource).toBe(resources[0]);
    expect(fake.calls.create).toBe(2);
  });

  it('never hands out a resource the pool could have caught dead', async () => {
    const { pool, fake, resources } = await poolWithIdle(3);
    fake.setDefault('validate', answer(false));
    await advance(1000);
    const resource = await pool.acquire();
    expect(resources).not.toContain(resource);
    expect(fake.validated).toHaveLength(3);
    expect(pool.stats()).toMatchObject({ validationFailures: 3, total: 1, inUse: 1 });
  });

  it('gives the caller a new resource within its own deadline after a hung validation', async () => {
    const { pool, fake } = await poolWithIdle(1, {
      validateTimeoutMillis: 300,
      acquireTimeoutMillis: 1000,
    });
    fake.script('validate', hang());
    fake.script('create', ok(200));
    await advance(1000);
    const waiter = track(pool.acquire());
    await advance(499);
    expect(waiter.status).toBe('pending');
    await advance(1);
    expect(waiter.status).toBe('resolved');
  });

  it('validates idle resources for concurrent callers in parallel when the pool is full', async () => {
    const { pool, fake, resources } = await poolWithIdle(2);
    fake.setDefault('validate', ok(100));
    await advance(1000);
    const first = track(pool.acquire());
    const second = track(pool.acquire());
    await advance(100);
    expect(fake.validated).toHaveLength(2);
    expect([first.status, second.status]).toEqual(['resolved', 'resolved']);
    expect(new Set([first.value, second.value])).toEqual(new Set(resources));
  });

  it('does not leave callers waiting behind a hung validation while another resource is idle', async () => {
    const { pool, fake, resources } = await poolWithIdle(2, { acquireTimeoutMillis: 2000 });
    fake.script('validate', hang(), ok());
    await advance(1000);
    const first = track(pool.acquire());
    const second = track(pool.acquire());
    await advance(10);
    // The idle resource is checked too, and goes to the oldest caller, as FIFO says.
    expect(fake.validated).toEqual([resources[1], resources[0]]);
    expect(first.status).toBe('resolved');
    expect(first.value).toBe(resources[0]);
    expect(second.status).toBe('pending');
  });

  it('gives a validated resource to the idle set when its caller gave up meanwhile', async () => {
    const { pool, fake, resources } = await poolWithIdle(1);
    fake.script('validate', ok(100));
    await advance(1000);
    const controller = new AbortController();
    const waiter = track(pool.acquire({ signal: controller.signal }));
    await advance(50);
    controller.abort();
    await advance(50);
    expect(waiter.error).toMatchObject({ code: 'ERR_POOL_ABORTED' });
    expect(pool.stats()).toMatchObject({ idle: 1, inUse: 0, total: 1 });
    expect(await pool.acquire()).toBe(resources[0]);
  });
});

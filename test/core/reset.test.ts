import { describe, expect, it } from 'vitest';
import { HookFailedError, ReleaseError } from '../../src/core/index.js';
import { fail, hang, ok, okSync, throwSync } from './support/fake-factory.js';
import { advance, flush, makePool, recordEvents, track, useFakeClock } from './support/harness.js';

useFakeClock();

describe('reset on return', () => {
  it('runs reset on every clean release, before anyone else can get the resource', async () => {
    const { pool, fake } = makePool({ max: 1 }, { reset: true });
    fake.script('reset', ok(30));
    const resource = await pool.acquire();
    const waiter = track(pool.acquire());
    pool.release(resource);
    expect(fake.resetted).toEqual([resource]);
    await advance(29);
    expect(waiter.status).toBe('pending');
    expect(pool.stats()).toMatchObject({ total: 1, idle: 0, inUse: 0, waiting: 1 });
    await advance(1);
    expect(waiter.value).toBe(resource);
  });

  it('puts a reset resource back in the idle set when nobody waits', async () => {
    const { pool, fake } = makePool({}, { reset: true });
    fake.script('reset', ok(10));
    const resource = await pool.acquire();
    pool.release(resource);
    expect(pool.stats().idle).toBe(0);
    await advance(10);
    expect(pool.stats()).toMatchObject({ idle: 1, total: 1 });
  });

  it('accepts a reset that answers synchronously', async () => {
    const { pool, fake } = makePool({}, { reset: true });
    fake.setDefault('reset', okSync());
    const resource = await pool.acquire();
    pool.release(resource);
    await flush();
    expect(await pool.acquire()).toBe(resource);
  });

  it('does not reset a resource released with an error: it is destroyed', async () => {
    const { pool, fake } = makePool({}, { reset: true });
    const resource = await pool.acquire();
    pool.release(resource, new Error('bad'));
    expect(fake.calls.reset).toBe(0);
    expect(fake.live.size).toBe(0);
  });

  it.each([
    [
      'rejects',
      fail(new Error('ROLLBACK failed')),
      "The factory's reset() failed: ROLLBACK failed",
    ],
    [
      'throws',
      throwSync(new Error('ROLLBACK failed')),
      "The factory's reset() failed: ROLLBACK failed",
    ],
    [
      'hangs past resetTimeoutMillis',
      hang(),
      "The factory's reset() did not finish within 2000 ms",
    ],
  ])('destroys a resource whose reset %s, with reason "reset"', async (_, step, message) => {
    const { pool, fake } = makePool({ max: 1, resetTimeoutMillis: 2000 }, { reset: true });
    const log = recordEvents(pool, 'destroy', 'error');
    fake.script('reset', step);
    const resource = await pool.acquire();
    const waiter = track(pool.acquire());
    pool.release(resource);
    await advance(1999);
    expect(fake.live.has(resource)).toBe(step.kind === 'hang');
    await advance(1);
    expect(fake.live.has(resource)).toBe(false);
    expect(log.map(([name]) => name)).toEqual(['error', 'destroy']);
    const [, errorEvent] = log[0] as ['error', { error: HookFailedError; resource: unknown }];
    expect(errorEvent.error).toBeInstanceOf(HookFailedError);
    expect(errorEvent.error.code).toBe('ERR_POOL_RESET_FAILED');
    expect(errorEvent.error.message).toBe(message);
    expect(errorEvent.resource).toBe(resource);
    if (step.kind === 'fail') expect(errorEvent.error.cause).toBe(step.error);
    expect(log[1]).toEqual(['destroy', { resource, reason: 'reset', error: errorEvent.error }]);
    expect(pool.stats().destroys.reset).toBe(1);
    // The waiter is not left behind: a new resource is made for it.
    await flush();
    expect(waiter.status).toBe('resolved');
    expect(waiter.value).not.toBe(resource);
    expect(fake.calls.create).toBe(2);
  });

  it('refuses a second release while the first is still resetting', async () => {
    const { pool, fake } = makePool({}, { reset: true });
    fake.script('reset', ok(100));
    const resource = await pool.acquire();
    pool.release(resource);
    expect(() => pool.release(resource)).toThrow(ReleaseError);
    await advance(100);
    expect(fake.calls.reset).toBe(1);
    expect(pool.stats()).toMatchObject({ idle: 1, total: 1 });
  });

  it('counts a resource being reset toward max', async () => {
    const { pool, fake } = makePool({ max: 1 }, { reset: true });
    fake.script('reset', ok(100));
    const resource = await pool.acquire();
    pool.release(resource);
    const waiter = track(pool.acquire());
    await advance(50);
    expect(fake.calls.create).toBe(1);
    expect(pool.stats()).toMatchObject({ total: 1, pendingCreates: 0 });
    await advance(50);
    expect(waiter.value).toBe(resource);
  });
});

describe('a reset that answers synchronously', () => {
  it('hands the resource to the next waiter inside release(), with no promise hop', async () => {
    const { pool, fake } = makePool({ max: 1 }, { reset: true });
    fake.setDefault('reset', okSync());
    const r = await pool.acquire();
    const acquired: unknown[] = [];
    pool.on('acquire', ({ resource }) => acquired.push(resource));
    const waiter = track(pool.acquire());
    pool.release(r);
    expect(acquired).toEqual([r]); // already handed over when release() returns
    await flush();
    expect(waiter.value).toBe(r);
    expect(fake.calls.reset).toBe(1);
  });

  it('destroys the resource when reset throws synchronously', async () => {
    const { pool, fake } = makePool({ max: 1 }, { reset: true });
    fake.setDefault('reset', throwSync(new Error('cannot reset')));
    const r = await pool.acquire();
    const reasons: string[] = [];
    pool.on('destroy', ({ reason }) => reasons.push(reason));
    pool.release(r);
    expect(reasons).toEqual(['reset']);
    await flush();
    expect(fake.live.has(r)).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { CreateFailedError, Pool } from '../../src/core/index.js';
import { FakeFactory, fail, hang, ok } from './support/fake-factory.js';
import { advance, flush, makePool, rejectionOf, track, useFakeClock } from './support/harness.js';

useFakeClock();

describe('evicting a resource known to be broken', () => {
  it('destroys an idle resource at once and replaces it to keep min', async () => {
    const { pool, fake } = makePool({ min: 2 });
    await flush();
    expect(pool.idle).toBe(2);
    const [dead] = [...fake.live];
    const destroyed: string[] = [];
    pool.on('destroy', ({ reason }) => destroyed.push(reason));
    expect(pool.evict(dead!, new Error('server closed the connection'))).toBe(true);
    expect(destroyed).toEqual(['error']);
    expect(fake.live.has(dead!)).toBe(false);
    await flush();
    expect(pool.total).toBe(2);
    expect(fake.calls.create).toBe(3);
    expect(fake.live.size).toBe(2);
  });

  it('never hands the evicted idle resource to the next caller', async () => {
    const { pool } = makePool({ max: 2 });
    const a = await pool.acquire();
    const b = await pool.acquire();
    pool.release(a);
    pool.release(b);
    pool.evict(b);
    const next = await pool.acquire();
    expect(next).toBe(a);
  });

  it('destroys a checked-out resource when it comes back, instead of reusing it', async () => {
    const { pool, fake } = makePool({ max: 1 });
    const r = await pool.acquire();
    expect(pool.evict(r)).toBe(true);
    expect(fake.live.has(r)).toBe(true); // in use: never killed under the caller
    const waiter = track(pool.acquire());
    pool.release(r);
    await flush();
    expect(fake.live.has(r)).toBe(false);
    expect(waiter.status).toBe('resolved');
    expect(waiter.value).not.toBe(r);
  });

  it('destroys a resource evicted while its validation runs', async () => {
    const { pool, fake } = makePool({ max: 1 }, { validate: true });
    const r = await pool.acquire();
    pool.release(r);
    await advance(600); // past the 500 ms validation window
    fake.script('validate', ok(50));
    const waiter = track(pool.acquire());
    pool.evict(r);
    await advance(50);
    expect(fake.live.has(r)).toBe(false);
    expect(waiter.status).toBe('resolved');
    expect(waiter.value).not.toBe(r);
  });

  it('returns false for a resource the pool does not hold', async () => {
    const { pool } = makePool();
    const r = await pool.acquire();
    pool.release(r, new Error('broken'));
    expect(pool.evict(r)).toBe(false);
    expect(pool.evict({ id: -1 })).toBe(false);
  });
});

describe('creation errors that retrying cannot fix', () => {
  const badPassword = Object.assign(new Error('password authentication failed'), {
    code: '28P01',
  });

  function poolWithClassifier(fake: FakeFactory) {
    const factory = fake.factory();
    return new Pool(
      { ...factory, retryable: (error) => (error as { code?: string }).code !== '28P01' },
      { max: 2, acquireTimeoutMillis: 10_000, circuitBreakerThreshold: 5 },
    );
  }

  it('fail every waiting caller at once, with the cause chained', async () => {
    const fake = new FakeFactory();
    fake.setDefault('create', fail(badPassword));
    const pool = poolWithClassifier(fake);
    const first = track(pool.acquire());
    const second = track(pool.acquire());
    await flush();
    expect(fake.calls.create).toBe(2); // healthy until now: one attempt per caller, in parallel
    expect([first.status, second.status]).toEqual(['rejected', 'rejected']);
    const error = first.error as CreateFailedError;
    expect(error).toBeInstanceOf(CreateFailedError);
    expect(error.code).toBe('ERR_POOL_CREATE_FAILED');
    expect(error.cause).toBe(badPassword);
    expect((second.error as CreateFailedError).cause).toBe(badPassword);
    await pool.end();
  });

  it('leave retryable errors to the backoff: callers keep waiting', async () => {
    const fake = new FakeFactory();
    fake.script('create', fail(new Error('connect ECONNREFUSED')), ok());
    const pool = poolWithClassifier(fake);
    const waiter = track(pool.acquire());
    await flush();
    expect(waiter.status).toBe('pending');
    await advance(200);
    expect(waiter.status).toBe('resolved');
    pool.release(waiter.value!);
    await pool.end();
  });

  it('are still counted by the backoff, so the next caller does not trigger a storm', async () => {
    const fake = new FakeFactory();
    fake.setDefault('create', fail(badPassword));
    const pool = poolWithClassifier(fake);
    await rejectionOf(pool.acquire());
    const again = track(pool.acquire());
    await flush();
    expect(fake.calls.create).toBe(1); // the retry waits for its backoff delay
    await advance(100);
    expect(fake.calls.create).toBe(2);
    expect(again.status).toBe('rejected');
    fake.setDefault('create', hang());
    await pool.end();
  });
});

/**
 * `end()` drains by default: work already asked for is served, new work is refused, and only
 * then is everything closed. `timeoutMillis` bounds the drain.
 */
import { describe, expect, it } from 'vitest';

import { PoolClosedError } from '../../src/core/index.js';
import { hang, ok } from './support/fake-factory.js';
import { advance, flush, makePool, track, useFakeClock } from './support/harness.js';

useFakeClock();

describe('end() drains', () => {
  it('serves the callers already waiting, then closes what they give back', async () => {
    const { pool, fake } = makePool({ max: 1 });
    const held = await pool.acquire();
    const waiters = [track(pool.acquire()), track(pool.acquire())];
    const ended = track(pool.end());
    await flush();
    expect(waiters.map((w) => w.status)).toEqual(['pending', 'pending']);
    pool.release(held);
    await flush();
    expect(waiters[0]!.value).toBe(held);
    pool.release(waiters[0]!.value!);
    await flush();
    expect(waiters[1]!.value).toBe(held);
    expect(ended.status).toBe('pending');
    pool.release(waiters[1]!.value!);
    await flush();
    expect(ended.status).toBe('resolved');
    expect(fake.live.size).toBe(0);
  });

  it('refuses acquires made after end(), while it drains', async () => {
    const { pool } = makePool({ max: 1 });
    const held = await pool.acquire();
    const waiter = track(pool.acquire());
    void pool.end();
    const late = track(pool.acquire());
    await flush();
    expect(late.error).toBeInstanceOf(PoolClosedError);
    expect(waiter.status).toBe('pending');
    pool.release(held);
    await flush();
    expect(waiter.value).toBe(held);
  });

  it('still creates resources for the callers waiting when it was called', async () => {
    const { pool, fake } = makePool({ max: 3 });
    fake.setDefault('create', ok(50));
    const waiters = [track(pool.acquire()), track(pool.acquire())];
    const ended = track(pool.end());
    await advance(50);
    expect(waiters.map((w) => w.status)).toEqual(['resolved', 'resolved']);
    for (const w of waiters) pool.release(w.value!);
    await flush();
    expect(ended.status).toBe('resolved');
    expect(fake.calls.create).toBe(2);
    expect(fake.live.size).toBe(0);
  });

  it('destroys idle resources at once when nobody waits, and the counts say so', async () => {
    const { pool, fake } = makePool({ max: 2 });
    const [a, b] = [await pool.acquire(), await pool.acquire()];
    pool.release(a);
    const seen: number[][] = [];
    pool.on('destroy', () => seen.push([pool.total, pool.idle]));
    const ended = track(pool.end());
    await flush();
    expect(seen).toEqual([[1, 0]]);
    expect(fake.live.has(a)).toBe(false);
    pool.release(b);
    await flush();
    expect(ended.status).toBe('resolved');
  });

  it('rejects the callers still waiting when timeoutMillis runs out', async () => {
    const { pool, fake } = makePool({ max: 1 });
    fake.setDefault('create', hang());
    const waiter = track(pool.acquire());
    const ended = track(pool.end({ timeoutMillis: 1000 }));
    await advance(999);
    expect(waiter.status).toBe('pending');
    await advance(1);
    await flush();
    expect(waiter.error).toBeInstanceOf(PoolClosedError);
    expect((waiter.error as Error).message).toBe('The pool was ended while this caller waited');
    expect(waiter.settleCount).toBe(1);
    expect(ended.status).toBe('resolved');
  });

  it('ends once the last waiter times out, without waiting for end()’s own timeout', async () => {
    const { pool, fake } = makePool({ max: 1, acquireTimeoutMillis: 200 });
    fake.setDefault('create', hang());
    const waiter = track(pool.acquire());
    const ended = track(pool.end({ timeoutMillis: 60_000 }));
    await advance(200);
    await flush();
    expect(waiter.error).toMatchObject({ code: 'ERR_POOL_ACQUIRE_TIMEOUT' });
    // The creation it waited for is aborted, and then end() has nothing left to wait for.
    await advance(1);
    expect(ended.status).toBe('resolved');
    expect(pool.pendingCreates).toBe(0);
  });
});

import { describe, expect, it, vi } from 'vitest';
import { AbortedError, QueueFullError } from '../../src/core/index.js';
import { ok } from './support/fake-factory.js';
import { advance, flush, makePool, rejectionOf, track, useFakeClock } from './support/harness.js';

useFakeClock();

describe('maxWaiting: backpressure', () => {
  it('rejects the next acquire at once with ERR_POOL_QUEUE_FULL when maxWaiting callers wait', async () => {
    const { pool, fake } = makePool({ max: 1, maxWaiting: 2 });
    const held = await pool.acquire();
    const waiters = [track(pool.acquire()), track(pool.acquire())];
    const error = await rejectionOf(pool.acquire());
    expect(error).toBeInstanceOf(QueueFullError);
    expect((error as QueueFullError).code).toBe('ERR_POOL_QUEUE_FULL');
    expect((error as QueueFullError).maxWaiting).toBe(2);
    expect((error as Error).message).toBe(
      'The acquire queue is full (maxWaiting=2); rejecting instead of queueing more callers',
    );
    expect(pool.stats()).toMatchObject({ waiting: 2, rejectedQueueFull: 1 });
    expect(fake.calls.create).toBe(1);
    pool.release(held);
    await flush();
    expect(waiters.map((w) => w.status)).toEqual(['resolved', 'pending']);
  });

  it('counts waiters for creations too, not just waiters for a release', async () => {
    const { pool, fake } = makePool({ max: 5, maxWaiting: 1 });
    fake.setDefault('create', ok(100));
    const first = track(pool.acquire());
    expect(await rejectionOf(pool.acquire())).toBeInstanceOf(QueueFullError);
    await advance(100);
    expect(first.status).toBe('resolved');
  });

  it('makes room again as waiters are served, abort or time out', async () => {
    const { pool } = makePool({ max: 1, maxWaiting: 1, acquireTimeoutMillis: 1000 });
    const held = await pool.acquire();
    const controller = new AbortController();
    track(pool.acquire({ signal: controller.signal }));
    expect(await rejectionOf(pool.acquire())).toBeInstanceOf(QueueFullError);
    controller.abort();
    const timesOut = track(pool.acquire()); // room after the abort
    expect(await rejectionOf(pool.acquire())).toBeInstanceOf(QueueFullError);
    await advance(1000);
    expect(timesOut.error).toMatchObject({ code: 'ERR_POOL_ACQUIRE_TIMEOUT' });
    const served = track(pool.acquire()); // room after the timeout
    pool.release(held);
    await flush();
    expect(served.value).toBe(held);
    const last = track(pool.acquire()); // room after the hand-over
    expect(last.status).toBe('pending');
    expect(pool.stats().rejectedQueueFull).toBe(2);
  });

  it('with maxWaiting 0, never queues a caller but still serves idle resources', async () => {
    const { pool, fake } = makePool({ max: 2, maxWaiting: 0, min: 1 });
    await flush();
    const resource = await pool.acquire();
    expect(await rejectionOf(pool.acquire())).toBeInstanceOf(QueueFullError);
    expect(fake.calls.create).toBe(1);
    pool.release(resource);
    expect(await pool.acquire()).toBe(resource);
  });
});

describe('AbortSignal', () => {
  it('cancels a waiting acquire with ERR_POOL_ABORTED, the signal’s reason as cause', async () => {
    const { pool } = makePool({ max: 1 });
    await pool.acquire();
    const controller = new AbortController();
    const waiter = track(pool.acquire({ signal: controller.signal }));
    await advance(100);
    const reason = new Error('the HTTP client disconnected');
    controller.abort(reason);
    expect(waiter.status).toBe('pending'); // settles on the next microtask
    await flush();
    expect(waiter.error).toBeInstanceOf(AbortedError);
    expect((waiter.error as AbortedError).code).toBe('ERR_POOL_ABORTED');
    expect((waiter.error as Error).cause).toBe(reason);
    expect(pool.stats()).toMatchObject({ waiting: 0, aborts: 1 });
  });

  it('uses the default AbortError reason when abort() is called without one', async () => {
    const { pool } = makePool({ max: 1 });
    await pool.acquire();
    const controller = new AbortController();
    const waiter = track(pool.acquire({ signal: controller.signal }));
    controller.abort();
    await flush();
    expect((waiter.error as Error).cause).toBe(controller.signal.reason);
    expect(((waiter.error as Error).cause as DOMException).name).toBe('AbortError');
  });

  it('rejects at once with an already aborted signal, starting nothing', async () => {
    const { pool, fake } = makePool();
    const reason = new Error('too late');
    const error = await rejectionOf(pool.acquire({ signal: AbortSignal.abort(reason) }));
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as Error).cause).toBe(reason);
    expect(fake.calls.create).toBe(0);
    expect(pool.stats().waiting).toBe(0);
  });

  it('does nothing once the acquire has resolved', async () => {
    const { pool, fake } = makePool();
    const controller = new AbortController();
    const resource = await pool.acquire({ signal: controller.signal });
    controller.abort();
    await flush();
    expect(pool.stats()).toMatchObject({ inUse: 1, aborts: 0 });
    expect(fake.live.has(resource)).toBe(true);
    pool.release(resource);
  });

  it('removes its abort listener once the acquire settles', async () => {
    const { pool } = makePool({ max: 1 });
    const controller = new AbortController();
    const add = vi.spyOn(controller.signal, 'addEventListener');
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    const held = await pool.acquire({ signal: controller.signal });
    const waiter = track(pool.acquire({ signal: controller.signal }));
    pool.release(held);
    await flush();
    expect(waiter.value).toBe(held);
    expect(add).toHaveBeenCalled();
    for (const [type, listener] of add.mock.calls) {
      expect(remove).toHaveBeenCalledWith(type, listener);
    }
  });

  it('never leaks a resource: the creation an aborted waiter started joins the idle set', async () => {
    const { pool, fake } = makePool();
    fake.script('create', ok(500));
    const controller = new AbortController();
    const waiter = track(pool.acquire({ signal: controller.signal }));
    await advance(100);
    controller.abort();
    await advance(400);
    expect(waiter.error).toBeInstanceOf(AbortedError);
    expect(fake.createSignals[0]!.aborted).toBe(false); // the creation was not cancelled
    expect(pool.stats()).toMatchObject({ total: 1, idle: 1, inUse: 0, pendingCreates: 0 });
    expect(fake.calls.destroy).toBe(0);
  });

  it('gives the resource an aborted waiter would have had to the next one in line', async () => {
    const { pool } = makePool({ max: 1 });
    const held = await pool.acquire();
    const controller = new AbortController();
    const first = track(pool.acquire({ signal: controller.signal }));
    const second = track(pool.acquire());
    controller.abort();
    pool.release(held);
    await flush();
    expect(first.status).toBe('rejected');
    expect(second.value).toBe(held);
  });

  it('cancels every waiting acquire that shares one signal', async () => {
    const { pool } = makePool({ max: 1 });
    const held = await pool.acquire();
    const controller = new AbortController();
    const waiters = [1, 2, 3].map(() => track(pool.acquire({ signal: controller.signal })));
    const other = track(pool.acquire());
    controller.abort();
    await flush();
    expect(waiters.map((w) => w.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(pool.stats()).toMatchObject({ waiting: 1, aborts: 3 });
    pool.release(held);
    await flush();
    expect(other.value).toBe(held);
  });
});

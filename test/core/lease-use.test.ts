import { describe, expect, it } from 'vitest';
import { Lease, ReleaseError } from '../../src/core/index.js';
import { fail, type FakeResource } from './support/fake-factory.js';
import { makePool, recordEvents, rejectionOf, useFakeClock } from './support/harness.js';

useFakeClock();

describe('pool.use', () => {
  it('acquires, runs the function with the resource, releases, and returns its result', async () => {
    const { pool } = makePool();
    let seen: FakeResource | undefined;
    const result = await pool.use((resource) => {
      seen = resource;
      expect(pool.stats().inUse).toBe(1);
      return 42;
    });
    expect(result).toBe(42);
    expect(pool.stats()).toMatchObject({ inUse: 0, idle: 1 });
    expect(await pool.acquire()).toBe(seen);
  });

  it('awaits an async function before releasing', async () => {
    const { pool } = makePool();
    const result = await pool.use(async () => {
      await Promise.resolve();
      expect(pool.stats().inUse).toBe(1);
      return 'done';
    });
    expect(result).toBe('done');
    expect(pool.stats().inUse).toBe(0);
  });

  it('releases the resource and rethrows when the function throws', async () => {
    const { pool, fake } = makePool();
    const failure = new Error('query failed');
    const error = await rejectionOf(
      pool.use(async () => {
        throw failure;
      }),
    );
    expect(error).toBe(failure);
    expect(pool.stats()).toMatchObject({ inUse: 0, idle: 1, total: 1 });
    expect(fake.calls.destroy).toBe(0);
  });

  it('does not run the function when the acquire fails', async () => {
    const { pool, fake } = makePool({ circuitBreakerThreshold: 1 });
    fake.script('create', fail(new Error('down')));
    let ran = false;
    const error = await rejectionOf(
      pool.use(() => {
        ran = true;
      }),
    );
    expect(ran).toBe(false);
    expect(error).toMatchObject({ code: 'ERR_POOL_CIRCUIT_OPEN' });
  });

  it('passes the acquire options through', async () => {
    const { pool } = makePool();
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    const error = await rejectionOf(pool.use(() => 1, { signal: controller.signal }));
    expect(error).toMatchObject({ code: 'ERR_POOL_ABORTED', cause: controller.signal.reason });
  });
});

describe('pool.lease', () => {
  it('resolves to a lease holding a checked-out resource', async () => {
    const { pool } = makePool();
    const lease = await pool.lease();
    expect(lease).toBeInstanceOf(Lease);
    expect(lease.released).toBe(false);
    expect(pool.stats().inUse).toBe(1);
    lease.release();
    expect(lease.released).toBe(true);
    expect(pool.stats()).toMatchObject({ inUse: 0, idle: 1 });
    expect(await pool.acquire()).toBe(lease.resource);
  });

  it('destroys the resource when the lease is released with an error', async () => {
    const { pool, fake } = makePool();
    const events = recordEvents(pool, 'destroy');
    const lease = await pool.lease();
    const failure = new Error('protocol error');
    lease.release(failure);
    expect(events).toEqual([
      ['destroy', { resource: lease.resource, reason: 'error', error: failure }],
    ]);
    expect(fake.live.size).toBe(0);
  });

  it('throws ERR_POOL_RELEASE_INVALID when a lease is released twice', async () => {
    const { pool } = makePool();
    const lease = await pool.lease();
    lease.release();
    const again = (): void => lease.release();
    expect(again).toThrow(ReleaseError);
    expect(again).toThrow('This lease was already released');
    expect(pool.stats()).toMatchObject({ inUse: 0, idle: 1 });
  });

  it('is released at the end of an `await using` block', async () => {
    const { pool } = makePool();
    let resource: FakeResource | undefined;
    {
      await using lease = await pool.lease();
      resource = lease.resource;
      expect(pool.stats().inUse).toBe(1);
    }
    expect(pool.stats()).toMatchObject({ inUse: 0, idle: 1 });
    expect(await pool.acquire()).toBe(resource);
  });

  it('is released by `await using` even when the block throws', async () => {
    const { pool } = makePool();
    const failure = new Error('inside the block');
    const run = async (): Promise<void> => {
      await using _lease = await pool.lease();
      expect(pool.stats().inUse).toBe(1);
      throw failure;
    };
    expect(await rejectionOf(run())).toBe(failure);
    expect(pool.stats()).toMatchObject({ inUse: 0, idle: 1 });
  });

  it('is not released twice by `await using` after an explicit release', async () => {
    const { pool, fake } = makePool();
    {
      await using lease = await pool.lease();
      lease.release(new Error('broken'));
    }
    expect(pool.stats()).toMatchObject({ inUse: 0, total: 0 });
    expect(fake.calls.destroy).toBe(1);
    expect(fake.badDestroys).toEqual([]);
  });

  it('passes the acquire options through', async () => {
    const { pool } = makePool();
    const controller = new AbortController();
    controller.abort('stop');
    expect(await rejectionOf(pool.lease({ signal: controller.signal }))).toMatchObject({
      code: 'ERR_POOL_ABORTED',
      cause: 'stop',
    });
  });
});

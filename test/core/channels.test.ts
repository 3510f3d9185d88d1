/**
 * The diagnostics channels: a subscriber sees every acquire, release, create and destroy, in
 * the order they happened, with start and end sharing one context object.
 */
import * as diagnosticsChannel from 'node:diagnostics_channel';

import { afterEach, describe, expect, it } from 'vitest';
import { channels, type PoolError } from '../../src/index.js';
import { fail, hang } from './support/fake-factory.js';
import { advance, flush, makePool, track, useFakeClock } from './support/harness.js';

useFakeClock();

type Seen = { channel: string; message: Record<string, unknown> };

const subscriptions: (() => void)[] = [];
afterEach(() => {
  for (const unsubscribe of subscriptions.splice(0)) unsubscribe();
});

/** Subscribes to every lifeguard pool channel; returns the log of what arrived, in order. */
function subscribeAll(): Seen[] {
  const seen: Seen[] = [];
  for (const name of Object.values(channels)) {
    const listener = (message: unknown): void => {
      seen.push({ channel: name, message: message as Record<string, unknown> });
    };
    diagnosticsChannel.subscribe(name, listener);
    subscriptions.push(() => diagnosticsChannel.unsubscribe(name, listener));
  }
  return seen;
}

const short = (seen: Seen[]): string[] => seen.map((s) => s.channel.replace('lifeguard:pool:', ''));

describe('diagnostics channels', () => {
  it('names the channels lifeguard:pool:* and lifeguard:pg:*', () => {
    expect(channels).toEqual({
      acquireStart: 'lifeguard:pool:acquire:start',
      acquireEnd: 'lifeguard:pool:acquire:end',
      release: 'lifeguard:pool:release',
      createStart: 'lifeguard:pool:create:start',
      createEnd: 'lifeguard:pool:create:end',
      destroy: 'lifeguard:pool:destroy',
      queryStart: 'lifeguard:pg:query:start',
      queryEnd: 'lifeguard:pg:query:end',
    });
  });

  it('publishes every step of a checkout, in order, start and end on one object', async () => {
    const seen = subscribeAll();
    const { pool } = makePool({ name: 'orders', max: 1 });
    const resource = await pool.acquire();
    const waiter = track(pool.acquire());
    await advance(25);
    pool.release(resource);
    await flush();
    expect(waiter.status).toBe('resolved');
    pool.release(waiter.value!, new Error('broken'));
    await flush();

    expect(short(seen)).toEqual([
      'acquire:start', // first caller
      'create:start',
      'create:end',
      'acquire:end',
      'acquire:start', // the waiter
      'release', // the first caller gives it back ...
      'acquire:end', // ... and the waiter gets it
      'release', // with an error, so ...
      'destroy', // ... it is destroyed
    ]);
    for (const { message } of seen) {
      expect(message['pool']).toBe(pool);
      expect(message['name']).toBe('orders');
    }
    const [start1, createStart, createEnd, end1, start2, release1, end2, release2, destroy] =
      seen.map((s) => s.message);
    expect(end1).toBe(start1);
    expect(createEnd).toBe(createStart);
    expect(end2).toBe(start2);
    expect(end1).toMatchObject({ resource, waitedMillis: 0 });
    expect(createEnd).toMatchObject({ resource });
    expect(typeof createEnd!['durationMillis']).toBe('number');
    expect(end2).toMatchObject({ resource, waitedMillis: 25 });
    expect(release1).toMatchObject({ resource, heldMillis: 25, error: undefined });
    expect(release2).toMatchObject({ resource, error: expect.any(Error) });
    expect(destroy).toMatchObject({ resource, reason: 'error' });
  });

  it('publishes failed acquires and creations with their errors', async () => {
    const seen = subscribeAll();
    const { pool, fake } = makePool({ max: 1, acquireTimeoutMillis: 100, createTimeoutMillis: 50 });
    // Refused, then attempts that never answer (each cut off by createTimeoutMillis): however
    // the backoff's jitter falls, nothing succeeds before the acquire times out.
    fake.script('create', fail(new Error('refused')), hang(), hang(), hang(), hang());
    const attempt = track(pool.acquire());
    await advance(100);
    expect(attempt.status).toBe('rejected');
    const byChannel = (name: string) => seen.filter((s) => s.channel.endsWith(name));
    const createEnd = byChannel('create:end')[0]!.message;
    expect((createEnd['error'] as Error).message).toBe('refused');
    expect(createEnd).not.toHaveProperty('resource');
    const acquireEnd = byChannel('acquire:end')[0]!.message;
    expect((acquireEnd['error'] as PoolError).code).toBe('ERR_POOL_ACQUIRE_TIMEOUT');
    expect(acquireEnd['waitedMillis']).toBe(100);
    // An acquire rejected at once (pool ended) is published too.
    await pool.end({ timeoutMillis: 0 });
    await pool.acquire().catch(() => undefined);
    const last = byChannel('acquire:end').at(-1)!.message;
    expect((last['error'] as PoolError).code).toBe('ERR_POOL_CLOSED');
  });

  it('still hands out the same promise results with nobody subscribed', async () => {
    const { pool } = makePool();
    const r = await pool.acquire();
    pool.release(r);
    expect(diagnosticsChannel.hasSubscribers(channels.acquireStart)).toBe(false);
    await expect(pool.acquire()).resolves.toBe(r);
  });
});

/**
 * Only an outage (the server could not be reached) backs off and opens the circuit. A
 * creation that failed for a reason of its own goes to one caller; a permanent error to all.
 */
import { describe, expect, it, vi } from 'vitest';

import {
  CircuitOpenError,
  CreateFailedError,
  Pool,
  type CreateErrorKind,
} from '../../src/core/index.js';
import { FakeFactory, fail, ok, type FakeResource } from './support/fake-factory.js';
import { advance, flush, track, useFakeClock } from './support/harness.js';

useFakeClock();

const hookError = Object.assign(new Error('connect hook error'), { kind: 'rejected' });
const refused = Object.assign(new Error('connect ECONNREFUSED'), { kind: 'unavailable' });
const badPassword = Object.assign(new Error('password authentication failed'), {
  kind: 'permanent',
});

function classifyingPool(fake: FakeFactory, options = {}): Pool<FakeResource> {
  return new Pool(
    {
      ...fake.factory(),
      classifyCreateError: (error) => (error as { kind: CreateErrorKind }).kind,
    },
    { max: 2, acquireTimeoutMillis: 10_000, circuitBreakerThreshold: 2, ...options },
  );
}

describe('a creation rejected for a reason of its own', () => {
  it('fails only the oldest caller, and the next attempt runs at once', async () => {
    const fake = new FakeFactory();
    fake.script('create', fail(hookError));
    const pool = classifyingPool(fake, { max: 1 });
    const first = track(pool.acquire());
    const second = track(pool.acquire());
    await flush();
    expect(first.error).toBeInstanceOf(CreateFailedError);
    expect((first.error as Error).cause).toBe(hookError);
    expect(second.status).toBe('resolved');
    expect(fake.calls.create).toBe(2);
    pool.release(second.value!);
    await pool.end();
  });

  it('never opens the circuit, however many times it happens', async () => {
    const fake = new FakeFactory();
    fake.setDefault('create', fail(hookError));
    const pool = classifyingPool(fake);
    const circuit: string[] = [];
    pool.on('circuit', ({ state }) => circuit.push(state));
    for (let i = 0; i < 10; i++) {
      const attempt = track(pool.acquire());
      await flush();
      expect(attempt.error).toBeInstanceOf(CreateFailedError);
    }
    expect(fake.calls.create).toBe(10);
    expect(circuit).toEqual([]);
    expect(pool.circuitState).toBe('closed');
    fake.setDefault('create', ok());
    const recovered = track(pool.acquire());
    await flush();
    expect(recovered.status).toBe('resolved');
    pool.release(recovered.value!);
    await pool.end();
  });

  it('does not loop on `min` when nobody waits: it tries again at the next reap', async () => {
    const fake = new FakeFactory();
    fake.setDefault('create', fail(hookError));
    const pool = classifyingPool(fake, { min: 1, reapIntervalMillis: 1000 });
    await flush();
    expect(fake.calls.create).toBe(1);
    await advance(999);
    expect(fake.calls.create).toBe(1);
    await advance(1);
    expect(fake.calls.create).toBe(2);
    await pool.end({ drain: false });
  });
});

describe('a permanent creation error', () => {
  it('fails every waiting caller, and never opens the circuit', async () => {
    const fake = new FakeFactory();
    fake.setDefault('create', fail(badPassword));
    const pool = classifyingPool(fake);
    const waiters = [track(pool.acquire()), track(pool.acquire()), track(pool.acquire())];
    await flush();
    for (const w of waiters) expect((w.error as Error).cause).toBe(badPassword);
    for (let i = 0; i < 4; i++) {
      const next = track(pool.acquire());
      await advance(10_000);
      expect(next.error).toBeInstanceOf(CreateFailedError);
    }
    expect(pool.circuitState).toBe('closed');
    await pool.end({ drain: false });
  });
});

describe('an outage', () => {
  it('keeps callers waiting through the backoff, then fails them when the circuit opens', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5); // backoff delays of 50, then 100 ms
    const fake = new FakeFactory();
    fake.setDefault('create', fail(refused));
    const pool = classifyingPool(fake);
    const waiter = track(pool.acquire());
    await flush();
    expect(waiter.status).toBe('pending');
    await advance(50);
    expect(waiter.error).toBeInstanceOf(CircuitOpenError);
    expect((waiter.error as CircuitOpenError).waited).toBe(true);
    const refusedAtOnce = track(pool.acquire());
    await flush();
    expect(refusedAtOnce.error).toBeInstanceOf(CircuitOpenError);
    expect((refusedAtOnce.error as CircuitOpenError).waited).toBe(false);
    await pool.end({ drain: false });
  });
});

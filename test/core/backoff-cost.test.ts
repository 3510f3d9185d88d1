/**
 * Backing off by cost: a failure that never reached the server (a refused connect) is probed
 * again at a short jittered interval, one the server answered with "starting up" at a fixed
 * one, and only failures that reached it back off exponentially. The circuit stays open while
 * refused probes fail, and the first probe that succeeds serves everyone at once.
 */
import { describe, expect, it, vi } from 'vitest';

import {
  CircuitOpenError,
  type CreateFailureCost,
  type PoolOptions,
} from '../../src/core/index.js';
import { FakeFactory, fail, ok } from './support/fake-factory.js';
import {
  advance,
  failureTimes,
  flush,
  makePool,
  recordEvents,
  rejectionOf,
  track,
  useFakeClock,
} from './support/harness.js';

useFakeClock();

const refused = Object.assign(new Error('connect ECONNREFUSED'), { cost: 'free' });
const reset = Object.assign(new Error('read ECONNRESET'), { cost: 'costly' });
const startingUp = Object.assign(new Error('the database system is starting up'), {
  cost: 'starting',
});

/** A pool whose factory reads each error's cost from the error, patient by default. */
function costPool(options: PoolOptions = {}, fake = new FakeFactory()) {
  const createFailureCost = (error: unknown): CreateFailureCost =>
    (error as { cost: CreateFailureCost }).cost;
  return makePool(
    { circuitBreakerThreshold: Infinity, acquireTimeoutMillis: Infinity, ...options },
    { createFailureCost },
    fake,
  );
}

describe('the delay after a failure, by what it cost the server', () => {
  it('probes refused connects every interval to 1.5 intervals, at random, without growth', async () => {
    const random = vi.spyOn(Math, 'random');
    for (const r of [0, 0.5, 1, 0.2]) random.mockReturnValueOnce(r);
    const { pool, fake } = costPool({ createProbeIntervalMillis: 200 });
    fake.script('create', fail(refused), fail(refused), fail(refused), fail(refused));
    const times = failureTimes(pool);
    const waiter = track(pool.acquire());
    // Delays 200, 250, 300, 220: the same range every time, however many failed before.
    await advance(969);
    expect(times).toEqual([0, 200, 450, 750]);
    expect(waiter.status).toBe('pending');
    await advance(1);
    expect(fake.calls.create).toBe(5);
    expect(waiter.status).toBe('resolved');
  });

  it.each([
    [0, 48],
    [1, 32],
  ])('keeps refused probes bounded: with random() at %d, %d probes in 10 s', async (r, probes) => {
    vi.spyOn(Math, 'random').mockReturnValue(r);
    const { pool, fake } = costPool({ max: 10 });
    fake.setDefault('create', fail(refused, 5));
    const waiters = Array.from({ length: 100 }, () => track(pool.acquire()));
    await flush();
    // Before any failure is known, demand starts `max` attempts at once; all fail.
    expect(fake.calls.create).toBe(10);
    let peak = 0;
    for (let t = 0; t < 10_000; t += 10) {
      await advance(10);
      peak = Math.max(peak, pool.pendingCreates);
    }
    // Then one probe at a time, 200 ms after the last failure at the fastest, 300 at the
    // slowest (the default interval, 200), however many callers wait: 205 or 305 ms apart.
    expect(fake.calls.create - 10).toBe(probes);
    expect(peak).toBe(1);
    expect(waiters.every((w) => w.status === 'pending')).toBe(true);
  });

  it('never waits longer than createRetryMaxMillis, even between refused probes', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    const { pool, fake } = costPool({ createRetryBaseMillis: 10, createRetryMaxMillis: 50 });
    fake.setDefault('create', fail(refused));
    const times = failureTimes(pool);
    track(pool.acquire());
    await advance(200);
    expect(times).toEqual([0, 50, 100, 150, 200]);
  });

  it('backs off exponentially after failures that reached the server; refusals between them do not reset the exponent', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1); // the top of each range
    const { pool, fake } = costPool({ createRetryBaseMillis: 100, createRetryMaxMillis: 10_000 });
    fake.script('create', fail(reset), fail(refused), fail(reset), fail(refused));
    fake.script('create', fail(reset), fail(reset));
    const times = failureTimes(pool);
    track(pool.acquire());
    await advance(2_200);
    // Delays: 100 (1st costly), 300 (refused), 200 (2nd costly), 300, 400 (3rd), 800 (4th).
    expect(times).toEqual([0, 100, 400, 600, 900, 1_300]);
    expect(fake.calls.create).toBe(7); // the seventh, at 2 100, succeeded
  });

  it('retries at the fixed probe interval while the server says it is starting up', async () => {
    const random = vi.spyOn(Math, 'random');
    for (const r of [0.9, 0.1, 0.6]) random.mockReturnValueOnce(r);
    const { pool, fake } = costPool({ createProbeIntervalMillis: 150 });
    fake.script('create', fail(startingUp), fail(startingUp), fail(startingUp), ok(5));
    const times = failureTimes(pool);
    const waiter = track(pool.acquire());
    await advance(454);
    expect(times).toEqual([0, 150, 300]);
    expect(waiter.status).toBe('pending');
    await advance(1);
    expect(waiter.status).toBe('resolved');
  });

  it.each([
    [
      'throws',
      (): CreateFailureCost => {
        throw new Error('classifier bug');
      },
    ],
    ['answers nonsense', (): CreateFailureCost => 'cheap' as CreateFailureCost],
  ])('treats a failure as costly when the hook %s', async (_, createFailureCost) => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    const { pool, fake } = makePool(
      { circuitBreakerThreshold: Infinity, acquireTimeoutMillis: Infinity },
      { createFailureCost },
    );
    fake.setDefault('create', fail(refused));
    const times = failureTimes(pool);
    track(pool.acquire());
    await advance(700);
    expect(times).toEqual([0, 100, 300, 700]);
  });
});

describe('the circuit while connects are refused', () => {
  /** Three refused attempts of 10 ms each, 200 ms apart: the third opens the circuit at 430. */
  async function openByRefusals() {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const made = costPool({ circuitBreakerThreshold: 3, acquireTimeoutMillis: 10_000 });
    made.fake.setDefault('create', fail(refused, 10));
    const circuit = recordEvents(made.pool, 'circuit');
    const first = track(made.pool.acquire());
    await advance(430);
    return { ...made, circuit, first };
  }

  it('stays open while refused probes fail, failing callers fast, one probe at a time', async () => {
    const { pool, fake, circuit, first } = await openByRefusals();
    expect(first.error).toBeInstanceOf(CircuitOpenError);
    expect((first.error as CircuitOpenError).waited).toBe(true);
    // Before the next probe time (630): refused at once, without an attempt.
    await advance(70);
    const early = await rejectionOf(pool.acquire());
    expect(early).toMatchObject({ code: 'ERR_POOL_CIRCUIT_OPEN', waited: false });
    expect(fake.calls.create).toBe(3);
    // After it: the caller's demand starts one probe; the circuit stays open (no half-open);
    // callers who arrive meanwhile wait for it, and hear its failure.
    await advance(140);
    const probing = [track(pool.acquire()), track(pool.acquire()), track(pool.acquire())];
    await flush();
    expect(pool.stats()).toMatchObject({ circuit: 'open', pendingCreates: 1, waiting: 3 });
    await advance(10);
    for (const caller of probing) {
      expect(caller.error).toMatchObject({ code: 'ERR_POOL_CIRCUIT_OPEN', waited: true });
    }
    expect(fake.calls.create).toBe(4);
    expect(circuit.map(([, e]) => [e.previous, e.state])).toEqual([['closed', 'open']]);
  });

  it('half-opens only for a probe after a failure that reached the server', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    const { pool, fake } = costPool({ circuitBreakerThreshold: 1, acquireTimeoutMillis: 10_000 });
    const circuit = recordEvents(pool, 'circuit');
    fake.script('create', fail(reset), fail(refused, 10), fail(refused, 10));
    track(pool.acquire()); // fails at 0: open, next attempt at 100
    await advance(100);
    track(pool.acquire()); // a trial after a costly failure: half-open; refused at 110
    await advance(10);
    await advance(300);
    track(pool.acquire()); // after a refusal: stays open; refused again at 420
    await advance(10);
    expect(fake.calls.create).toBe(3);
    expect(circuit.map(([, e]) => e.state)).toEqual(['open', 'half-open', 'open']);
  });
});

describe('serving as soon as one probe succeeds', () => {
  it('hands the first resource to the oldest caller and creates for the others at once', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const { pool, fake } = costPool({ max: 4, circuitBreakerThreshold: 2 });
    const circuit = recordEvents(pool, 'circuit');
    fake.script('create', fail(refused), fail(refused));
    fake.setDefault('create', ok(20));
    track(pool.acquire()); // failures at 0 and 200 open the circuit; next probe at 400
    await advance(400);
    const callers = Array.from({ length: 4 }, () => track(pool.acquire()));
    await flush();
    expect(pool.stats()).toMatchObject({ pendingCreates: 1, waiting: 4, circuit: 'open' });
    await advance(20); // the probe succeeds at 420
    expect(circuit.map(([, e]) => [e.previous, e.state]).at(-1)).toEqual(['open', 'closed']);
    expect(callers.map((c) => c.status)).toEqual(['resolved', 'pending', 'pending', 'pending']);
    // No backoff left: the three others' creations started at 420, side by side.
    expect(pool.stats()).toMatchObject({ pendingCreates: 3, waiting: 3 });
    await advance(20);
    expect(callers.every((c) => c.status === 'resolved')).toBe(true);
    expect(fake.calls.create).toBe(6);
    expect(pool.stats()).toMatchObject({ total: 4, circuit: 'closed', createFailures: 2 });
  });

  it('refills min at once after the first success, without any caller', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const fake = new FakeFactory().setDefault('create', ok(5));
    for (let i = 0; i < 6; i++) fake.script('create', fail(refused));
    const { pool } = costPool({ min: 3, max: 3, circuitBreakerThreshold: 2 }, fake);
    // Three refused at once at 0, then probes (for min) at 200, 400 and 600, refused; the
    // probe at 800 succeeds at 805.
    await advance(804);
    expect(pool.stats()).toMatchObject({ total: 0, pendingCreates: 1, circuit: 'open' });
    expect(fake.calls.create).toBe(7);
    await advance(1);
    expect(pool.stats()).toMatchObject({ total: 1, pendingCreates: 2, circuit: 'closed' });
    await advance(5);
    expect(pool.stats()).toMatchObject({ total: 3, idle: 3, pendingCreates: 0 });
  });
});

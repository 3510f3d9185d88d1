import { describe, expect, it, vi } from 'vitest';
import { CircuitOpenError, CreateFailedError, type CircuitState } from '../../src/core/index.js';
import { FakeFactory, fail, hang, ok } from './support/fake-factory.js';
import {
  advance,
  failureTimes,
  flush,
  makePool,
  rejectionOf,
  track,
  useFakeClock,
} from './support/harness.js';

useFakeClock();

const refused = new Error('connect ECONNREFUSED 127.0.0.1:5432');

function circuitLog(pool: ReturnType<typeof makePool>['pool']) {
  const log: { state: CircuitState; previous: CircuitState; lastError: unknown }[] = [];
  pool.on('circuit', (event) => log.push(event));
  return log;
}

describe('retrying a failed creation', () => {
  it('waits a delay that doubles after each consecutive failure, up to the cap', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1); // the top of each jitter range
    const { pool, fake } = makePool({
      createRetryBaseMillis: 100,
      createRetryMaxMillis: 1000,
      circuitBreakerThreshold: Infinity,
      acquireTimeoutMillis: Infinity,
    });
    fake.setDefault('create', fail(refused));
    const times = failureTimes(pool);
    const waiter = track(pool.acquire());
    await advance(4000);
    expect(times).toEqual([0, 100, 300, 700, 1500, 2500, 3500]);
    expect(waiter.status).toBe('pending');
  });

  it('draws each delay at random below that ceiling (full jitter)', async () => {
    const random = vi.spyOn(Math, 'random');
    for (const r of [0.25, 0.5, 0.1, 0.9]) random.mockReturnValueOnce(r);
    const { pool, fake } = makePool({ circuitBreakerThreshold: Infinity });
    fake.script('create', fail(refused), fail(refused), fail(refused), fail(refused));
    const times = failureTimes(pool);
    const waiter = track(pool.acquire());
    // Ceilings 100, 200, 400, 800: delays 25, 100, 40, then 720 before the fifth attempt.
    await advance(884);
    expect(times).toEqual([0, 25, 125, 165]);
    expect(waiter.status).toBe('pending');
    await advance(1);
    expect(fake.calls.create).toBe(5);
    expect(waiter.status).toBe('resolved');
  });

  it('makes one attempt at a time while creation is failing, however many callers wait', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { pool, fake } = makePool({
      max: 10,
      circuitBreakerThreshold: Infinity,
      acquireTimeoutMillis: Infinity,
    });
    fake.setDefault('create', fail(refused, 20));
    const first = track(pool.acquire());
    await advance(20); // the first attempt failed
    const others = Array.from({ length: 99 }, () => track(pool.acquire()));
    let peak = 0;
    for (let t = 0; t < 1000; t += 5) {
      await advance(5);
      peak = Math.max(peak, pool.pendingCreates);
    }
    expect(peak).toBe(1);
    // Attempts start at 0, 70, 190, 410 and 830 ms (20 ms each, then half the ceiling).
    expect(fake.calls.create).toBe(5);
    expect([first, ...others].every((w) => w.status === 'pending')).toBe(true);
  });

  it('does not turn a storm of 100 waiters into 100 connection attempts', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { pool, fake } = makePool({
      max: 10,
      circuitBreakerThreshold: Infinity,
      acquireTimeoutMillis: Infinity,
    });
    fake.setDefault('create', fail(refused, 10));
    const waiters = Array.from({ length: 100 }, () => track(pool.acquire()));
    await flush();
    expect(fake.calls.create).toBe(10); // bounded by max, not by demand
    await advance(10_000);
    // Ten failures push the ceiling to the 10 s cap: one retry at 5 010 ms, the next at 10 020.
    expect(fake.calls.create).toBe(11);
    expect(waiters.every((w) => w.status === 'pending')).toBe(true);
  });

  it('never retries in a tight loop, even with a zero retry base', async () => {
    const fake = new FakeFactory();
    // A safety stop: after 50 failures creation hangs, so a loop ends instead of freezing.
    for (let i = 0; i < 50; i++) fake.script('create', fail(refused));
    fake.setDefault('create', hang());
    makePool({ min: 1, createRetryBaseMillis: 0 }, {}, fake);
    await flush();
    expect(fake.calls.create).toBeLessThan(10);
  });

  it('counts failures and reports each one as an error event with its attempt number', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.01); // retries after 1, 2 and 4 ms
    const { pool, fake } = makePool({ circuitBreakerThreshold: Infinity });
    const attempts: number[] = [];
    pool.on('error', ({ error }) => attempts.push((error as CreateFailedError).attempt));
    fake.script('create', fail(refused), fail(refused), fail(refused));
    const resource = track(pool.acquire());
    await advance(10);
    expect(resource.status).toBe('resolved');
    expect(attempts).toEqual([1, 2, 3]);
    expect(pool.stats()).toMatchObject({ createFailures: 3, creates: 1 });
  });
});

describe('the circuit breaker', () => {
  async function openCircuit(threshold = 3) {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const made = makePool({ circuitBreakerThreshold: threshold });
    const circuit = circuitLog(made.pool);
    for (let i = 0; i < threshold; i++) made.fake.script('create', fail(refused));
    const first = track(made.pool.acquire());
    await flush(); // the first attempt failed; the second caller joins during the backoff
    const waiters = [first, track(made.pool.acquire())];
    // Failures at 0, 50 and 150 ms: the third opens the circuit, retry at 150 + 200.
    await advance(150);
    return { ...made, circuit, waiters };
  }

  it('opens after circuitBreakerThreshold consecutive failures and fails the waiters fast', async () => {
    const { pool, fake, circuit, waiters } = await openCircuit(3);
    expect(fake.calls.create).toBe(3);
    for (const waiter of waiters) {
      const error = waiter.error as CircuitOpenError;
      expect(error).toBeInstanceOf(CircuitOpenError);
      expect(error.code).toBe('ERR_POOL_CIRCUIT_OPEN');
      expect(error.retryInMillis).toBe(200);
      expect(error.message).toBe(
        'Failing fast: resource creation keeps failing, next attempt in 200 ms; last create error: Creating a resource failed (attempt 3): connect ECONNREFUSED 127.0.0.1:5432',
      );
      const cause = error.cause as CreateFailedError;
      expect(cause).toBeInstanceOf(CreateFailedError);
      expect(cause.code).toBe('ERR_POOL_CREATE_FAILED');
      expect(cause.attempt).toBe(3);
      expect(cause.cause).toBe(refused);
    }
    expect(circuit).toEqual([
      { state: 'open', previous: 'closed', lastError: (waiters[0]!.error as Error).cause },
    ]);
    expect(pool.circuitState).toBe('open');
    expect(pool.stats()).toMatchObject({
      circuit: 'open',
      circuitRejections: 2,
      createFailures: 3,
      waiting: 0,
    });
  });

  it('rejects new acquires at once while open, without trying to create', async () => {
    const { pool, fake } = await openCircuit(3);
    await advance(50);
    const error = await rejectionOf(pool.acquire());
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect((error as CircuitOpenError).retryInMillis).toBe(150);
    expect(((error as Error).cause as CreateFailedError).cause).toBe(refused);
    expect(fake.calls.create).toBe(3);
    expect(pool.stats().circuitRejections).toBe(3);
  });

  it('lets one probe through after the retry delay, and closes again when it succeeds', async () => {
    const { pool, fake, circuit } = await openCircuit(3);
    await advance(200);
    fake.script('create', ok(100), ok());
    const first = track(pool.acquire());
    const second = track(pool.acquire()); // half-open: waits instead of failing fast
    await flush();
    expect(circuit.map((e) => e.state)).toEqual(['open', 'half-open']);
    expect(circuit[1]!.previous).toBe('open');
    expect(circuit[1]!.lastError).toBeInstanceOf(CreateFailedError);
    expect(pool.stats()).toMatchObject({ circuit: 'half-open', pendingCreates: 1, waiting: 2 });
    expect(fake.calls.create).toBe(4);
    await advance(100);
    expect(circuit.slice(2)).toEqual([
      { state: 'closed', previous: 'half-open', lastError: undefined },
    ]);
    await flush();
    expect([first.status, second.status]).toEqual(['resolved', 'resolved']);
    expect(fake.calls.create).toBe(5);
    expect(pool.stats().circuit).toBe('closed');
  });

  it('opens again when the probe fails, failing the waiters fast', async () => {
    const { pool, fake, circuit } = await openCircuit(3);
    await advance(200);
    fake.script('create', fail(refused, 100));
    const waiter = track(pool.acquire());
    await advance(100);
    expect(circuit.map((e) => [e.previous, e.state])).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
      ['half-open', 'open'],
    ]);
    expect(waiter.error).toBeInstanceOf(CircuitOpenError);
    // The fourth failure: half of an 800 ms ceiling.
    expect((waiter.error as CircuitOpenError).retryInMillis).toBe(400);
    expect(((waiter.error as Error).cause as CreateFailedError).attempt).toBe(4);
    expect(pool.circuitState).toBe('open');
  });

  it('still hands out idle resources while open', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { pool, fake } = makePool({ max: 2, circuitBreakerThreshold: 2 });
    const held = await pool.acquire();
    fake.script('create', fail(refused), fail(refused));
    const rejected = track(pool.acquire());
    await advance(50);
    expect(rejected.error).toBeInstanceOf(CircuitOpenError);
    pool.release(held);
    expect(await pool.acquire()).toBe(held);
    expect(pool.circuitState).toBe('open');
  });

  it('needs threshold consecutive failures: a success in between starts the count again', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.01);
    const { pool, fake } = makePool({ max: 1, circuitBreakerThreshold: 3 });
    fake.script('create', fail(refused), fail(refused), ok(), fail(refused), fail(refused));
    const first = track(pool.acquire());
    await advance(10);
    pool.release(first.value!, new Error('broken'));
    const next = track(pool.acquire());
    await advance(10);
    expect(pool.circuitState).toBe('closed');
    expect(next.status).toBe('resolved');
    expect(fake.calls.create).toBe(6);
  });

  it('never opens with circuitBreakerThreshold Infinity', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.01);
    const { pool, fake } = makePool({
      circuitBreakerThreshold: Infinity,
      acquireTimeoutMillis: Infinity,
    });
    fake.setDefault('create', fail(refused));
    const waiter = track(pool.acquire());
    await advance(10_000);
    expect(fake.calls.create).toBeGreaterThan(20);
    expect(pool.circuitState).toBe('closed');
    expect(waiter.status).toBe('pending');
  });

  it('probes by itself to refill min, and closes without any caller', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const fake = new FakeFactory().script('create', fail(refused), fail(refused));
    const { pool } = makePool({ min: 1, circuitBreakerThreshold: 2 }, {}, fake);
    const circuit = circuitLog(pool);
    await advance(50); // failures at 0 and 50: open, retry at 150
    expect(pool.circuitState).toBe('open');
    await advance(100);
    expect(circuit.map((e) => e.state)).toEqual(['open', 'half-open', 'closed']);
    expect(pool.stats()).toMatchObject({ total: 1, idle: 1, circuit: 'closed' });
  });
});

/**
 * Shared set-up for the core's unit tests: fake timers installed before any pool is built (the
 * pool captures `performance` at construction), pools cleaned up after each test, and small
 * helpers to observe promises without awaiting them.
 */
import { afterEach, beforeEach, vi } from 'vitest';
import {
  CreateFailedError,
  Pool,
  type PoolEvents,
  type PoolOptions,
} from '../../../src/core/index.js';
import { FakeFactory, type FakeFactoryOptions, type FakeResource } from './fake-factory.js';

/** Everything but `nextTick` and `queueMicrotask`: promises must still run. */
export const fakeTimerConfig = {
  toFake: [
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'clearImmediate',
    'Date',
    'performance',
  ],
} satisfies Parameters<typeof vi.useFakeTimers>[0];

const openPools = new Set<Pool<FakeResource>>();

/** Installs fake timers before each test and tears down every pool made by `makePool`. */
export function useFakeClock(): void {
  beforeEach(() => {
    vi.useFakeTimers(fakeTimerConfig);
  });
  afterEach(async () => {
    // Never await end() itself here: a pool bug must fail its test, not hang the file.
    for (const pool of openPools) void pool.end({ timeoutMillis: 0 });
    openPools.clear();
    await vi.advanceTimersByTimeAsync(120_000);
    vi.useRealTimers();
    vi.restoreAllMocks();
  });
}

export interface TestPool {
  readonly pool: Pool<FakeResource>;
  readonly fake: FakeFactory;
}

/** A pool over a fresh (or given) fake factory, ended after the test. */
export function makePool(
  options: PoolOptions = {},
  hooks: FakeFactoryOptions = {},
  fake: FakeFactory = new FakeFactory(),
): TestPool {
  const pool = new Pool(fake.factory(hooks), options);
  openPools.add(pool);
  return { pool, fake };
}

export interface Tracked<T> {
  readonly status: 'pending' | 'resolved' | 'rejected';
  readonly value: T | undefined;
  readonly error: unknown;
  /** How many times the promise's handlers ran (a promise must settle at most once). */
  readonly settleCount: number;
}

/** Observes a promise without awaiting it; read the fields after moving time. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const state: { -readonly [K in keyof Tracked<T>]: Tracked<T>[K] } = {
    status: 'pending',
    value: undefined,
    error: undefined,
    settleCount: 0,
  };
  promise.then(
    (value) => {
      state.status = 'resolved';
      state.value = value;
      state.settleCount++;
    },
    (error: unknown) => {
      state.status = 'rejected';
      state.error = error;
      state.settleCount++;
    },
  );
  return state;
}

/** Runs pending microtasks and any timers due now, without moving the clock. */
export async function flush(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

/** Moves the fake clock. */
export async function advance(millis: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(millis);
}

/**
 * Calls `end()` and moves fake time in steps until it resolves or `withinMillis` passes.
 * Returns the tracked promise so the test can assert that it resolved.
 */
export async function endWithin(
  pool: Pool<FakeResource>,
  withinMillis = 60_000,
  options?: { timeoutMillis?: number; drain?: boolean },
): Promise<Tracked<void>> {
  const ended = track(options === undefined ? pool.end() : pool.end(options));
  await flush();
  for (let waited = 0; ended.status === 'pending' && waited < withinMillis; waited += 100) {
    await advance(100);
  }
  return ended;
}

/** Collects every event of the given names, in order, as `[name, payload]`. */
export function recordEvents<K extends keyof PoolEvents<FakeResource>>(
  pool: Pool<FakeResource>,
  ...names: K[]
): [K, PoolEvents<FakeResource>[K]][] {
  const log: [K, PoolEvents<FakeResource>[K]][] = [];
  for (const name of names) pool.on(name, (event) => log.push([name, event]));
  return log;
}

/** Asserts, for `expect(...).toThrow`-style checks, that a promise rejected; returns the error. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** Fake-clock times at which creation attempts failed, as the pool's `error` events say. */
export function failureTimes(pool: Pool<FakeResource>): number[] {
  const times: number[] = [];
  pool.on('error', ({ error }) => {
    if (error instanceof CreateFailedError) times.push(performance.now());
  });
  return times;
}

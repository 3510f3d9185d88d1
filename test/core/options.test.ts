import { describe, expect, it } from 'vitest';
import {
  InvalidOptionError,
  Pool,
  PoolError,
  type Factory,
  type PoolOptions,
} from '../../src/core/index.js';
import { normalizeOptions } from '../../src/core/options.js';
import { FakeFactory, type FakeResource } from './support/fake-factory.js';

const kMaxTimerMillis = 2_147_483_647;

/** Builds a pool with the given (possibly ill-typed) options and returns what it threw. */
function thrownBy(options: unknown): unknown {
  const fake = new FakeFactory();
  try {
    const pool = new Pool(fake.factory(), options as PoolOptions);
    void pool.end();
  } catch (error) {
    expect(fake.calls.create).toBe(0); // nothing was started for a pool that never existed
    return error;
  }
  throw new Error(`expected options ${JSON.stringify(options)} to be rejected`);
}

function expectInvalid(options: unknown, option: string, message?: RegExp): void {
  const error = thrownBy(options);
  expect(error).toBeInstanceOf(InvalidOptionError);
  expect(error).toBeInstanceOf(PoolError);
  const invalid = error as InvalidOptionError;
  expect(invalid.code).toBe('ERR_POOL_INVALID_OPTION');
  expect(invalid.option).toBe(option);
  expect(invalid.message).toContain(`"${option}"`);
  if (message !== undefined) expect(invalid.message).toMatch(message);
}

const defaults = {
  min: 0,
  max: 10,
  acquireTimeoutMillis: 30_000,
  createTimeoutMillis: 10_000,
  destroyTimeoutMillis: 5_000,
  idleTimeoutMillis: 30_000,
  maxLifetimeMillis: 0,
  maxLifetimeJitter: 0.1,
  maxUses: Infinity,
  validateAfterIdleMillis: 500,
  validateTimeoutMillis: 5_000,
  resetTimeoutMillis: 5_000,
  maxWaiting: Infinity,
  overloadTargetMillis: 0,
  overloadIntervalMillis: 100,
  createRetryBaseMillis: 100,
  createRetryMaxMillis: 10_000,
  createProbeIntervalMillis: 200,
  circuitBreakerThreshold: 5,
  leakDetectionMillis: 0,
  leakReclaimMillis: 0,
  reapIntervalMillis: 1_000,
  allowExitOnIdle: false,
  asyncStackTraces: false,
  warmMin: true,
};

const numericOptions = Object.keys(defaults).filter(
  (key) => key !== 'allowExitOnIdle' && key !== 'asyncStackTraces' && key !== 'warmMin',
) as (keyof PoolOptions)[];

const kDefaultName = /^lifeguard-\d+$/;

describe('pool options', () => {
  it('fills in every default when no options are given', () => {
    expect({ ...normalizeOptions() }).toEqual({
      ...defaults,
      name: expect.stringMatching(kDefaultName),
    });
    expect({ ...normalizeOptions({}) }).toEqual({
      ...defaults,
      name: expect.stringMatching(kDefaultName),
    });
  });

  it('names unnamed pools apart, and keeps a given name', () => {
    const first = normalizeOptions().name;
    const second = normalizeOptions().name;
    expect(first).toMatch(kDefaultName);
    expect(second).toMatch(kDefaultName);
    expect(second).not.toBe(first);
    expect(normalizeOptions({ name: 'orders' }).name).toBe('orders');
    expect(() => normalizeOptions({ name: 42 } as unknown as PoolOptions)).toThrow(/name/);
  });

  it('exposes the validated options on the pool as a frozen object', () => {
    const pool = new Pool(new FakeFactory().factory(), { max: 3, idleTimeoutMillis: 0 });
    const options = pool.options;
    expect(options).toEqual({
      ...defaults,
      name: expect.stringMatching(kDefaultName),
      max: 3,
      idleTimeoutMillis: 0,
    });
    expect(pool.name).toBe(options.name);
    expect(Object.isFrozen(options)).toBe(true);
    expect(() => {
      (options as { max: number }).max = 99;
    }).toThrow(TypeError);
    expect(pool.options.max).toBe(3);
    void pool.end();
  });

  it('does not keep a reference to the caller’s options object', () => {
    const mine: PoolOptions = { max: 4 };
    const normalized = normalizeOptions(mine);
    mine.max = 40;
    expect(normalized.max).toBe(4);
    expect(normalized).not.toBe(mine);
  });

  it('treats an option set to undefined as the default', () => {
    // Plain JavaScript callers (and spreads of partial configs) pass explicit undefineds.
    const options = { max: undefined, min: undefined } as unknown as PoolOptions;
    expect(normalizeOptions(options).max).toBe(10);
  });

  it('accepts zero where zero means something, as ?? does and || would not', () => {
    const options = normalizeOptions({
      min: 0,
      acquireTimeoutMillis: 0,
      idleTimeoutMillis: 0,
      maxLifetimeMillis: 0,
      maxLifetimeJitter: 0,
      validateAfterIdleMillis: 0,
      maxWaiting: 0,
      createRetryBaseMillis: 0,
      leakDetectionMillis: 0,
    });
    expect(options.acquireTimeoutMillis).toBe(0);
    expect(options.maxWaiting).toBe(0);
    expect(options.validateAfterIdleMillis).toBe(0);
    expect(options.createRetryBaseMillis).toBe(0);
  });

  it('accepts Infinity for limits that may be unbounded', () => {
    const options = normalizeOptions({
      acquireTimeoutMillis: Infinity,
      maxUses: Infinity,
      maxWaiting: Infinity,
      circuitBreakerThreshold: Infinity,
      idleTimeoutMillis: Infinity,
      createRetryMaxMillis: Infinity,
    });
    expect(options.maxWaiting).toBe(Infinity);
    expect(options.circuitBreakerThreshold).toBe(Infinity);
  });

  it('rejects an unknown option, naming it and listing the known ones', () => {
    expectInvalid({ maxConnections: 5 }, 'maxConnections', /unknown option.*max, /);
    expectInvalid({ idleTimeout: 5 }, 'idleTimeout', /unknown option/);
  });

  it.each(['toString', 'constructor', 'hasOwnProperty', 'valueOf'])(
    'rejects "%s" as an unknown option, although every object inherits it',
    (key) => {
      expectInvalid({ [key]: 5 }, key, /unknown option/);
    },
  );

  it.each(numericOptions)('rejects a negative %s, naming it', (key) => {
    expectInvalid({ [key]: -1 }, key, /must be >= \d+, got -1/);
  });

  it.each(numericOptions)('rejects a non-number %s, saying what it got', (key) => {
    expectInvalid({ [key]: '5' }, key, /expected a number, got string 5/);
    expectInvalid({ [key]: NaN }, key, /expected a number, got number NaN/);
    expectInvalid({ [key]: null }, key, /expected a number, got null/);
  });

  it.each(['min', 'max', 'maxUses', 'maxWaiting', 'circuitBreakerThreshold'])(
    'rejects a fractional %s',
    (key) => {
      expectInvalid({ [key]: 2.5 }, key, /must be an integer, got 2.5/);
    },
  );

  it.each(['min', 'max'])('rejects an infinite %s', (key) => {
    expectInvalid({ max: Infinity, [key]: Infinity }, key, /must be finite, got Infinity/);
  });

  it.each([
    ['max', 0],
    ['maxUses', 0],
    ['circuitBreakerThreshold', 0],
    ['createTimeoutMillis', 0],
    ['destroyTimeoutMillis', 0],
    ['validateTimeoutMillis', 0],
    ['resetTimeoutMillis', 0],
    ['reapIntervalMillis', 0],
    ['createProbeIntervalMillis', 0],
  ])('rejects %s of %d, which would make the pool useless', (key, value) => {
    expectInvalid({ [key]: value }, key, /must be >= 1, got 0/);
  });

  it('rejects min greater than max, naming min and both values', () => {
    expectInvalid({ min: 5, max: 4 }, 'min', /min \(5\) must not exceed max \(4\)/);
    expectInvalid({ min: 11 }, 'min', /min \(11\) must not exceed max \(10\)/);
    expect(normalizeOptions({ min: 4, max: 4 }).min).toBe(4);
  });

  it('rejects a lifetime jitter of a whole lifetime or more', () => {
    expectInvalid({ maxLifetimeJitter: 1 }, 'maxLifetimeJitter', /fraction below 1/);
    expect(normalizeOptions({ maxLifetimeJitter: 0.99 }).maxLifetimeJitter).toBe(0.99);
  });

  it('rejects a retry base above the retry cap', () => {
    expectInvalid(
      { createRetryBaseMillis: 500, createRetryMaxMillis: 400 },
      'createRetryBaseMillis',
      /must not exceed createRetryMaxMillis \(400\)/,
    );
  });

  it.each([
    'createTimeoutMillis',
    'destroyTimeoutMillis',
    'validateTimeoutMillis',
    'resetTimeoutMillis',
    'reapIntervalMillis',
    'createProbeIntervalMillis',
  ])('rejects a %s too long for a timer', (key) => {
    expectInvalid({ [key]: kMaxTimerMillis + 1 }, key, /must be at most 2147483647 ms/);
    expect(normalizeOptions({ [key]: kMaxTimerMillis })[key as keyof PoolOptions]).toBe(
      kMaxTimerMillis,
    );
  });

  it('rejects a non-boolean warmMin', () => {
    expectInvalid({ warmMin: 'no' }, 'warmMin', /expected a boolean, got string no/);
  });

  it('rejects a non-boolean allowExitOnIdle', () => {
    expectInvalid({ allowExitOnIdle: 1 }, 'allowExitOnIdle', /expected a boolean, got number 1/);
  });

  it('rejects a non-boolean asyncStackTraces', () => {
    expectInvalid(
      { asyncStackTraces: 'yes' },
      'asyncStackTraces',
      /expected a boolean, got string yes/,
    );
  });

  it('rejects options that are not an object', () => {
    expectInvalid(null, 'options', /expected an object, got object/);
    expectInvalid(5, 'options', /expected an object, got number/);
  });

  it('rejects a factory without create or destroy', () => {
    const noDestroy = { create: () => Promise.resolve({ id: 1 }) } as unknown as Factory<unknown>;
    for (const factory of [noDestroy, {} as Factory<unknown>, undefined]) {
      let thrown: unknown;
      try {
        new Pool(factory as Factory<FakeResource>);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(PoolError);
      expect((thrown as PoolError).code).toBe('ERR_POOL_INVALID_OPTION');
      expect((thrown as PoolError).message).toMatch(/create\(signal\) and destroy\(resource\)/);
    }
  });
});

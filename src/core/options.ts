import { kMaxTimerMillis } from './clock.js';
import { InvalidOptionError } from './errors.js';
import type { PoolOptions } from './types.js';

/** Options after validation: every field present, frozen. */
export type NormalizedOptions = Readonly<Required<PoolOptions>>;

/** Numbers the default pool names, so that unnamed pools can still be told apart. */
let poolCount = 0;

const defaults: NormalizedOptions = {
  name: '',
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
  budget: undefined,
};

type NumericKey = {
  [K in keyof PoolOptions]-?: PoolOptions[K] extends number | undefined ? K : never;
}[keyof PoolOptions];

/** Rules per numeric option: the smallest allowed value, and whether it must be an integer. */
const numericRules: Record<NumericKey, { min: number; integer: boolean; finite?: true }> = {
  min: { min: 0, integer: true, finite: true },
  max: { min: 1, integer: true, finite: true },
  acquireTimeoutMillis: { min: 0, integer: false },
  createTimeoutMillis: { min: 1, integer: false },
  destroyTimeoutMillis: { min: 1, integer: false },
  idleTimeoutMillis: { min: 0, integer: false },
  maxLifetimeMillis: { min: 0, integer: false },
  maxLifetimeJitter: { min: 0, integer: false },
  maxUses: { min: 1, integer: true },
  validateAfterIdleMillis: { min: 0, integer: false },
  validateTimeoutMillis: { min: 1, integer: false },
  resetTimeoutMillis: { min: 1, integer: false },
  maxWaiting: { min: 0, integer: true },
  overloadTargetMillis: { min: 0, integer: false, finite: true },
  overloadIntervalMillis: { min: 1, integer: false, finite: true },
  createRetryBaseMillis: { min: 0, integer: false },
  createRetryMaxMillis: { min: 0, integer: false },
  createProbeIntervalMillis: { min: 1, integer: false, finite: true },
  circuitBreakerThreshold: { min: 1, integer: true },
  leakDetectionMillis: { min: 0, integer: false },
  leakReclaimMillis: { min: 0, integer: false, finite: true },
  reapIntervalMillis: { min: 1, integer: false },
};

/** Options that become a `setTimeout` delay, so must fit in one. */
const kTimerOptions = [
  'createTimeoutMillis',
  'destroyTimeoutMillis',
  'validateTimeoutMillis',
  'resetTimeoutMillis',
  'reapIntervalMillis',
  'createProbeIntervalMillis',
] as const;

export function normalizeOptions(options: PoolOptions = {}): NormalizedOptions {
  const result = withDefaults(options);
  checkTypes(result);
  const normalized = result as Required<PoolOptions>;
  checkRelations(normalized);
  return Object.freeze(normalized);
}

/** The options given, over the defaults; an unknown key is refused rather than ignored. */
function withDefaults(options: PoolOptions): Record<string, unknown> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', `expected an object, got ${typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(defaults, key)) {
      throw new InvalidOptionError(
        key,
        `unknown option; known options are ${Object.keys(defaults).join(', ')}`,
      );
    }
  }
  const result: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(options)) {
    // `undefined` means "use the default", as with `??`.
    if (value !== undefined) result[key] = value;
  }
  return result;
}

/** Each option on its own: its type and range. An empty name is given one. */
function checkTypes(result: Record<string, unknown>): void {
  for (const key of Object.keys(numericRules) as NumericKey[]) {
    checkNumber(key, result[key]);
  }
  for (const key of ['allowExitOnIdle', 'asyncStackTraces', 'warmMin'] as const) {
    if (typeof result[key] !== 'boolean') {
      throw new InvalidOptionError(key, `expected a boolean, got ${describe(result[key])}`);
    }
  }
  const budget = result['budget'];
  if (
    budget !== undefined &&
    (typeof budget !== 'object' ||
      budget === null ||
      typeof (budget as { join?: unknown }).join !== 'function')
  ) {
    throw new InvalidOptionError('budget', `expected a ConnectionBudget, got ${describe(budget)}`);
  }
  if (result['name'] === '') {
    result['name'] = `lifeguard-${++poolCount}`;
  } else if (typeof result['name'] !== 'string') {
    throw new InvalidOptionError(
      'name',
      `expected a non-empty string, got ${describe(result['name'])}`,
    );
  }
}

/** The options against each other, and the ones that become timer delays. */
function checkRelations(o: Required<PoolOptions>): void {
  if (o.min > o.max) {
    throw new InvalidOptionError('min', `min (${o.min}) must not exceed max (${o.max})`);
  }
  if (
    o.leakReclaimMillis > 0 &&
    o.leakDetectionMillis > 0 &&
    o.leakReclaimMillis < o.leakDetectionMillis
  ) {
    throw new InvalidOptionError(
      'leakReclaimMillis',
      `must not be below leakDetectionMillis (${o.leakDetectionMillis}): a leak is reported before it is reclaimed`,
    );
  }
  if (o.maxLifetimeJitter >= 1) {
    throw new InvalidOptionError('maxLifetimeJitter', 'must be a fraction below 1');
  }
  if (o.createRetryBaseMillis > o.createRetryMaxMillis) {
    throw new InvalidOptionError(
      'createRetryBaseMillis',
      `must not exceed createRetryMaxMillis (${o.createRetryMaxMillis})`,
    );
  }
  for (const key of kTimerOptions) {
    if (o[key] > kMaxTimerMillis) {
      throw new InvalidOptionError(key, `must be at most ${kMaxTimerMillis} ms`);
    }
  }
}

function checkNumber(key: NumericKey, value: unknown): void {
  const rule = numericRules[key];
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new InvalidOptionError(key, `expected a number, got ${describe(value)}`);
  }
  if (rule.finite && !Number.isFinite(value)) {
    throw new InvalidOptionError(key, `must be finite, got ${value}`);
  }
  if (value < rule.min) {
    throw new InvalidOptionError(key, `must be >= ${rule.min}, got ${value}`);
  }
  if (rule.integer && value !== Infinity && !Number.isInteger(value)) {
    throw new InvalidOptionError(key, `must be an integer, got ${value}`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'number':
    case 'string':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${value}`;
    default:
      return typeof value;
  }
}

/**
 * The constructor and `pool.options`: defaults filled in, given values kept, odd values read
 * the way pg.Pool reads them, keys pg ignores accepted, and the `log` and `Promise` options.
 */
import type pg from 'pg';

import { databaseUrl } from '../helpers.js';
import { step } from './observation.js';
import { harnessOnlyKeys } from './lifeguard-config.js';
import { describeScenarios } from './run-scenarios.js';
import type { Scenario } from './scenario.js';

/** The options pg.Pool fills in with its defaults. */
const defaultedKeys = [
  'max',
  'min',
  'idleTimeoutMillis',
  'maxUses',
  'allowExitOnIdle',
  'maxLifetimeSeconds',
] as const;

function pick(options: pg.PoolOptions, keys: readonly string[]): Record<string, unknown> {
  const source = options as unknown as Record<string, unknown>;
  return Object.fromEntries(keys.map((key) => [key, source[key]]));
}

/** Keys that pg and pg.Pool ignore: a config may carry them (ORMs, env loaders, typos). */
function ignoredKeyScenario(key: string): Scenario {
  return {
    name: `an ignored key (${key}) does not stop the pool`,
    async run({ pool, rec }) {
      const p = rec.attempt('constructor', () => pool({ [key]: 5_000 }));
      if (p !== undefined) await rec.outcome('query', p.query('SELECT 1 AS n'));
    },
  };
}

class TaggedPromise<T> extends Promise<T> {}

describeScenarios('options', [
  {
    name: 'pool.options: defaults',
    async run({ pool, rec }) {
      rec.step('options', pick(pool().options, [...defaultedKeys, 'connectionTimeoutMillis']));
    },
  },
  {
    name: 'pool.options: given values and extra keys are kept',
    async run({ pool, rec }) {
      const config = {
        max: 3,
        min: 1,
        idleTimeoutMillis: 500,
        connectionTimeoutMillis: 2_000,
        maxUses: 7,
        allowExitOnIdle: true,
        maxLifetimeSeconds: 60,
        application_name: 'differential',
        someOrmKey: 'kept',
      };
      rec.step('options', pick(pool(config).options, Object.keys(config)));
    },
  },
  {
    name: 'pool.options: enumerable keys',
    deliberate: {
      reason:
        '`connectionString` is readable but not enumerable in lifeguard, so that logging or serializing `pool.options` does not print the password it carries, see docs/compat.md#options-enumerable',
      differences: [
        {
          pgPool: [step('connectionString enumerable', true)],
          lifeguard: [step('connectionString enumerable', false)],
        },
      ],
    },
    async run({ pool, rec }) {
      const keys = Object.keys(pool({ max: 3 }).options).filter(
        (key) => !harnessOnlyKeys.includes(key),
      );
      rec.step('connectionString enumerable', keys.includes('connectionString'));
      rec.step(
        'keys',
        keys.filter((key) => key !== 'connectionString'),
      );
    },
  },
  {
    name: 'pool.options: the password and connection string can be read',
    async run({ pool, rec }) {
      const { options } = pool({ password: 'secret-password' });
      rec.step('password', options.password);
      rec.step('connectionString is the one given', options.connectionString === databaseUrl);
      rec.step('password enumerable', Object.keys(options).includes('password'));
    },
  },
  {
    name: 'pool.options: poolSize is read as max',
    async run({ pool, rec }) {
      rec.step('max', pool({ poolSize: 9 }).options.max);
    },
  },
  {
    name: 'pool.options: maxUses 0, idleTimeoutMillis null, min undefined',
    async run({ pool, rec }) {
      const config = { maxUses: 0, idleTimeoutMillis: null, min: undefined };
      const p = rec.attempt('constructor', () => pool(config));
      if (p !== undefined) rec.step('options', pick(p.options, defaultedKeys));
    },
  },
  {
    name: 'pool.options: max 0',
    deliberate: {
      reason:
        'lifeguard refuses `max: 0` with ERR_POOL_INVALID_OPTION where pg.Pool silently uses 10: a zero usually comes from a missing or misread setting, and a pool of 10 is not what was asked for, see docs/compat.md#max-zero',
      differences: [
        {
          pgPool: [step('constructor', { returned: '[Pool]' }), step('max', 10)],
          lifeguard: [
            step('constructor', {
              threw: {
                error: 'InvalidOptionError',
                code: 'ERR_POOL_INVALID_OPTION',
                message: 'Invalid pool option "max": must be >= 1, got 0',
              },
            }),
          ],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = rec.attempt('constructor', () => pool({ max: 0 }));
      if (p !== undefined) rec.step('max', p.options.max);
    },
  },
  ...['connectionTimeout', 'idleTimeout', 'acquireTimeout', 'maxLifetimeMillis', 'someOrmKey'].map(
    ignoredKeyScenario,
  ),
  {
    name: 'log receives messages while the pool works',
    async run({ pool, rec }) {
      const messages: unknown[] = [];
      const p = pool({ log: (message: unknown) => messages.push(message) });
      await p.query('SELECT 1 AS n');
      rec.step('some messages', messages.length > 0);
    },
  },
  {
    name: "log receives 'remove expended client' when maxUses is reached",
    async run({ pool, rec }) {
      const messages: unknown[] = [];
      const p = pool({ maxUses: 1, log: (message: unknown) => messages.push(message) });
      (await p.connect()).release();
      rec.step('logged', messages.includes('remove expended client'));
    },
  },
  {
    name: 'Promise: the promises returned are of that class',
    async run({ pool, rec }) {
      const p = pool({ Promise: TaggedPromise });
      const connecting = p.connect();
      rec.step('connect()', connecting instanceof TaggedPromise);
      (await connecting).release();
      const querying = p.query('SELECT 1 AS n');
      rec.step('query()', querying instanceof TaggedPromise);
      await querying;
      const ending = p.end();
      rec.step('end()', ending instanceof TaggedPromise);
      await ending;
    },
  },
]);

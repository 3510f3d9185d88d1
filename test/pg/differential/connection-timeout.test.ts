/**
 * connectionTimeoutMillis: against a server that never answers (the attempt to connect times
 * out), and with every client busy (waiting for one times out). pg.Pool's texts are what code
 * in the wild matches on.
 */
import { expect } from 'vitest';

import { oneOf, type Deliberate } from './deliberate.js';
import { step } from './observation.js';
import { describeScenarios } from './run-scenarios.js';
import { useSilentServer } from './servers.js';

const silentUrl = useSilentServer();

const pgPoolAcquireTimeout = { error: 'Error', message: 'timeout exceeded when trying to connect' };

/** lifeguard's acquire timeout: pg.Pool's text first, then lifeguard's detail. */
const lifeguardAcquireTimeout = {
  ...pgPoolAcquireTimeout,
  message: expect.stringMatching(/^timeout exceeded when trying to connect/),
};

/** The deliberate difference of a scenario whose step `name` records a rejection, `{ rejected }`. */
function acquireTimeoutRejected(name: string): Deliberate {
  return {
    reason:
      "lifeguard's acquire timeout message starts with pg.Pool's text and adds the pool's counts and the last connection error, see docs/compat.md#acquire-timeout-message",
    differences: [
      {
        pgPool: [step(name, { rejected: pgPoolAcquireTimeout })],
        lifeguard: [step(name, { rejected: lifeguardAcquireTimeout })],
      },
    ],
  };
}

const pgPoolAttemptTimeout = {
  error: 'Error',
  message: 'Connection terminated due to connection timeout',
};

/** lifeguard's timeout while a connection attempt was under way: pg.Pool's text, then detail. */
const lifeguardAttemptTimeout = {
  ...pgPoolAttemptTimeout,
  message: expect.stringMatching(/^Connection terminated due to connection timeout: waited /),
};

const kAttemptReason =
  "lifeguard's message starts with pg.Pool's text and adds the pool's counts; the wait and the connection attempt have separate timers, so the attempt still counts in totalCount for the moment until its own createTimeoutMillis (the same value) ends it, see docs/compat.md#connection-timeout";

/** A silent server: `name` records `outcome`, then 'afterwards' the counts. */
function attemptTimedOut(name: string, outcome: 'rejected' | 'err', extra = {}): Deliberate {
  return {
    reason: kAttemptReason,
    differences: [
      {
        pgPool: [
          step(name, { ...extra, [outcome]: pgPoolAttemptTimeout }),
          step('afterwards', { idle: 0, total: 0, waiting: 0 }),
        ],
        lifeguard: [
          step(name, { ...extra, [outcome]: lifeguardAttemptTimeout }),
          step('afterwards', { idle: 0, total: oneOf(0, 1), waiting: 0 }),
        ],
      },
    ],
  };
}

describeScenarios('connectionTimeoutMillis', [
  {
    name: 'a server that never answers: connect() calls back with a timeout error',
    deliberate: attemptTimedOut('callback', 'err', { done: '[function]' }),
    async run({ pool, rec }) {
      const p = pool({ connectionString: silentUrl(), connectionTimeoutMillis: 10 });
      const callback = rec.callback('callback', ['err', 'client', 'done']);
      p.connect(callback.fn);
      await callback.called;
      rec.counts('afterwards', p);
    },
  },
  {
    name: 'a server that never answers: connect() rejects with a timeout error',
    deliberate: attemptTimedOut('connect', 'rejected'),
    async run({ pool, rec }) {
      const p = pool({ connectionString: silentUrl(), connectionTimeoutMillis: 10 });
      await rec.outcome('connect', p.connect());
      rec.counts('afterwards', p);
    },
  },
  {
    name: 'a server that never answers: five timeouts in a row, each its own error',
    deliberate: {
      reason: kAttemptReason,
      differences: [
        ...[0, 1, 2, 3, 4].map((i) => ({
          pgPool: [step(`connect ${i}`, { rejected: pgPoolAttemptTimeout })],
          lifeguard: [step(`connect ${i}`, { rejected: lifeguardAttemptTimeout })],
        })),
        // The last attempt may still be open when its waiter gives up (the two timers race).
        {
          pgPool: [step('afterwards', { idle: 0, total: 0, waiting: 0 })],
          lifeguard: [step('afterwards', { idle: 0, total: oneOf(0, 1), waiting: 0 })],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool({ connectionString: silentUrl(), connectionTimeoutMillis: 1 });
      for (let i = 0; i < 5; i++) await rec.outcome(`connect ${i}`, p.connect());
      rec.counts('afterwards', p);
    },
  },
  {
    name: 'every client busy: connect() times out, and the holder is unaffected',
    deliberate: acquireTimeoutRejected('second connect'),
    async run({ pool, rec }) {
      const p = pool({ max: 1, connectionTimeoutMillis: 100 });
      const holder = await p.connect();
      await rec.outcome('second connect', p.connect());
      rec.counts('after the timeout', p);
      await rec.outcome("holder's query", holder.query('SELECT 1 AS n'));
      holder.release();
    },
  },
  {
    name: 'every client busy: a timeout does not break the next checkout',
    deliberate: acquireTimeoutRejected('second connect'),
    async run({ pool, rec }) {
      const p = pool({ max: 1, connectionTimeoutMillis: 200 });
      const holder = await p.connect();
      rec.step('holder', holder);
      await rec.outcome('second connect', p.connect());
      holder.release();
      const third = await rec.outcome('third connect', p.connect());
      third?.release();
    },
  },
  {
    name: 'every client busy: pool.query() calls back with a timeout, then works after release',
    deliberate: {
      reason:
        "lifeguard's acquire timeout message starts with pg.Pool's text and adds detail, see docs/compat.md#acquire-timeout-message",
      differences: [
        {
          pgPool: [step('callback', { err: pgPoolAcquireTimeout })],
          lifeguard: [step('callback', { err: lifeguardAcquireTimeout })],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool({ max: 1, connectionTimeoutMillis: 100 });
      const holder = await p.connect();
      const callback = rec.callback('callback', ['err', 'result']);
      p.query('SELECT now()', callback.fn);
      await callback.called;
      holder.release();
      await rec.outcome('query after release', p.query('SELECT $1::text AS name', ['brianc']));
    },
  },
  {
    name: 'connectionTimeoutMillis 0: a waiting connect() waits as long as it takes',
    async run({ pool, rec }) {
      const p = pool({ max: 1, connectionTimeoutMillis: 0 });
      const holder = await p.connect();
      const second = rec.outcome('second connect', p.connect());
      await holder.query('SELECT pg_sleep(0.2)');
      holder.release();
      (await second)?.release();
    },
  },
]);

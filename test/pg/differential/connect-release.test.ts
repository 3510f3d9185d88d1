/**
 * pool.connect() in its promise and callback forms, and client.release() with and without an
 * error: which client comes back, the events with their arguments, and the counts right after.
 */
import { once } from 'node:events';

import pg from 'pg';

import { databaseUrl } from '../helpers.js';
import { between } from './deliberate.js';
import { step } from './observation.js';
import type { RecordedCallback } from './recorder.js';
import { describeScenarios } from './run-scenarios.js';
import type { Scenario } from './scenario.js';
import { kTimedOut } from './waits.js';

type ConnectArgs = [Error | undefined, pg.PoolClient | undefined, (release?: unknown) => void];

/** Calls the `done` a connect callback was given, if it was called at all. */
async function doneOf(callback: RecordedCallback<ConnectArgs>): Promise<(r?: unknown) => void> {
  const args = await callback.called;
  return args === kTimedOut ? () => undefined : args[2];
}

/** pg's socket-level connection, which pg-pool's own tests reach into to break a client. */
function connectionOf(client: pg.PoolClient): { end(): void } {
  return (client as unknown as { connection: { end(): void } }).connection;
}

/**
 * `release(err)` or `release(true)`: the client is removed (the events, the counts right
 * after and at 'remove'), and the next connect() gets a new one.
 */
function destroyingRelease(call: string, arg: Error | true): Scenario {
  return {
    name: `${call} removes the client; the next connect() gets a new one`,
    async run({ pool, rec }) {
      const p = pool();
      rec.listen(p);
      const client = await p.connect();
      const removed = rec.countsAtEvent('counts at remove', p, 'remove');
      rec.attempt(call, () => client.release(arg));
      rec.counts(`right after ${call}`, p);
      await removed;
      const next = await rec.outcome('next connect', p.connect());
      next?.release();
    },
  };
}

describeScenarios('connect() and release()', [
  {
    name: 'promise form: a pg.Client that runs queries, then release()',
    async run({ pool, rec }) {
      const p = pool();
      rec.listen(p);
      const client = await rec.outcome('connect', p.connect());
      rec.step('instanceof pg.Client', client instanceof pg.Client);
      await rec.outcome('client query', client!.query('SELECT $1::text AS name', ['hi']));
      rec.attempt('release()', () => client!.release());
      rec.counts('right after release()', p);
    },
  },
  {
    name: 'callback form: (err, client, done), never synchronously, returning undefined',
    async run({ pool, rec }) {
      const p = pool();
      rec.listen(p);
      const callback = rec.callback<ConnectArgs>('callback', ['err', 'client', 'done']);
      rec.step('returned', p.connect(callback.fn));
      rec.step('after connect() returned');
      rec.attempt('done()', await doneOf(callback));
      rec.counts('right after done()', p);
    },
  },
  {
    name: 'callback form with an idle client ready: still not synchronous',
    async run({ pool, rec }) {
      const p = pool();
      (await p.connect()).release();
      const callback = rec.callback<ConnectArgs>('callback', ['err', 'client', 'done']);
      p.connect(callback.fn);
      rec.step('after connect() returned');
      (await doneOf(callback))();
    },
  },
  {
    name: 'the same client comes back after release()',
    async run({ pool, rec }) {
      const p = pool({ max: 1 });
      const first = await p.connect();
      rec.step('first', first);
      first.release();
      const second = await p.connect();
      rec.step('second', second);
      second.release();
    },
  },
  destroyingRelease('release(err)', new Error('problem')),
  destroyingRelease('release(true)', true),
  {
    name: 'release() twice throws, each time',
    async run({ pool, rec }) {
      const client = await pool().connect();
      client.release();
      rec.attempt('second release()', () => client.release());
      rec.attempt('third release()', () => client.release());
    },
  },
  {
    name: "the callback form's done() twice throws, each time",
    async run({ pool, rec }) {
      const callback = rec.callback<ConnectArgs>('callback', ['err', 'client', 'done']);
      pool().connect(callback.fn);
      const done = await doneOf(callback);
      done();
      rec.attempt('second done()', () => done());
      rec.attempt('third done()', () => done());
    },
  },
  {
    name: 'a waiting connect() gets the client released to the pool',
    async run({ pool, rec }) {
      const p = pool({ max: 1 });
      rec.listen(p);
      const first = await p.connect();
      const second = p.connect();
      rec.counts('while the second waits', p);
      first.release();
      rec.counts('right after release()', p);
      const client = await rec.outcome('second connect', second);
      rec.counts('once the second has it', p);
      client?.release();
    },
  },
  {
    name: '30 connects on 9 connections (poolSize) open 9',
    deliberate: {
      reason:
        'a waiter takes the first connection that is ready, not one opened for it: all 30 may be served before the last of the 9 attempts has finished, which then lands idle a moment later, see docs/compat.md#first-ready',
      differences: [
        {
          pgPool: [
            step('events', { acquire: 30, connect: 9, error: 0, release: 30, remove: 0 }),
            step('afterwards', { idle: 9, total: 9, waiting: 0 }),
          ],
          lifeguard: [
            step('events', {
              acquire: 30,
              connect: between(1, 9),
              error: 0,
              release: 30,
              remove: 0,
            }),
            step('afterwards', { idle: between(1, 9), total: 9, waiting: 0 }),
          ],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool({ poolSize: 9 });
      const tally = rec.tally(p);
      const work = Array.from({ length: 30 }, async () => {
        const client = await p.connect();
        await client.query('SELECT 1');
        client.release();
      });
      await Promise.all(work);
      tally.record('events');
      rec.counts('afterwards', p);
    },
  },
  {
    name: 'a client whose connection broke while checked out is removed on release()',
    async run({ pool, rec }) {
      const p = pool({ max: 1 });
      const client = await p.connect();
      const broke = once(client, 'error');
      connectionOf(client).end();
      await rec.outcome('client error', broke);
      rec.counts('before release()', p);
      client.release();
      rec.counts('right after release()', p);
      await rec.outcome('next query', p.query('SELECT 1 AS n'));
    },
  },
  {
    name: 'a client ended while checked out is removed on release()',
    async run({ pool, rec }) {
      const p = pool({ max: 1 });
      const client = await p.connect();
      const ended = client.end();
      client.release();
      rec.counts('right after release()', p);
      await rec.outcome('client end()', ended);
      await rec.outcome('next query', p.query('SELECT 1 AS n'));
    },
  },
  {
    name: 'the config object given to the pool is left unchanged',
    async run({ pool, rec }) {
      const config = { connectionString: databaseUrl, max: 10 };
      const p = pool(config);
      (await p.connect()).release();
      rec.step('config afterwards', { ...config, connectionString: '(the url)' });
      rec.step('same connectionString', config.connectionString === databaseUrl);
    },
  },
]);

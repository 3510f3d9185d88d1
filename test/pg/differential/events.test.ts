/**
 * The pool's events: connect, acquire, release, remove and error, in order, with their
 * arguments, and the counts at the moment an idle client's error is reported.
 */
import type pg from 'pg';

import { backendPid, terminate } from '../helpers.js';
import { FailingClient } from './clients.js';
import { between } from './deliberate.js';
import { step } from './observation.js';
import { countsOf, type Recorder } from './recorder.js';
import { describeScenarios } from './run-scenarios.js';
import { kTimedOut, onNextEvent } from './waits.js';

/** Resolves with the next 'error' of the pool, with err.client and the counts at that moment. */
function nextPoolError(pool: pg.Pool): Promise<unknown> {
  return onNextEvent(pool, 'error', (err) => ({
    errClient: (err as { client?: unknown }).client,
    counts: countsOf(pool),
  }));
}

/**
 * What the pool showed at its next 'error' and at its next 'remove', recorded in that fixed
 * order once both came: when pg.Pool's 'remove' fires relative to the scenario's own steps
 * depends on how fast the socket closes, so only the events' own order is part of the log.
 */
function errorThenRemove(pool: pg.Pool): { recordTo(rec: Recorder): Promise<void> } {
  const reported = nextPoolError(pool);
  const removed = onNextEvent(pool, 'remove', () => countsOf(pool));
  return {
    async recordTo(rec) {
      const [atError, atRemove] = await Promise.all([reported, removed]);
      rec.step('at the error', atError);
      rec.step('counts at remove', atRemove === kTimedOut ? "no 'remove' event in time" : atRemove);
    },
  };
}

describeScenarios('events', [
  {
    name: "'connect' and 'acquire' come before connect()'s callback",
    async run({ pool, rec }) {
      const p = pool();
      rec.listen(p);
      const callback = rec.callback('callback', ['err', 'client', 'done']);
      p.connect(callback.fn);
      const args = await callback.called;
      if (Array.isArray(args)) (args[1] as pg.PoolClient).release();
    },
  },
  {
    name: "no 'connect' when the Client fails to connect",
    async run({ pool, rec }) {
      const p = pool({ Client: FailingClient });
      rec.listen(p);
      await rec.outcome('connect', p.connect());
      rec.counts('afterwards', p);
    },
  },
  {
    name: "'release' carries the error passed to release(err), and the client",
    async run({ pool, rec }) {
      const p = pool();
      const client = await p.connect();
      rec.listen(p, ['release']);
      client.release(new Error('problem'));
    },
  },
  {
    name: 'pool.query(): connect, acquire and release per query, in order',
    pipelining: 'off',
    async run({ pool, rec }) {
      const p = pool();
      rec.listen(p);
      await rec.outcome('first', p.query('SELECT 1 AS n'));
      await rec.outcome('second', p.query('SELECT 2 AS n'));
    },
  },
  {
    name: '10 connects and 10 queries at once: 10 connects, 20 acquires, 20 releases',
    pipelining: 'off',
    deliberate: {
      reason:
        'a waiter takes the first connection that is ready, not one opened for it: when a caller releases before every attempt is made, fewer are opened, see docs/compat.md#first-ready',
      differences: [
        {
          pgPool: [step('events', { connect: 10, acquire: 20, release: 20, remove: 0, error: 0 })],
          lifeguard: [
            step('events', {
              connect: between(1, 10),
              acquire: 20,
              release: 20,
              remove: 0,
              error: 0,
            }),
          ],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool();
      const tally = rec.tally(p);
      const work = Array.from({ length: 10 }, async () => {
        const client = await p.connect();
        client.release();
      });
      const queries = Array.from({ length: 10 }, () => p.query('SELECT now()'));
      await Promise.all([...work, ...queries]);
      tally.record('events');
    },
  },
  {
    name: "an idle client's error: 'error' with err.client, removed first, then 'remove'",
    async run({ pool, rec }) {
      const p = pool();
      const client = await p.connect();
      client.release();
      rec.listen(p);
      const observed = errorThenRemove(p);
      client.emit('error', new Error('problem'));
      await observed.recordTo(rec);
    },
  },
  {
    name: 'an idle client whose backend is terminated: error, then remove',
    // The next query's connect/acquire/release are per-query events.
    pipelining: 'off',
    async run({ pool, rec }) {
      const p = pool();
      const client = await p.connect();
      const pid = await backendPid(client);
      client.release();
      rec.listen(p);
      const observed = errorThenRemove(p);
      await terminate(pid);
      await observed.recordTo(rec);
      await rec.outcome('next query', p.query('SELECT 1 AS n'));
    },
  },
  {
    name: "a checked-out client's error is not the pool's: no 'error', still counted",
    deliberate: {
      reason:
        "a client that emitted 'error' while checked out is removed when it is released, not pooled again: pg emits 'error' when its connection breaks, see docs/compat.md#checked-out-error",
      differences: [
        {
          pgPool: [step('right after release()', { total: 1, idle: 1, waiting: 0 })],
          lifeguard: [step('right after release()', { total: 0, idle: 0, waiting: 0 })],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool();
      rec.listen(p);
      const client = await p.connect();
      client.once('error', (err) => rec.step('client error', err));
      client.emit('error', new Error('expected'));
      rec.counts('right after the error', p);
      client.release();
      rec.counts('right after release()', p);
    },
  },
]);

/**
 * The pool's events: connect, acquire, release, remove and error, in order, with their
 * arguments, and the counts at the moment an idle client's error is reported.
 */
import type pg from 'pg';

import { backendPid, terminate } from '../helpers.js';
import { FailingClient } from './clients.js';
import { countsOf } from './recorder.js';
import { describeScenarios } from './run-scenarios.js';
import { onNextEvent } from './waits.js';

/** Resolves with the next 'error' of the pool, with err.client and the counts at that moment. */
function nextPoolError(pool: pg.Pool): Promise<unknown> {
  return onNextEvent(pool, 'error', (err) => ({
    errClient: (err as { client?: unknown }).client,
    counts: countsOf(pool),
  }));
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
      const reported = nextPoolError(p);
      const removed = rec.countsAtEvent('counts at remove', p, 'remove');
      client.emit('error', new Error('problem'));
      rec.step('at the error', await reported);
      await removed;
    },
  },
  {
    name: 'an idle client whose backend is terminated: error, then remove',
    async run({ pool, rec }) {
      const p = pool();
      const client = await p.connect();
      const pid = await backendPid(client);
      client.release();
      rec.listen(p);
      const reported = nextPoolError(p);
      const removed = rec.countsAtEvent('counts at remove', p, 'remove');
      await terminate(pid);
      rec.step('at the error', await reported);
      await removed;
      await rec.outcome('next query', p.query('SELECT 1 AS n'));
    },
  },
  {
    name: "a checked-out client's error is not the pool's: no 'error', still counted",
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

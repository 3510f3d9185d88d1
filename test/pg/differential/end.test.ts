/**
 * pool.end(): its promise and callback forms, which work still completes around it, and what
 * a pool that is ending or ended says to new work.
 */
import type pg from 'pg';

import { step } from './observation.js';
import { describeScenarios } from './run-scenarios.js';
import { outcomeOf, type Recorder } from './recorder.js';
import { kTimedOut, withinLimit } from './waits.js';

function flags(rec: Recorder, name: string, pool: pg.Pool): void {
  rec.step(name, { ending: pool.ending, ended: pool.ended });
}

/** Every way of giving an ended (or ending) pool new work. */
async function newWork(rec: Recorder, pool: pg.Pool): Promise<void> {
  await rec.outcome('connect()', pool.connect());
  await rec.outcome('query()', pool.query('SELECT 1 AS n'));
  const connected = rec.callback('connect(callback)', ['err', 'client', 'done']);
  pool.connect(connected.fn);
  await connected.called;
  const queried = rec.callback('query(callback)', ['err', 'result']);
  pool.query('SELECT 1 AS n', queried.fn);
  await queried.called;
}

const kAsyncReason =
  'lifeguard never calls a callback synchronously (pg.Pool does when end() has nothing to wait for, and when it refuses work on an ended pool), so code after the call always runs first, see docs/compat.md#callbacks-async';

const usedAfterEnd = { error: 'Error', message: 'Cannot use a pool after calling end on the pool' };
const endTwice = { error: 'Error', message: 'Called end on pool more than once' };

describeScenarios('end()', [
  {
    name: 'ends without being used, with a promise',
    async run({ pool, rec }) {
      const p = pool();
      flags(rec, 'before', p);
      const ending = p.end();
      flags(rec, 'right after end()', p);
      await rec.outcome('end()', ending);
      flags(rec, 'after', p);
    },
  },
  {
    name: 'ends with a callback, returning undefined',
    deliberate: {
      reason: kAsyncReason,
      differences: [
        {
          pgPool: [step('callback', {}), step('returned'), step('after end() returned')],
          lifeguard: [step('returned'), step('after end() returned'), step('callback', {})],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool();
      const callback = rec.callback('callback', ['err']);
      rec.step('returned', p.end(callback.fn));
      rec.step('after end() returned');
      await callback.called;
      flags(rec, 'after', p);
    },
  },
  {
    name: 'ends after a query: the idle client is removed',
    deliberate: {
      reason:
        "lifeguard's end() resolves once every connection is closed (pg.Pool's resolves as soon as it has asked them to close), so 'remove' comes before it, see docs/compat.md#end-resolves-closed",
      differences: [
        {
          pgPool: [step('end()', {})],
          lifeguard: [{ event: 'remove', args: ['c1'] }, step('end()', {})],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool();
      await p.query('SELECT 1 AS n');
      rec.listen(p, ['remove']);
      await rec.outcome('end()', p.end());
      rec.counts('after', p);
    },
  },
  {
    name: 'a query in flight when end() is called completes first',
    async run({ pool, rec }) {
      const p = pool();
      const query = rec.outcome('query', p.query('SELECT $1::text AS name', ['brianc']));
      const ending = rec.outcome('end()', p.end());
      await Promise.all([query, ending]);
    },
  },
  {
    name: '20 queries issued just before end() all complete (max 20)',
    async run({ pool, rec }) {
      const p = pool({ max: 20 });
      let completed = 0;
      const queries = Array.from({ length: 20 }, (_, i) =>
        p.query('SELECT $1::int AS i', [i]).then((result) => {
          completed++;
          return result.rows;
        }),
      );
      await p.end();
      rec.step('completed when end() resolved', completed);
      rec.step('results', await Promise.all(queries));
    },
  },
  {
    name: 'queries queued beyond max when end() is called',
    deliberate: {
      reason:
        "lifeguard's end() drains: queued work finishes and nothing is lost, where pg.Pool never settles queries still waiting for a client, see docs/compat.md#end-drains",
      differences: [
        {
          pgPool: [step('query 2', 'never settled'), step('query 3', 'never settled')],
          lifeguard: [
            step('query 2', { resolved: [{ i: 2 }] }),
            step('query 3', { resolved: [{ i: 3 }] }),
          ],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool({ max: 2 });
      const queries = [0, 1, 2, 3].map((i) =>
        outcomeOf(p.query('SELECT $1::int AS i', [i]).then((result) => result.rows)),
      );
      await rec.outcome('end()', p.end());
      // All waited for at once: pg.Pool's two never settle, and one limit is enough for both.
      const outcomes = await Promise.all(queries.map((query) => withinLimit(query)));
      for (const [i, outcome] of outcomes.entries()) {
        rec.step(`query ${i}`, outcome === kTimedOut ? 'never settled' : outcome);
      }
    },
  },
  {
    name: 'a checked-out client delays end() until it is released',
    async run({ pool, rec }) {
      const p = pool();
      const client = await p.connect();
      const ending = rec.outcome('end()', p.end());
      await rec.outcome('query on the held client', client.query('SELECT 1 AS n'));
      flags(rec, 'while the client is held', p);
      rec.step('releasing');
      client.release();
      await ending;
      flags(rec, 'after', p);
    },
  },
  {
    name: 'new work on an ended pool is refused, in every form',
    async run({ pool, rec }) {
      const p = pool();
      await p.end();
      await newWork(rec, p);
    },
  },
  {
    name: 'new work on an ending pool is refused, in every form',
    async run({ pool, rec }) {
      const p = pool();
      await p.query('SELECT 1');
      const ending = p.end();
      await newWork(rec, p);
      await ending;
    },
  },
  {
    name: 'on an ended pool, the callback comes before query() returns',
    deliberate: {
      reason: kAsyncReason,
      differences: [
        {
          pgPool: [step('callback', { err: usedAfterEnd }), step('query() returned')],
          lifeguard: [step('query() returned'), step('callback', { err: usedAfterEnd })],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool();
      await p.end();
      const queried = rec.callback('callback', ['err', 'result']);
      p.query('SELECT 1 AS n', queried.fn);
      rec.step('query() returned');
      await queried.called;
    },
  },
  {
    name: 'end() twice, with promises',
    async run({ pool, rec }) {
      const p = pool();
      const first = p.end();
      const second = p.end();
      await rec.outcome('first end()', first);
      await rec.outcome('second end()', second);
    },
  },
  {
    name: 'end() twice, with callbacks',
    deliberate: {
      reason: kAsyncReason,
      differences: [
        {
          pgPool: [step('first callback', {}), step('second callback', { err: endTwice })],
          lifeguard: [step('second callback', { err: endTwice }), step('first callback', {})],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool();
      const first = rec.callback('first callback', ['err']);
      const second = rec.callback('second callback', ['err']);
      p.end(first.fn);
      p.end(second.fn);
      await Promise.all([first.called, second.called]);
    },
  },
]);

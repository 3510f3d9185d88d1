/**
 * pool.query() in each of pg's forms: what comes back (rows, fields, errors) and how (promise,
 * callback, submittable). Rows and errors do not depend on how queries are dispatched, so these
 * run with lifeguard's pipelining on and off.
 */
import { once } from 'node:events';

import pg from 'pg';

import type { Deliberate } from './deliberate.js';
import { step, type Observation } from './observation.js';
import { describeScenarios } from './run-scenarios.js';

const kSubmittableReason =
  "lifeguard's pool.query(submittable) returns the submittable, as pg's Client.query does, so that streams (pg-query-stream, pg-cursor) work through the pool and give their client back when they end; pg.Pool returns a promise (which never settles for a stream), see docs/compat.md#submittable";

/** The submittable `returned`, and what pg.Pool's promise settled with, left out. */
function submittableReturned(settled: unknown, instead: readonly Observation[] = []): Deliberate {
  return {
    reason: kSubmittableReason,
    differences: [
      {
        pgPool: [step('returns the submittable itself', false)],
        lifeguard: [step('returns the submittable itself', true)],
      },
      {
        pgPool: [step('returned promise', settled)],
        lifeguard: instead,
      },
    ],
  };
}

const syntaxError = {
  error: 'DatabaseError',
  code: '42601',
  message: 'syntax error at or near "SELEC"',
};

const nameQuery = 'SELECT $1::text AS name';

/** A type parser that shows it was used. */
const taggingTypes = { getTypeParser: () => (value: string) => `parsed:${value}` };

describeScenarios('pool.query()', [
  {
    name: 'text',
    async run({ pool, rec }) {
      await rec.outcome('result', pool().query('SELECT 1 AS n, 2 AS m'));
    },
  },
  {
    name: 'text and values',
    async run({ pool, rec }) {
      await rec.outcome('result', pool().query(nameQuery, ['brianc']));
    },
  },
  {
    name: 'a config object, which is left unchanged',
    async run({ pool, rec }) {
      const config = { text: nameQuery, values: ['hi'] };
      await rec.outcome('result', pool().query(config));
      rec.step('config afterwards', config);
    },
  },
  {
    name: 'a config object with the values as the second argument',
    async run({ pool, rec }) {
      await rec.outcome('result', pool().query({ text: 'SELECT $1::int AS n' }, [5]));
    },
  },
  {
    name: "rowMode: 'array'",
    async run({ pool, rec }) {
      const query = { text: "SELECT 1 AS a, 'x' AS b", rowMode: 'array' as const };
      await rec.outcome('result', pool().query(query));
    },
  },
  {
    name: 'a named statement, run twice',
    async run({ pool, rec }) {
      const p = pool({ max: 1 });
      const named = { name: 'differential-named', text: 'SELECT $1::int * 2 AS n' };
      await rec.outcome('first', p.query({ ...named, values: [1] }));
      await rec.outcome('second', p.query({ ...named, values: [21] }));
    },
  },
  {
    name: 'custom types in the config object',
    async run({ pool, rec }) {
      const query = { text: 'SELECT 1::int AS n', types: taggingTypes };
      await rec.outcome('result', pool().query(query));
    },
  },
  {
    name: 'several statements in one text',
    async run({ pool, rec }) {
      await rec.outcome('results', pool().query('SELECT 1 AS a; SELECT 2 AS b'));
    },
  },
  {
    name: 'callback with text, called later with (err, result), returning undefined',
    async run({ pool, rec }) {
      const callback = rec.callback('callback', ['err', 'result']);
      rec.step('returned', pool().query('SELECT 1 AS num', callback.fn));
      rec.step('after query() returned');
      await callback.called;
    },
  },
  {
    name: 'callback with text and values',
    async run({ pool, rec }) {
      const callback = rec.callback('callback', ['err', 'result']);
      rec.step('returned', pool().query(nameQuery, ['brianc'], callback.fn));
      await callback.called;
    },
  },
  {
    name: 'callback with a config object',
    async run({ pool, rec }) {
      const callback = rec.callback('callback', ['err', 'result']);
      pool().query({ text: nameQuery, values: ['cfg'] }, callback.fn);
      await callback.called;
    },
  },
  {
    name: 'callback with a SQL error',
    async run({ pool, rec }) {
      const callback = rec.callback('callback', ['err', 'result']);
      pool().query('SELEC 1', callback.fn);
      await callback.called;
    },
  },
  {
    name: 'the promise is a native Promise',
    async run({ pool, rec }) {
      const promise = pool().query('SELECT 1 AS n');
      rec.step('instanceof Promise', promise instanceof Promise);
      await rec.outcome('result', promise);
    },
  },
  {
    name: 'a pg.Query submittable: what query() returns, its rows and end, then the next query',
    deliberate: submittableReturned({
      resolved: {
        command: 'SELECT',
        rowCount: 3,
        rows: [{ n: 1 }, { n: 2 }, { n: 3 }],
        fields: ['n'],
      },
    }),
    async run({ pool, rec }) {
      const p = pool({ max: 1 });
      const query = new pg.Query('SELECT generate_series(1, 3) AS n');
      query.on('row', (row: unknown) => rec.step('row', row));
      const ended = once(query, 'end');
      const returned: unknown = p.query(query);
      rec.step('returns the submittable itself', returned === query);
      // pg.Pool hands back a promise of the result instead (it gives the query a callback).
      if (returned instanceof Promise) await rec.outcome('returned promise', returned);
      await rec.settled('end', ended);
      rec.step('ended');
      await rec.outcome('next query on the only connection', p.query('SELECT 4 AS n'));
    },
  },
  {
    name: 'a pg.Query submittable that fails: where the error goes, then the next query',
    deliberate: submittableReturned({ rejected: syntaxError }, [step('error event', syntaxError)]),
    async run({ pool, rec }) {
      const p = pool({ max: 1 });
      const query = new pg.Query('SELEC 1');
      query.on('error', (error: Error) => rec.step('error event', error));
      const failed = once(query, 'error');
      const returned: unknown = p.query(query);
      rec.step('returns the submittable itself', returned === query);
      // With the callback pg.Pool gives it, a pg.Query reports its error there, not as an event.
      if (returned instanceof Promise) await rec.outcome('returned promise', returned);
      else await rec.settled('error event', failed);
      await rec.outcome('next query on the only connection', p.query('SELECT 1 AS n'));
    },
  },
  {
    name: 'a function as the first argument is called back with an error',
    async run({ pool, rec }) {
      const callback = rec.callback('callback', ['err', 'result']);
      const p = pool();
      const query = p.query as unknown as (cb: (err: Error) => void) => unknown;
      const returned = query.call(p, callback.fn);
      rec.step('returned', returned);
      // If it returned a promise, how it settles is part of the behaviour too.
      if (returned instanceof Promise) await rec.outcome('returned promise', returned);
      await callback.called;
    },
  },
  {
    name: 'null as the query',
    async run({ pool, rec }) {
      const p = pool();
      const query = p.query as unknown as (text: null) => Promise<unknown>;
      await rec.outcome('result', query.call(p, null));
    },
  },
  {
    name: '30 concurrent queries on 9 connections (poolSize) all answer',
    async run({ pool, rec }) {
      const p = pool({ poolSize: 9 });
      const queries = Array.from({ length: 30 }, (_, i) =>
        p.query({ text: 'SELECT $1::int AS i', values: [i] }),
      );
      rec.step(
        'rows',
        (await Promise.all(queries)).map((r) => r.rows),
      );
    },
  },
  {
    name: 'with max 1, only one query runs at a time on the server',
    async run({ pool, rec }) {
      const p = pool({ max: 1 });
      const text =
        "SELECT count(*)::int AS running FROM pg_stat_activity WHERE query = $1 AND state = 'active'";
      const results = await Promise.all(Array.from({ length: 20 }, () => p.query(text, [text])));
      rec.step(
        'running counts',
        results.map((r) => r.rows[0]),
      );
    },
  },
]);

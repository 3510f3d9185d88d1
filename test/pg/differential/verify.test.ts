/**
 * pg.Pool's `verify(client, done)` option: called for each new client before the caller gets
 * it; `done(err)` fails that caller with err and removes the client.
 */
import type pg from 'pg';

import { step } from './observation.js';
import { describeScenarios } from './run-scenarios.js';

type Verify = (client: pg.PoolClient, done: (err?: Error) => void) => void;

const rejectAll: Verify = (_client, done) => done(new Error('nope'));

describeScenarios('verify', [
  {
    name: 'done(err): connect() calls back with err',
    async run({ pool, rec }) {
      const p = pool({ verify: rejectAll });
      const callback = rec.callback('callback', ['err', 'client', 'done']);
      p.connect(callback.fn);
      await callback.called;
    },
  },
  {
    name: 'done(err): the events, and the client removed',
    deliberate: {
      reason:
        "verify is part of opening a connection in lifeguard: a client that fails it never joins the pool, so it has no 'connect', 'acquire', 'release' or 'remove' (pg.Pool emits all four for it), see docs/compat.md#verify-events",
      differences: [
        {
          pgPool: [
            { event: 'connect', args: ['c1'] },
            { event: 'acquire', args: ['c1'] },
            { event: 'release', args: [{ error: 'Error', message: 'nope' }, 'c1'] },
          ],
          lifeguard: [],
        },
        {
          pgPool: [
            { event: 'remove', args: ['c1'] },
            step('counts at remove', { idle: 0, total: 0, waiting: 0 }),
          ],
          lifeguard: [step('counts at remove', "no 'remove' event in time")],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool({ verify: rejectAll });
      rec.listen(p);
      // pg.Pool's 'remove' follows within milliseconds; lifeguard has none to wait for.
      const removed = rec.countsAtEvent('counts at remove', p, 'remove', undefined, 5_000);
      await rec.outcome('connect', p.connect());
      await removed;
    },
  },
  {
    name: 'done(): the client is handed out, and verify runs once per new client',
    async run({ pool, rec }) {
      let calls = 0;
      const accept: Verify = (_client, done) => {
        calls++;
        done();
      };
      const p = pool({ max: 1, verify: accept });
      const first = await rec.outcome('first connect', p.connect());
      first?.release();
      const second = await rec.outcome('second connect', p.connect());
      rec.step('verify calls', calls);
      await rec.outcome('client query', second!.query('SELECT 1 AS n'));
      second?.release();
    },
  },
  {
    name: 'done(err) through pool.query(): the query rejects with err',
    async run({ pool, rec }) {
      await rec.outcome('query', pool({ verify: rejectAll }).query('SELECT 1 AS n'));
    },
  },
]);

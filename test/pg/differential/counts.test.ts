/**
 * totalCount, idleCount and waitingCount at checkpoints, read synchronously right after each
 * call, as code that logs or exports them does. Those around pool.query() count per-query
 * connections, so they run with lifeguard's pipelining off.
 */
import pg from 'pg';

import { step } from './observation.js';
import { describeScenarios } from './run-scenarios.js';

describeScenarios('counts', [
  {
    name: 'connect(): while the first client opens, once it is out, once it is back',
    async run({ pool, rec }) {
      const p = pool();
      rec.counts('new pool', p);
      const connecting = p.connect();
      rec.counts('right after connect()', p);
      const client = await connecting;
      rec.counts('checked out', p);
      client.release();
      rec.counts('right after release()', p);
    },
  },
  {
    name: 'pool.query(): while the first client opens, and once the query is done',
    pipelining: 'off',
    async run({ pool, rec }) {
      const p = pool();
      const query = p.query('SELECT 1 AS n');
      rec.counts('right after query()', p);
      await query;
      rec.counts('after the query', p);
    },
  },
  {
    name: '20 queries at once on max 1: one runs, 19 wait',
    pipelining: 'off',
    async run({ pool, rec }) {
      const p = pool({ max: 1 });
      const queries = Array.from({ length: 20 }, (_, i) => p.query('SELECT $1::int AS i', [i]));
      rec.counts('right after the queries', p);
      await Promise.all(queries);
      rec.counts('after them all', p);
    },
  },
  {
    name: 'a submittable holds its client until it ends',
    pipelining: 'off',
    deliberate: {
      reason:
        'an idle client is handed out in the same turn of the event loop (pg.Pool queues the request and hands it out on a later tick), so right after pool.query(submittable) the client is already checked out, see docs/compat.md#same-turn-checkout',
      differences: [
        {
          pgPool: [step('right after query(submittable)', { total: 1, idle: 1, waiting: 1 })],
          lifeguard: [step('right after query(submittable)', { total: 1, idle: 0, waiting: 0 })],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool({ max: 1 });
      await p.query('SELECT 1');
      const query = new pg.Query('SELECT pg_sleep(0.05)');
      const ended = new Promise((resolve) => query.on('end', resolve));
      p.query(query);
      rec.counts('right after query(submittable)', p);
      await rec.settled('end', ended);
      rec.counts('after it ended', p);
    },
  },
]);

/**
 * A statement that fails on the server: the caller gets pg's DatabaseError unchanged. What
 * happens to the connection then is a deliberate difference: pg.Pool destroys it, lifeguard
 * keeps it (the error was the statement's, the connection is fine).
 */
import { oneOf } from './deliberate.js';
import { event, step } from './observation.js';
import { outcomeOf } from './recorder.js';
import { describeScenarios } from './run-scenarios.js';

const syntaxError = {
  error: 'DatabaseError',
  code: '42601',
  message: 'syntax error at or near "SELEC"',
};

const keepsConnection =
  'a SQL error fails only its query in lifeguard; the connection goes back to the pool, see docs/compat.md#sql-error-keeps-the-connection';

describeScenarios('SQL errors', [
  {
    name: 'pool.query() rejects with the DatabaseError',
    async run({ pool, rec }) {
      await rec.outcome('query', pool().query('SELEC 1'));
    },
  },
  {
    name: 'five failing queries at once all reject, and the pool carries on',
    async run({ pool, rec }) {
      const p = pool();
      // Recorded in the order they were sent: which fails first is up to the server.
      const failing = Array.from({ length: 5 }, () => outcomeOf(p.query("SELECT 'asd'+1")));
      rec.step('outcomes', await Promise.all(failing));
      await rec.outcome('next query', p.query('SELECT 1 AS n'));
    },
  },
  {
    name: "the failed query's connection: release(err) and removed, or kept",
    pipelining: 'off',
    deliberate: {
      reason: keepsConnection,
      differences: [
        {
          pgPool: [event('release', syntaxError, 'c1')],
          lifeguard: [event('release', undefined, 'c1')],
        },
        {
          pgPool: [step('totalCount right after the error', 0)],
          lifeguard: [step('totalCount right after the error', 1)],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool();
      rec.listen(p, ['release']);
      await rec.outcome('query', p.query('SELEC 1'));
      // Only the total: lifeguard may still be returning the connection (idle 0 or 1), and
      // pg.Pool's has gone.
      rec.step('totalCount right after the error', p.totalCount);
    },
  },
  {
    name: 'twenty failing queries on one connection, then one that works',
    pipelining: 'off',
    deliberate: {
      reason: keepsConnection,
      differences: [
        {
          pgPool: [step('totalCount after the errors', 0)],
          lifeguard: [step('totalCount after the errors', 1)],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool({ max: 1 });
      let errors = 0;
      for (let i = 0; i < 20; i++) await p.query('invalid sql').catch(() => errors++);
      rec.step('errors', errors);
      rec.step('totalCount after the errors', p.totalCount);
      await rec.outcome('next query', p.query('SELECT $1::text AS name', ['brianc']));
    },
  },
  {
    name: 'a failed statement on a checked-out client: released normally, the client is kept',
    deliberate: {
      reason:
        "the release guard learns the transaction status from pg's ReadyForQuery; when that message arrives in a later packet than the error, the client is idle a moment after release() returns, not at once, see docs/compat.md#release-guard-timing",
      differences: [
        {
          pgPool: [step('right after release()', { total: 1, idle: 1, waiting: 0 })],
          lifeguard: [step('right after release()', { total: 1, idle: oneOf(0, 1), waiting: 0 })],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool({ max: 1 });
      rec.listen(p, ['release', 'remove']);
      const client = await p.connect();
      await rec.outcome('client query', client.query('SELEC 1'));
      client.release();
      rec.counts('right after release()', p);
      const again = await p.connect();
      rec.step('same client', again === client);
      again.release();
    },
  },
]);

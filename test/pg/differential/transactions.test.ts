/**
 * Transactions. On a checked-out client they behave alike. Through `pool.query()`, pg.Pool
 * runs transaction control on whichever client it picks (which only works by chance, with one
 * caller), and lifeguard refuses it with a typed error (deliberate). A client released inside
 * a transaction is rolled back by lifeguard, never handed on (deliberate, an addition).
 */
import type pg from 'pg';
import { expect } from 'vitest';

import { adminClient, tableName } from '../helpers.js';
import type { Deliberate } from './deliberate.js';
import { step } from './observation.js';
import type { Recorder } from './recorder.js';
import { describeScenarios } from './run-scenarios.js';
import type { Scenario } from './scenario.js';

const refusedOnPool = {
  error: 'PgTransactionOnPoolError',
  code: 'ERR_PG_TRANSACTION_ON_POOL',
  message: expect.stringMatching(/^(?=[\s\S]*pool\.transaction\()(?=[\s\S]*pool\.connect\(\))/),
};

const refusedReason =
  'lifeguard refuses transaction control through pool.query(), where each call may run on another connection, and names pool.transaction() and pool.connect(), see docs/compat.md#transaction-control-on-pool-query';

/** What pg.Pool answers to a statement that returns no rows. */
function commandResult(command: string): unknown {
  return { resolved: { command, rowCount: null, rows: [], fields: [] } };
}

/** pg.Pool runs `text` and answers `command`; lifeguard refuses it. */
function refusedStatement(text: string, command: string): Scenario {
  return {
    name: `pool.query('${text}')`,
    deliberate: {
      reason: refusedReason,
      differences: [
        {
          pgPool: [step('query', commandResult(command))],
          lifeguard: [step('query', { rejected: refusedOnPool })],
        },
      ],
    },
    async run({ pool, rec }) {
      await rec.outcome('query', pool().query(text));
    },
  };
}

/** A one-row table of its own, dropped after `body`. */
async function withCounter(body: (table: string) => Promise<void>): Promise<void> {
  const admin = await adminClient();
  const table = tableName('differential_tx');
  await admin.query(`CREATE TABLE ${table} (n int)`);
  await admin.query(`INSERT INTO ${table} VALUES (1)`);
  try {
    await body(table);
  } finally {
    await admin.query(`DROP TABLE ${table}`);
  }
}

async function recordCounter(rec: Recorder, pool: pg.Pool, table: string): Promise<void> {
  await rec.outcome('value afterwards', pool.query(`SELECT n FROM ${table}`));
}

const dangerousPattern: Deliberate = {
  reason: refusedReason,
  differences: [
    {
      pgPool: [
        step('BEGIN', commandResult('BEGIN')),
        step('UPDATE', { resolved: { command: 'UPDATE', rowCount: 1, rows: [], fields: [] } }),
        step('ROLLBACK', commandResult('ROLLBACK')),
      ],
      lifeguard: [step('BEGIN', { rejected: refusedOnPool })],
    },
  ],
};

describeScenarios('transactions', [
  ...[
    ['BEGIN', 'BEGIN'],
    ['begin', 'BEGIN'],
    ['START TRANSACTION', 'START'],
    ['COMMIT', 'COMMIT'],
    ['ROLLBACK', 'ROLLBACK'],
    ['END', 'COMMIT'],
    ['ABORT', 'ROLLBACK'],
  ].map(([text, command]) => refusedStatement(text!, command!)),
  {
    name: 'a query that leaves a transaction open',
    deliberate: {
      reason: refusedReason,
      differences: [
        {
          pgPool: [
            step('query', {
              resolved: [
                { command: 'BEGIN', rowCount: null, rows: [], fields: [] },
                { command: 'SELECT', rowCount: 1, rows: [{ n: 1 }], fields: ['n'] },
              ],
            }),
          ],
          lifeguard: [step('query', { rejected: refusedOnPool })],
        },
      ],
    },
    async run({ pool, rec }) {
      await rec.outcome('query', pool().query('BEGIN; SELECT 1 AS n'));
    },
  },
  {
    name: 'a whole transaction in one text runs',
    async run({ pool, rec }) {
      await rec.outcome('query', pool().query('BEGIN; SELECT 1 AS n; COMMIT'));
    },
  },
  {
    name: 'BEGIN, UPDATE, ROLLBACK through pool.query() (stopping at the first error, as code would)',
    deliberate: dangerousPattern,
    async run({ pool, rec }) {
      const p = pool();
      await withCounter(async (table) => {
        for (const [name, text] of [
          ['BEGIN', 'BEGIN'],
          ['UPDATE', `UPDATE ${table} SET n = 2`],
          ['ROLLBACK', 'ROLLBACK'],
        ] as const) {
          if ((await rec.outcome(name, p.query(text))) === undefined) break;
        }
        await recordCounter(rec, p, table);
      });
    },
  },
  {
    name: 'BEGIN, UPDATE, ROLLBACK on a checked-out client',
    async run({ pool, rec }) {
      const p = pool();
      await withCounter(async (table) => {
        const client = await p.connect();
        await rec.outcome('BEGIN', client.query('BEGIN'));
        await rec.outcome('UPDATE', client.query(`UPDATE ${table} SET n = 2`));
        await rec.outcome('ROLLBACK', client.query('ROLLBACK'));
        client.release();
        await recordCounter(rec, p, table);
      });
    },
  },
  {
    name: 'a client released inside a transaction: what the next user of it finds',
    deliberate: {
      reason:
        'lifeguard rolls back a client released inside a transaction before anyone else gets it (the release guard), see docs/compat.md#release-guard',
      differences: [
        {
          pgPool: [step('next user is in a transaction', { resolved: [{ open: true }] })],
          lifeguard: [step('next user is in a transaction', { resolved: [{ open: false }] })],
        },
      ],
    },
    async run({ pool, rec }) {
      const p = pool({ max: 1 });
      const client = await p.connect();
      await client.query('BEGIN');
      client.release();
      const next = await p.connect();
      rec.step('same client', next === client);
      // now() is the transaction's start; statement_timestamp() this statement's.
      const open = next.query('SELECT now() <> statement_timestamp() AS open');
      await rec.outcome(
        'next user is in a transaction',
        open.then((r) => r.rows),
      );
      await next.query('ROLLBACK');
      next.release();
    },
  },
]);

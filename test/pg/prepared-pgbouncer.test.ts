/**
 * Automatic prepared statements behind a real PgBouncer (test/support/pgbouncer.ts). In
 * transaction mode, PgBouncer before 1.21 (or with max_prepared_statements = 0) does not keep
 * protocol-level statements per client: consecutive transactions of one client land on
 * different server connections. Every answer must stay right, and the pool must notice and
 * stop preparing. In session mode statements work: they stay on.
 *
 * Skipped when the `pgbouncer` binary is not installed (see test/support/extras.ts).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';

import type { Pool } from '../../src/pg/index.js';
import { describeWithExtra } from '../support/extras.js';
import { type PgBouncer, pgbouncerUnavailable, startPgBouncer } from '../support/pgbouncer.js';
import { createPool, databaseUrl } from './helpers.js';

const texts = [
  'SELECT $1::int AS n',
  'SELECT $1::int + 0 AS n',
  'SELECT ($1::int)::text::int AS n',
];

/**
 * One round of concurrent queries on every pool; each answer checked. Each pool has texts of
 * its own: statement names come from the text, so pools sending the same texts would find each
 * other's statements (the same text under the same name) on PgBouncer's server connections,
 * and, correctly, never lose one.
 */
async function round(pools: readonly Pool[], at: number): Promise<void> {
  const runs: Promise<void>[] = [];
  for (const [p, pool] of pools.entries()) {
    for (let i = 0; i < 12; i++) {
      const n = at * 100 + i;
      const text = `${texts[i % texts.length]!} /* pool ${p} */`;
      runs.push(
        pool.query<{ n: number }>(text, [n]).then(({ rows }) => {
          expect(rows).toEqual([{ n }]);
        }),
      );
    }
  }
  await Promise.all(runs);
}

describeWithExtra(
  'prepared statements behind PgBouncer in transaction mode',
  pgbouncerUnavailable,
  () => {
    let bouncer: PgBouncer;

    beforeAll(async () => {
      bouncer = await startPgBouncer({ databaseUrl, poolMode: 'transaction', defaultPoolSize: 2 });
    });
    afterAll(async () => {
      await bouncer?.stop();
    });

    for (const [path, base] of [
      ['pipelined', {}],
      ['exclusive', { pipelineQueries: false }],
    ] as const) {
      it(`answers stay right and preparing turns itself off (${path})`, async () => {
        const pools = [1, 2, 3].map(() => createPool({ ...base, max: 4 }, bouncer.url));
        let rounds = 0;
        while (pools.some((pool) => pool.stats().preparedStatements!.enabled) && rounds < 300) {
          await round(pools, rounds++);
        }
        for (const pool of pools) {
          const stats = pool.stats().preparedStatements!;
          expect(stats.enabled).toBe(false);
          expect(stats.retried).toBeGreaterThan(0);
        }
        // Off: what follows is unnamed, and still right.
        const before = pools.map((pool) => pool.stats().preparedStatements!.prepared);
        for (let i = 0; i < 5; i++) await round(pools, 1000 + i);
        expect(pools.map((pool) => pool.stats().preparedStatements!.prepared)).toEqual(before);
      }, 60_000);
    }

    it('prepareStatements: true stays on, and every answer is still right', async () => {
      const pools = [1, 2].map(() => createPool({ max: 4, prepareStatements: true }, bouncer.url));
      for (let i = 0; i < 40; i++) await round(pools, i);
      for (const pool of pools) expect(pool.stats().preparedStatements!.enabled).toBe(true);
    }, 60_000);
  },
);

describeWithExtra(
  'prepared statements behind PgBouncer in session mode',
  pgbouncerUnavailable,
  () => {
    let bouncer: PgBouncer;

    beforeAll(async () => {
      bouncer = await startPgBouncer({ databaseUrl, poolMode: 'session', defaultPoolSize: 4 });
    });
    afterAll(async () => {
      await bouncer?.stop();
    });

    it('stays on: statements are reused, none is lost', async () => {
      const pool = createPool({ max: 2 }, bouncer.url);
      for (let i = 0; i < 20; i++) await round([pool], i);
      const stats = pool.stats().preparedStatements!;
      expect(stats).toMatchObject({ enabled: true, retried: 0 });
      expect(stats.hits).toBeGreaterThan(stats.prepared);
    }, 60_000);
  },
);

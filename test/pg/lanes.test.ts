/**
 * Lanes against a real server: separate pools for fast and slow work under one budget. Slow
 * "report" queries are held on an advisory lock the test owns, so that "the api lane is served
 * while the reports lane is saturated" is a fact about ordering, not about time.
 */
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';

import { createLanes, RoutingError, type LaneRouter } from '../../src/routing/index.js';
import { adminClient, databaseUrl } from './helpers.js';

const kLock = 7_100_042;
const routers: LaneRouter[] = [];

afterEach(async () => {
  for (const router of routers.splice(0)) if (!router.ending) await router.end();
});

function lanes(
  app: string,
  overrides: Partial<Parameters<typeof createLanes>[0]> = {},
): LaneRouter {
  const router = createLanes({
    connectionString: databaseUrl,
    application_name: app,
    budget: 6,
    lanes: {
      api: { min: 2, max: 6, statementTimeout: 2_000 },
      // Not pipelined: a report blocked on a lock must not hold other reports behind it.
      reports: { max: 6, statementTimeout: 600_000, pipelineQueries: false },
    },
    ...overrides,
  });
  routers.push(router);
  return router;
}

async function connectionsOf(admin: pg.Client, app: string): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
    [app],
  );
  return rows[0]!.n;
}

/** Resolves once `n` sessions of `app` wait on the test's advisory lock. */
async function untilBlocked(admin: pg.Client, app: string, n: number): Promise<void> {
  for (;;) {
    const { rows } = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE application_name = $1 AND wait_event_type = 'Lock'`,
      [app],
    );
    if (rows[0]!.n >= n) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('lanes', () => {
  it('serves the api lane from its reserved connections while reports saturate the rest', async () => {
    const app = 'lanes-flood';
    const router = lanes(app);
    const admin = await adminClient();
    try {
      await admin.query('SELECT pg_advisory_lock($1)', [kLock]);
      // Twelve report queries for the four connections the api lane's minimum leaves them.
      const reports = Array.from({ length: 12 }, () =>
        router.query({
          text: 'SELECT pg_advisory_lock_shared($1)',
          values: [kLock],
          lane: 'reports',
        }),
      );
      await untilBlocked(admin, app, 4);
      expect(router.lane('reports').waitingCount).toBe(8);
      // The api lane still gets its two connections, and answers, while every report waits.
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          router.query<{ i: number }>('SELECT $1::int AS i', [i]),
        ),
      );
      expect(answers.map((r) => r.rows[0]!.i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(await connectionsOf(admin, app)).toBeLessThanOrEqual(6);
      const budget = router.stats().budget!;
      expect(budget.used).toBeLessThanOrEqual(6);
      expect(budget.members.find((m) => m.name === 'lanes.reports')?.used).toBe(4);
      await admin.query('SELECT pg_advisory_unlock($1)', [kLock]);
      await Promise.all(reports);
      expect(router.lane('reports').stats().queries).toBe(12);
      expect(router.lane('api').stats().queries).toBe(20);
    } finally {
      await admin.end();
    }
  });

  it("applies each lane's statement timeout", async () => {
    const router = lanes('lanes-timeouts', {
      lanes: { api: { statementTimeout: 100 }, reports: { statementTimeout: 60_000 } },
    });
    await expect(router.query('SELECT pg_sleep(0.5)')).rejects.toMatchObject({ code: '57014' });
    const slow = await router.query({ text: 'SELECT pg_sleep(0.5) AS done', lane: 'reports' });
    expect(slow.rowCount).toBe(1);
  });

  it("applies each lane's queue timeout, as pg.Pool's connection timeout error", async () => {
    const router = lanes('lanes-queue', {
      budget: 2,
      lanes: { api: { max: 1, queueTimeout: 200 }, reports: { max: 1 } },
    });
    const client = await router.connect();
    try {
      const error = await router.query('SELECT 1').then(
        () => undefined,
        (e: unknown) => e,
      );
      // pg.Pool's message, with lifeguard's counts after it.
      expect((error as Error).message).toMatch(/^timeout exceeded when trying to connect/);
    } finally {
      client.release();
    }
  });

  it('routes connect() and transactions to the default lane, or to the lane named', async () => {
    const router = lanes('lanes-routes', { default: 'reports' });
    const lanesSeen = await router.transaction(async (client) => {
      const { rows } = await client.query('SHOW statement_timeout');
      return rows[0].statement_timeout as string;
    });
    expect(lanesSeen).toBe('10min');
    const api = await router.transaction(
      async (client) => (await client.query('SHOW statement_timeout')).rows[0].statement_timeout,
      { lane: 'api' },
    );
    expect(api).toBe('2s');
    const client = await router.connect();
    client.release();
    expect(router.lane('reports').stats().acquires).toBeGreaterThanOrEqual(2);
  });

  it('passes on the members’ pg.Pool events and ends like pg.Pool', async () => {
    const router = lanes('lanes-events');
    const connected: unknown[] = [];
    router.on('connect', (client) => connected.push(client));
    await router.query({ text: 'SELECT 1', lane: 'reports' });
    expect(connected.length).toBeGreaterThanOrEqual(1);
    await router.end();
    expect(router.ended).toBe(true);
    await expect(router.query('SELECT 1')).rejects.toThrow(
      'Cannot use a pool after calling end on the pool',
    );
    await expect(router.end()).rejects.toThrow('Called end on pool more than once');
    expect(router.stats().budget).toMatchObject({ used: 0, members: [] });
  });

  it('reports stats and health per lane, and refuses an unknown lane', async () => {
    const router = lanes('lanes-health');
    const report = await router.health();
    expect(report.status).toBe('ok');
    expect(Object.keys(report.members)).toEqual(['api', 'reports']);
    expect(Object.keys(router.stats().members)).toEqual(['api', 'reports']);
    expect(() => router.lane('batch')).toThrow(RoutingError);
    await expect(router.query({ text: 'SELECT 1', lane: 'batch' } as never)).rejects.toThrow(
      /Unknown lane "batch"/,
    );
    await expect(router.transaction(() => 1, { lane: 'batch' })).rejects.toThrow(RoutingError);
  });

  it('refuses a config with no lanes or a default that is not a lane', () => {
    expect(() => createLanes({ lanes: {} })).toThrow(RoutingError);
    expect(() => createLanes({ lanes: { api: {} }, default: 'x' })).toThrow(/not one of api/);
  });
});

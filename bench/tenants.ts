/**
 * Tenants (lifeguard/routing `createTenants`): many tenants, Zipf-distributed load, a budget
 * smaller than the number of tenants.
 *
 *   npx tsx bench/tenants.ts [--tenants 50] [--budget 20] [--per-tenant 4] [--concurrency 40]
 *                            [--duration 5000] [--zipf 1.1] [--cold 10]
 *
 * Tenants are roles with a schema each in one database (`SET ROLE` + `search_path` on connect,
 * the one-round-trip reset on every release). Two measurements:
 *
 * - cold start: for `--cold` tenants in turn, on a router with free budget, the latency of the
 *   tenant's first query (resolve, pool, connect, SETs) against its second (warm);
 * - load: `--concurrency` callers run `SELECT $1::int` for `--duration` ms, each on a tenant
 *   drawn from Zipf(s) over the tenants (tenant 0 the hottest). Reported: throughput, latency
 *   p50/p99 overall, p99 of the 5 hottest tenants and of the tail (rank 20 and beyond), the
 *   connections used (server sessions under the router's application_name, sampled every 50 ms
 *   from pg_stat_activity; the maximum must not exceed the budget), and the pools opened,
 *   evicted and closed idle.
 *
 * Runs on a private embedded PostgreSQL (scripts/lib/database.ts), or on DATABASE_URL / PG*.
 * Writes bench/results/tenants-<timestamp>.json.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

import pg from 'pg';

import { createTenants, type TenantRouter } from '../src/routing/index.js';
import { redactUrl, startDatabase } from '../scripts/lib/database.js';
import { quantile } from './lib/call-tracker.js';
import { machineInfo, positiveInt, writeResults } from './lib/harness.js';
import { sampleSessions } from './lib/sessions.js';
import { zipfSampler } from './lib/zipf.js';

const APP = 'bench-tenants';

interface Settings {
  tenants: number;
  budget: number;
  perTenant: number;
  concurrency: number;
  durationMillis: number;
  zipf: number;
  cold: number;
}

function settingsFromArgs(): Settings {
  const { values } = parseArgs({
    options: {
      tenants: { type: 'string', default: '50' },
      budget: { type: 'string', default: '20' },
      'per-tenant': { type: 'string', default: '4' },
      concurrency: { type: 'string', default: '40' },
      duration: { type: 'string', default: '5000' },
      zipf: { type: 'string', default: '1.1' },
      cold: { type: 'string', default: '10' },
    },
  });
  return {
    tenants: positiveInt('tenants', values.tenants),
    budget: positiveInt('budget', values.budget),
    perTenant: positiveInt('per-tenant', values['per-tenant']),
    concurrency: positiveInt('concurrency', values.concurrency),
    durationMillis: positiveInt('duration', values.duration),
    zipf: Number(values.zipf),
    cold: Math.min(positiveInt('cold', values.cold), positiveInt('tenants', values.tenants)),
  };
}

async function createTenantRoles(admin: pg.Client, n: number): Promise<void> {
  const { rows } = await admin.query<{ db: string }>('SELECT current_database() AS db');
  const db = `"${rows[0]!.db.replace(/"/g, '""')}"`;
  for (let i = 0; i < n; i++) {
    await admin.query(
      `DO $$BEGIN CREATE ROLE bt_r_${i} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$;
       CREATE SCHEMA IF NOT EXISTS bt_s_${i} AUTHORIZATION bt_r_${i};
       GRANT TEMPORARY ON DATABASE ${db} TO bt_r_${i}`,
    );
  }
}

function router(url: string, s: Settings): TenantRouter {
  return createTenants({
    connectionString: url,
    application_name: APP,
    budget: s.budget,
    perTenant: { max: s.perTenant },
    resolve: (key) => ({ role: `bt_r_${key}`, searchPath: [`bt_s_${key}`] }),
  });
}

const ms = (x: number): number => Math.round(x * 100) / 100;

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

/** First query of a tenant (cold) against its second (warm), one tenant at a time. */
async function coldStart(url: string, s: Settings): Promise<Record<string, number>> {
  const db = router(url, s);
  const cold: number[] = [];
  const warm: number[] = [];
  try {
    for (let i = 0; i < s.cold; i++) {
      const tenant = db.tenant(String(i));
      cold.push(await timed(() => tenant.query('SELECT 1')));
      warm.push(await timed(() => tenant.query('SELECT 1')));
    }
  } finally {
    await db.end();
  }
  cold.sort((a, b) => a - b);
  warm.sort((a, b) => a - b);
  return {
    coldP50: ms(quantile(cold, 0.5)),
    coldMax: ms(cold.at(-1) ?? NaN),
    warmP50: ms(quantile(warm, 0.5)),
    warmMax: ms(warm.at(-1) ?? NaN),
  };
}

async function load(url: string, admin: pg.Client, s: Settings): Promise<Record<string, unknown>> {
  const db = router(url, s);
  const pick = zipfSampler(s.tenants, s.zipf);
  const latencies: number[][] = Array.from({ length: s.tenants }, () => []);
  const sampler = sampleSessions(admin, APP);
  const deadline = performance.now() + s.durationMillis;
  let errors = 0;
  const caller = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const tenant = pick(Math.random());
      const start = performance.now();
      try {
        await db.query({ text: 'SELECT $1::int', values: [tenant], tenant: String(tenant) });
        latencies[tenant]!.push(performance.now() - start);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: s.concurrency }, caller));
  const samples = await sampler.stop();
  const counts = db.stats().tenants;
  await db.end();
  return summarize(latencies, samples, counts, errors, s);
}

function summarize(
  latencies: number[][],
  samples: number[],
  counts: object,
  errors: number,
  s: Settings,
): Record<string, unknown> {
  const all = latencies.flat().sort((a, b) => a - b);
  const p99Of = (values: number[]): number =>
    ms(
      quantile(
        [...values].sort((a, b) => a - b),
        0.99,
      ),
    );
  const hot = latencies.slice(0, 5).map((values, rank) => ({
    tenant: rank,
    queries: values.length,
    p99: p99Of(values),
  }));
  const tail = latencies.slice(20).flat();
  return {
    queries: all.length,
    errors,
    throughputPerSecond: Math.round(all.length / (s.durationMillis / 1000)),
    p50: ms(quantile(all, 0.5)),
    p99: ms(quantile(all, 0.99)),
    hotTenants: hot,
    tailP99: p99Of(tail),
    tailQueries: tail.length,
    tenantsServed: latencies.filter((values) => values.length > 0).length,
    connectionsMax: Math.max(...samples),
    connectionsMean: ms(samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length)),
    samples: samples.length,
    pools: counts,
  };
}

async function main(): Promise<void> {
  const s = settingsFromArgs();
  const database = await startDatabase();
  const url = database.url;
  const admin = new pg.Client({ connectionString: url, application_name: `${APP}-admin` });
  await admin.connect();
  try {
    console.log(`PostgreSQL at ${redactUrl(url)}; ${JSON.stringify(s)}`);
    await createTenantRoles(admin, s.tenants);
    const cold = await coldStart(url, s);
    console.log('cold start (ms):', cold);
    const loaded = await load(url, admin, s);
    console.log('load:', JSON.stringify(loaded, null, 2));
    if ((loaded['connectionsMax'] as number) > s.budget) console.log('BUDGET EXCEEDED');
    const file = writeResults('tenants', { settings: s, machine: machineInfo(), cold, loaded });
    console.log(`results: ${file}`);
  } finally {
    await admin.end();
    await database.stop();
  }
}

await main();

/**
 * Overload: offer 5x what the pool can serve, open loop, with a latency budget. First the
 * capacity is measured (closed loop, many callers, on the lifeguard pool without shedding);
 * then each contender gets `--factor` times that rate for `--duration` ms:
 * - `lifeguard shed`: CoDel-style shedding (`overloadTargetMillis`, `overloadIntervalMillis`);
 * - `lifeguard`: no shedding (the default);
 * - `pg.Pool`.
 * All with `max` 4 and the same acquire timeout; lifeguard with `pipelineQueries: false`, so that the
 * three pools have the same capacity (one query per connection) and only queueing differs.
 * The query is `SELECT pg_sleep(0.005)`: a capacity set by the pool size, not by the CPU.
 *
 *   npx tsx bench/overload.ts [--factor 5] [--duration 3000] [--budget 100] [--target 20]
 */
import { parseArgs } from 'node:util';

import pg from 'pg';

import { Pool } from '../src/pg/index.js';
import { startDatabase } from '../scripts/lib/database.js';
import { CallTracker, quantile, sleep } from './lib/call-tracker.js';
import { machineInfo, writeResults } from './lib/harness.js';

const { values } = parseArgs({
  options: {
    factor: { type: 'string', default: '5' },
    duration: { type: 'string', default: '3000' },
    budget: { type: 'string', default: '100' },
    target: { type: 'string', default: '20' },
    interval: { type: 'string', default: '100' },
    'acquire-timeout': { type: 'string', default: '5000' },
  },
});
const factor = Number(values.factor);
const durationMillis = Number(values.duration);
const budgetMillis = Number(values.budget);
const overloadTargetMillis = Number(values.target);
const overloadIntervalMillis = Number(values.interval);
const acquireTimeoutMillis = Number(values['acquire-timeout']);
const max = 4;
const sql = 'SELECT pg_sleep(0.005)';

type Queryable = { query(text: string): Promise<unknown>; end(): Promise<void> };
const db = await startDatabase();
const contenders: [string, () => Queryable][] = [
  [
    `lifeguard shed (target ${overloadTargetMillis} ms, interval ${overloadIntervalMillis} ms)`,
    () =>
      new Pool({
        connectionString: db.url,
        max,
        pipelineQueries: false,
        acquireTimeoutMillis,
        overloadTargetMillis,
        overloadIntervalMillis,
      }),
  ],
  [
    'lifeguard (no shedding)',
    () => new Pool({ connectionString: db.url, max, pipelineQueries: false, acquireTimeoutMillis }),
  ],
  [
    'pg.Pool',
    () => {
      const pool = new pg.Pool({
        connectionString: db.url,
        max,
        connectionTimeoutMillis: acquireTimeoutMillis,
      });
      pool.on('error', () => undefined);
      return pool;
    },
  ],
];

const keepAlive = setInterval(() => undefined, 1_000);
try {
  // Capacity: closed loop, 8x max callers, 2 s.
  const probe = contenders[1]![1]();
  await probe.query('SELECT 1');
  const counter = new CallTracker();
  let running = true;
  const loops = Array.from({ length: max * 8 }, async () => {
    while (running) await counter.track('q', () => probe.query(sql));
  });
  await sleep(2_000);
  running = false;
  await Promise.all(loops);
  await probe.end();
  const capacity = Math.round(counter.summary().succeeded / 2);
  const offered = capacity * factor;
  console.log(
    `capacity ${capacity} queries/s; offering ${offered}/s (${factor}x) for ${durationMillis} ms, budget ${budgetMillis} ms\n`,
  );

  const rows: Record<string, unknown>[] = [];
  for (const [name, make] of contenders) {
    const pool = make();
    await Promise.all(Array.from({ length: max }, () => pool.query('SELECT 1')));
    const tracker = new CallTracker();
    let owed = 0;
    const tick = setInterval(() => {
      owed += offered / 100;
      for (; owed >= 1; owed--) void tracker.track('q', () => pool.query(sql));
    }, 10);
    await sleep(durationMillis);
    clearInterval(tick);
    await tracker.drained(acquireTimeoutMillis + 5_000);
    const summary = tracker.summary();
    const served = tracker.durations((r) => r.code === undefined);
    const withinBudget = served.filter((d) => d <= budgetMillis).length;
    const failedLatency = tracker.durations((r) => r.code !== undefined);
    rows.push({
      name,
      offered: summary.calls,
      servedPerSecond: Math.round(served.length / (durationMillis / 1000)),
      servedP50: round(quantile(served, 0.5)),
      servedP99: round(quantile(served, 0.99)),
      withinBudgetPercent: round((100 * withinBudget) / Math.max(1, summary.calls)),
      shedPercent: round(
        (100 * (summary.errorsByCode['ERR_POOL_OVERLOADED'] ?? 0)) / Math.max(1, summary.calls),
      ),
      failedP50: round(quantile(failedLatency, 0.5)),
      errorsByCode: summary.errorsByCode,
      hung: summary.pending,
    });
    await pool.end();
  }
  const header = [
    'pool',
    'offered',
    'served/s',
    'served p50 ms',
    'served p99 ms',
    'in budget %',
    'shed %',
    'fail p50 ms',
    'hung',
    'errors by code',
  ];
  const table = [
    header,
    ...rows.map((r) => [
      String(r['name']),
      String(r['offered']),
      String(r['servedPerSecond']),
      String(r['servedP50']),
      String(r['servedP99']),
      String(r['withinBudgetPercent']),
      String(r['shedPercent']),
      String(r['failedP50']),
      String(r['hung']),
      Object.entries(r['errorsByCode'] as Record<string, number>)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ') || 'none',
    ]),
  ];
  const widths = header.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  for (const r of table) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | '));
  const file = writeResults('overload', {
    machine: machineInfo(),
    settings: {
      factor,
      durationMillis,
      budgetMillis,
      overloadTargetMillis,
      overloadIntervalMillis,
      acquireTimeoutMillis,
      max,
      sql,
      capacity,
    },
    rows,
  });
  console.log(`\nresults: ${file}`);
} finally {
  clearInterval(keepAlive);
  await db.stop();
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

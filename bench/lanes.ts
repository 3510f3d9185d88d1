/**
 * Lanes (issue #12): closed-loop API callers run `SELECT 1` while a flood of slow report
 * queries (`pg_sleep(5)`, re-issued as each finishes) runs beside them, all within 10 server
 * connections. The API callers' latency during the flood, with:
 * - `pg.Pool`: one pool of 10 for both kinds of work;
 * - `pg.Pool x2 (hand-sized)`: an API pool of 6 and a report pool of 4;
 * - `lifeguard lanes`: createLanes, budget 10, api { min 6, statementTimeout 2 s },
 *   reports { statementTimeout 10 min, not pipelined };
 * - `lifeguard, one pool`: one lifeguard/pg Pool of 10 for both.
 * Also reported: report queries finished, and the most server sessions seen (sampled).
 *
 *   npx tsx bench/lanes.ts [--callers 32] [--reports 20] [--sleep 5] [--window 6000] [--rounds 3]
 */
import { parseArgs } from 'node:util';

import pg from 'pg';

import { Pool } from '../src/pg/index.js';
import { createLanes } from '../src/routing/index.js';
import { startDatabase } from '../scripts/lib/database.js';
import { CallTracker, quantile, sleep } from './lib/call-tracker.js';
import { machineInfo, writeResults } from './lib/harness.js';
import { sampleSessions } from './lib/sessions.js';

const { values } = parseArgs({
  options: {
    callers: { type: 'string', default: '32' },
    reports: { type: 'string', default: '20' },
    sleep: { type: 'string', default: '5' },
    before: { type: 'string', default: '1000' },
    window: { type: 'string', default: '6000' },
    rounds: { type: 'string', default: '3' },
  },
});
const callers = Number(values.callers);
const reportCount = Number(values.reports);
const sleepSeconds = Number(values.sleep);
const beforeMillis = Number(values.before);
const windowMillis = Number(values.window);
const rounds = Number(values.rounds);

interface Querier {
  query(text: string): Promise<unknown>;
}
interface Setup {
  name: string;
  api: Querier;
  reports: Querier;
  end(): Promise<void>;
}

const db = await startDatabase();
const app = 'bench-lanes';
const reportSql = `SELECT pg_sleep(${sleepSeconds})`;

function pgPool(max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: db.url, max, application_name: app });
  pool.on('error', () => undefined);
  return pool;
}

const setups: (() => Setup)[] = [
  () => {
    const pool = pgPool(10);
    return { name: 'pg.Pool (10)', api: pool, reports: pool, end: () => pool.end() };
  },
  () => {
    const api = pgPool(6);
    const reports = pgPool(4);
    return {
      name: 'pg.Pool x2, hand-sized (6 + 4)',
      api,
      reports,
      end: async () => {
        await Promise.all([api.end(), reports.end()]);
      },
    };
  },
  () => {
    const lanes = createLanes({
      connectionString: db.url,
      application_name: app,
      budget: 10,
      lanes: {
        api: { min: 6, max: 10, statementTimeout: 2_000 },
        reports: { max: 10, statementTimeout: 600_000, pipelineQueries: false },
      },
    });
    return {
      name: 'lifeguard lanes (budget 10, api min 6)',
      api: lanes,
      reports: lanes.lane('reports'),
      end: () => lanes.end(),
    };
  },
  () => {
    const pool = new Pool({ connectionString: db.url, max: 10, application_name: app });
    return { name: 'lifeguard, one pool (10)', api: pool, reports: pool, end: () => pool.end() };
  },
];

interface Row {
  name: string;
  round: number;
  apiPerSecond: number;
  apiP50: number;
  apiP99: number;
  apiMax: number;
  baselineP99: number;
  reportsDone: number;
  maxSessions: number;
  apiErrors: Record<string, number>;
}

async function runOnce(make: () => Setup, round: number): Promise<Row> {
  const setup = make();
  await setup.api.query('SELECT 1');
  const api = new CallTracker();
  const reports = new CallTracker();
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  const sessions = sampleSessions(admin, app);
  let apiRunning = true;
  let reportsRunning = true;
  const apiLoops = Array.from({ length: callers }, async () => {
    while (apiRunning) await api.track('api', () => setup.api.query('SELECT 1'));
  });
  await sleep(beforeMillis);
  const floodAt = performance.now();
  const reportLoops = Array.from({ length: reportCount }, async () => {
    while (reportsRunning) await reports.track('report', () => setup.reports.query(reportSql));
  });
  await sleep(windowMillis);
  const windowEnd = performance.now();
  apiRunning = false;
  reportsRunning = false;
  await Promise.all(apiLoops);
  await Promise.all(reportLoops);
  const maxSessions = Math.max(0, ...(await sessions.stop()));
  await admin.end();
  await setup.end();
  const inWindow = api.durations((r) => r.startedAt >= floodAt && r.startedAt < windowEnd);
  const before = api.durations((r) => r.startedAt < floodAt);
  return {
    name: setup.name,
    round,
    apiPerSecond: Math.round(inWindow.length / (windowMillis / 1000)),
    apiP50: round2(quantile(inWindow, 0.5)),
    apiP99: round2(quantile(inWindow, 0.99)),
    apiMax: round2(inWindow.at(-1) ?? NaN),
    baselineP99: round2(quantile(before, 0.99)),
    reportsDone: reports.summary().succeeded,
    maxSessions,
    apiErrors: api.summary().errorsByCode,
  };
}

const rows: Row[] = [];
const keepAlive = setInterval(() => undefined, 1_000);
try {
  for (let round = 1; round <= rounds; round++) {
    for (const make of setups) {
      const row = await runOnce(make, round);
      rows.push(row);
      console.log(`round ${round}: ${row.name}: api p99 ${row.apiP99} ms`);
    }
  }
  printMedians(rows);
  const file = writeResults('lanes', {
    machine: machineInfo(),
    settings: { callers, reportCount, sleepSeconds, beforeMillis, windowMillis, rounds },
    rows,
  });
  console.log(`\nresults: ${file}`);
} finally {
  clearInterval(keepAlive);
  await db.stop();
}

function printMedians(all: readonly Row[]): void {
  console.log(
    `\n${callers} API callers of SELECT 1; from ${beforeMillis} ms on, ${reportCount} report ` +
      `callers of ${reportSql}; API latency over ${windowMillis} ms; medians of ${rounds} rounds\n`,
  );
  const names = [...new Set(all.map((r) => r.name))];
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const pgP99 = median(all.filter((r) => r.name === names[0]).map((r) => r.apiP99));
  const header = ['setup', 'api q/s', 'api p50', 'api p99', 'p99 ÷ pg.Pool', 'p99 before'];
  const table = [
    [...header, 'reports done', 'max sessions', 'api errors'],
    ...names.map((name) => {
      const mine = all.filter((r) => r.name === name);
      const p99 = median(mine.map((r) => r.apiP99));
      const errors = mine.flatMap((r) => Object.entries(r.apiErrors).map(([k, n]) => `${k} ${n}`));
      return [
        name,
        String(median(mine.map((r) => r.apiPerSecond))),
        String(median(mine.map((r) => r.apiP50))),
        String(p99),
        `${(p99 / pgP99).toPrecision(2)}x`,
        String(median(mine.map((r) => r.baselineP99))),
        String(median(mine.map((r) => r.reportsDone))),
        String(Math.max(...mine.map((r) => r.maxSessions))),
        errors.join(', ') || 'none',
      ];
    }),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  for (const r of table) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | '));
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/**
 * Slow queries against fast ones: closed-loop callers run `SELECT 1` while a burst of
 * `pg_sleep` queries arrives at once. What happens to the fast queries' latency with:
 * - `lifeguard`: one pool, defaults (max 10);
 * - `lifeguard statementTimeout`: the same, the slow queries sent with a per-query
 *   `statementTimeout` (BEGIN; SET LOCAL statement_timeout; ...), so they are cancelled;
 * - `lifeguard separate pools`: slow work on its own small pool (max 2), fast on another (max 8):
 *   separate limits, so the burst can hold at most two connections;
 * - `pg.Pool`: one pool, max 10.
 *
 *   npx tsx bench/slow-queries.ts [--callers 32] [--slow 20] [--sleep 1.5] [--timeout 200]
 */
import { parseArgs } from 'node:util';

import pg from 'pg';

import { Pool } from '../src/pg/index.js';
import { startDatabase } from '../scripts/lib/database.js';
import { CallTracker, quantile, sleep } from './lib/call-tracker.js';
import { machineInfo, writeResults } from './lib/harness.js';

const { values } = parseArgs({
  options: {
    callers: { type: 'string', default: '32' },
    slow: { type: 'string', default: '20' },
    sleep: { type: 'string', default: '1.5' },
    timeout: { type: 'string', default: '200' },
    before: { type: 'string', default: '1000' },
    window: { type: 'string', default: '2500' },
  },
});
const callers = Number(values.callers);
const slowCount = Number(values.slow);
const sleepSeconds = Number(values.sleep);
const statementTimeout = Number(values.timeout);
const beforeMillis = Number(values.before);
const windowMillis = Number(values.window);

interface Setup {
  name: string;
  fast: { query(text: string): Promise<unknown> };
  slow: (text: string) => Promise<unknown>;
  end(): Promise<void>;
}

const db = await startDatabase();
const slowSql = `SELECT pg_sleep(${sleepSeconds})`;
const setups: (() => Setup)[] = [
  () => {
    const pool = new Pool({ connectionString: db.url, max: 10 });
    return { name: 'lifeguard', fast: pool, slow: (t) => pool.query(t), end: () => pool.end() };
  },
  () => {
    const pool = new Pool({ connectionString: db.url, max: 10 });
    return {
      name: `lifeguard statementTimeout ${statementTimeout} ms`,
      fast: pool,
      slow: (text) => pool.query({ text, statementTimeout }),
      end: () => pool.end(),
    };
  },
  () => {
    const fast = new Pool({ connectionString: db.url, max: 8 });
    const slow = new Pool({ connectionString: db.url, max: 2 });
    return {
      name: 'lifeguard separate pools (8 fast + 2 slow)',
      fast,
      slow: (t) => slow.query(t),
      end: async () => {
        await Promise.all([fast.end(), slow.end()]);
      },
    };
  },
  () => {
    const pool = new pg.Pool({ connectionString: db.url, max: 10 });
    pool.on('error', () => undefined);
    return { name: 'pg.Pool', fast: pool, slow: (t) => pool.query(t), end: () => pool.end() };
  },
];

interface Row {
  name: string;
  fastPerSecond: number;
  fastP50: number;
  fastP99: number;
  fastMax: number;
  baselineP99: number;
  slowOutcomes: Record<string, number>;
  fastErrors: Record<string, number>;
}

const rows: Row[] = [];
const keepAlive = setInterval(() => undefined, 1_000);
try {
  for (const make of setups) {
    const setup = make();
    await setup.fast.query('SELECT 1');
    const fast = new CallTracker();
    const slow = new CallTracker();
    let running = true;
    const loops = Array.from({ length: callers }, async () => {
      while (running) await fast.track('fast', () => setup.fast.query('SELECT 1'));
    });
    await sleep(beforeMillis);
    const burstAt = performance.now();
    for (let i = 0; i < slowCount; i++) void slow.track('slow', () => setup.slow(slowSql));
    await sleep(windowMillis);
    const windowEnd = performance.now();
    running = false;
    await Promise.all(loops);
    await slow.drained(sleepSeconds * 1000 * slowCount + 10_000);
    const inWindow = fast.durations((r) => r.startedAt >= burstAt && r.startedAt < windowEnd);
    const before = fast.durations((r) => r.startedAt < burstAt);
    rows.push({
      name: setup.name,
      fastPerSecond: Math.round(inWindow.length / (windowMillis / 1000)),
      fastP50: round(quantile(inWindow, 0.5)),
      fastP99: round(quantile(inWindow, 0.99)),
      fastMax: round(inWindow.at(-1) ?? NaN),
      baselineP99: round(quantile(before, 0.99)),
      fastErrors: fast.summary().errorsByCode,
      slowOutcomes: Object.fromEntries(
        Object.entries({ ...slow.summary().errorsByCode, ok: slow.summary().succeeded }).filter(
          ([, n]) => n > 0,
        ),
      ),
    });
    await setup.end();
  }
  console.log(
    `${callers} callers of SELECT 1; ${slowCount} x ${slowSql} at once after ${beforeMillis} ms; ` +
      `fast latencies over the next ${windowMillis} ms\n`,
  );
  const header = [
    'setup',
    'fast q/s',
    'fast p50 ms',
    'fast p99 ms',
    'fast max ms',
    'p99 before burst',
    'slow queries',
    'fast errors',
  ];
  const table = [
    header,
    ...rows.map((r) => [
      r.name,
      String(r.fastPerSecond),
      String(r.fastP50),
      String(r.fastP99),
      String(r.fastMax),
      String(r.baselineP99),
      Object.entries(r.slowOutcomes)
        .map(([k, n]) => `${k} ${n}`)
        .join(', '),
      Object.entries(r.fastErrors)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ') || 'none',
    ]),
  ];
  const widths = header.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  for (const r of table) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | '));
  const file = writeResults('slow-queries', {
    machine: machineInfo(),
    settings: { callers, slowCount, sleepSeconds, statementTimeout, beforeMillis, windowMillis },
    rows,
  });
  console.log(`\nresults: ${file}`);
} finally {
  clearInterval(keepAlive);
  await db.stop();
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

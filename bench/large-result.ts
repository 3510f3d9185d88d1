/**
 * Large results beside small queries (issue #14): one caller asks for a large result (by default
 * `SELECT repeat('x', 50 MiB)`: one 50 MB row), and 50 other callers each send `SELECT 1` right
 * after it, in the same turn of the event loop, as a new user's test would. Measured per round:
 * - small: from the 50 small queries' dispatch until the last of them is answered;
 * - big: the large query's own time, from its dispatch to its answer;
 * - before big: how many of the small queries were answered before the large one;
 * - connections: how many the pool opened ('connect' events).
 *
 * Two scenarios, each with `pg.Pool` and `lifeguard/pg` (both `max: 10`) in the same run:
 * - cold: a new pool per round, which has never seen the large statement;
 * - warm: one pool for all rounds (after one unmeasured round), as a running application:
 *   lifeguard/pg has learned by then that the statement returns a large result.
 * Reports medians over `--rounds`, and the ratio of lifeguard/pg's small-query latency to
 * pg.Pool's (the target: <= 1.5).
 *
 *   npx tsx bench/large-result.ts [--rounds 5] [--mib 50] [--small 50] [--rows]
 *
 * `--rows` asks for the same amount as many small rows (`generate_series`) instead of one row.
 * Runs on a private embedded PostgreSQL (scripts/lib/database.ts), or on DATABASE_URL / PG*.
 */
import { parseArgs } from 'node:util';

import pg from 'pg';

import { Pool as LifeguardPool } from '../src/pg/index.js';
import { startDatabase } from '../scripts/lib/database.js';
import { machineInfo, median, writeResults } from './lib/harness.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    mib: { type: 'string', default: '50' },
    small: { type: 'string', default: '50' },
    rows: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const bytes = Number(values.mib) * 1024 * 1024;
const smallCount = Number(values.small);
// 100-byte rows: `repeat` of 96 characters plus the row's framing.
const bigSql = values.rows
  ? `SELECT repeat('x', 96) FROM generate_series(1, ${Math.round(bytes / 110)})`
  : `SELECT repeat('x', ${bytes})`;

interface Querier {
  query(text: string): Promise<unknown>;
  on(event: 'connect' | 'error', listener: () => void): unknown;
  end(): Promise<void>;
}

interface Round {
  smallMillis: number;
  bigMillis: number;
  smallBeforeBig: number;
  connections: number;
}

const contenders: Record<string, (url: string) => Querier> = {
  'pg.Pool': (url) => new pg.Pool({ connectionString: url, max: 10 }),
  'lifeguard/pg': (url) => new LifeguardPool({ connectionString: url, max: 10 }),
};

/** One large query, then `smallCount` small ones in the same turn. */
async function scenario(pool: Querier, opened: () => number): Promise<Round> {
  const before = opened();
  const start = performance.now();
  let bigDone = NaN;
  let smallBeforeBig = 0;
  let bigAnswered = false;
  const big = pool.query(bigSql).then(() => {
    bigDone = performance.now();
    bigAnswered = true;
  });
  const smalls: Promise<unknown>[] = [];
  for (let i = 0; i < smallCount; i++) {
    smalls.push(
      pool.query('SELECT 1').then(() => {
        if (!bigAnswered) smallBeforeBig++;
      }),
    );
  }
  await Promise.all(smalls);
  const smallDone = performance.now();
  await big;
  return {
    smallMillis: smallDone - start,
    bigMillis: bigDone - start,
    smallBeforeBig,
    connections: opened() - before,
  };
}

function open(name: string, url: string): { pool: Querier; opened: () => number } {
  const pool = contenders[name]!(url);
  let connections = 0;
  pool.on('connect', () => connections++);
  pool.on('error', () => undefined);
  return { pool, opened: () => connections };
}

async function cold(name: string, url: string): Promise<Round> {
  const { pool, opened } = open(name, url);
  try {
    return await scenario(pool, opened);
  } finally {
    await pool.end();
  }
}

function summary(list: readonly Round[]): Round {
  return {
    smallMillis: median(list.map((r) => r.smallMillis)),
    bigMillis: median(list.map((r) => r.bigMillis)),
    smallBeforeBig: median(list.map((r) => r.smallBeforeBig)),
    connections: median(list.map((r) => r.connections)),
  };
}

const db = await startDatabase();
const names = Object.keys(contenders);
const results: Record<string, Record<string, Round>> = { cold: {}, warm: {} };
try {
  const coldRounds: Record<string, Round[]> = {};
  const warmRounds: Record<string, Round[]> = {};
  const warm = names.map((name) => ({ name, ...open(name, db.url) }));
  for (const w of warm) await scenario(w.pool, w.opened); // unmeasured: the pool learns
  for (let round = 0; round < rounds; round++) {
    // Interleaved, so that the machine's noise falls on every contender alike.
    for (const name of names) (coldRounds[name] ??= []).push(await cold(name, db.url));
    for (const w of warm) (warmRounds[w.name] ??= []).push(await scenario(w.pool, w.opened));
  }
  for (const w of warm) await w.pool.end();
  for (const name of names) {
    results.cold![name] = summary(coldRounds[name]!);
    results.warm![name] = summary(warmRounds[name]!);
  }
} finally {
  await db.stop();
}

const what = values.rows ? `${values.mib} MiB in 110-byte rows` : `one ${values.mib} MiB row`;
console.log(`${smallCount} x SELECT 1 beside ${what}, max 10 (medians of ${rounds} rounds)\n`);
for (const scenarioName of ['cold', 'warm'] as const) {
  const byName = results[scenarioName]!;
  const base = byName['pg.Pool']!.smallMillis;
  console.log(`${scenarioName}:`);
  for (const name of names) {
    const r = byName[name]!;
    console.log(
      `  ${name.padEnd(14)} small ${r.smallMillis.toFixed(1).padStart(7)} ms (${(r.smallMillis / base).toFixed(2)}x)` +
        `  big ${r.bigMillis.toFixed(1).padStart(7)} ms  before big ${String(r.smallBeforeBig).padStart(3)}` +
        `  connections ${r.connections}`,
    );
  }
}
const file = writeResults('large-result', {
  machine: machineInfo(),
  rounds,
  bytes,
  rows: values.rows,
  smallCount,
  results,
});
console.log(`\n${file}`);

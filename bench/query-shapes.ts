/**
 * What the shape of a query costs on the pipelined path: `pool.query()` at N concurrent callers
 * (max 10) for lifeguard/pg and pg.Pool, in three forms, each contender in the same run on the
 * same server, rotated per round, medians of `--rounds`:
 *
 * - `text`:   `pool.query('SELECT $1::int', [n])`, the bench/pipeline.ts load;
 * - `config`: `pool.query({ text: 'SELECT $1::int', values: [n] })`, as Drizzle and many
 *             wrappers call it (pg copies every config object before reading it);
 * - `wide`:   a ten-column row of common types, `pool.query(text, [n])` (a RowDescription of
 *             ten fields per answer, unless the statement is sent without Describe).
 *
 *   npx tsx bench/query-shapes.ts [--rounds 5] [--duration 1500] [--concurrency 100]
 *                                 [--only text,config,wide]
 *
 * Columns: queries/s, lifeguard ÷ pg.Pool, and this process's CPU time per answered query
 * (`process.cpuUsage`, both pools in one process but never at the same time). Runs on a
 * private embedded PostgreSQL, or on DATABASE_URL / PG*. Writes bench/results/query-shapes-*.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import pg from 'pg';

import { Pool as LifeguardPool } from '../src/pg/index.js';
import { redactUrl, startDatabase } from '../scripts/lib/database.js';
import { exposeGc, machineInfo, median, positiveInt, writeResults } from './lib/harness.js';

const MAX = 10;
const SHAPES = ['text', 'config', 'wide'] as const;
type Shape = (typeof SHAPES)[number];
const POOLS = ['lifeguard', 'pg.Pool'] as const;
type PoolName = (typeof POOLS)[number];

const NARROW = 'SELECT $1::int';
const WIDE =
  'SELECT $1::int AS id, $1::text AS name, $1::int8 AS created_by, now() AS created_at, ' +
  'true AS active, $1::text AS email, 1.5::float8 AS score, $1::int AS org_id, ' +
  '$1::text AS title, NULL::text AS note';

interface Queryable {
  query(text: string | pg.QueryConfig, values?: unknown[]): Promise<unknown>;
  end(): Promise<void>;
}

interface Sample {
  qps: number;
  cpuMicrosPerQuery: number;
}

function randomInt(): number {
  return (Math.random() * 1_000_000) | 0;
}

function queryFor(pool: Queryable, shape: Shape): () => Promise<unknown> {
  switch (shape) {
    case 'text':
      return () => pool.query(NARROW, [randomInt()]);
    case 'config':
      return () => pool.query({ text: NARROW, values: [randomInt()] });
    case 'wide':
      return () => pool.query(WIDE, [randomInt()]);
  }
}

function openPool(name: PoolName, url: string): Queryable {
  if (name === 'lifeguard') return new LifeguardPool({ connectionString: url, max: MAX });
  const pool = new pg.Pool({ connectionString: url, max: MAX });
  pool.on('error', () => undefined);
  return pool;
}

/** One measurement: a fresh pool, `concurrency` callers in a loop, a warm-up, a window. */
async function measure(
  name: PoolName,
  shape: Shape,
  url: string,
  concurrency: number,
  durationMillis: number,
): Promise<Sample> {
  const pool = openPool(name, url);
  const query = queryFor(pool, shape);
  let answered = 0;
  let running = true;
  const caller = async (): Promise<void> => {
    while (running) {
      await query();
      answered++;
    }
  };
  const callers = Array.from({ length: concurrency }, caller);
  await sleep(300);
  answered = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await sleep(durationMillis);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const count = answered;
  running = false;
  await Promise.all(callers);
  await pool.end();
  return { qps: count / seconds, cpuMicrosPerQuery: (cpu.user + cpu.system) / count };
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      duration: { type: 'string', default: '1500' },
      concurrency: { type: 'string', default: '100' },
      only: { type: 'string', default: SHAPES.join(',') },
    },
  });
  const shapes = values.only.split(',').map((s) => s.trim());
  for (const shape of shapes) {
    if (!(SHAPES as readonly string[]).includes(shape)) {
      throw new Error(`--only expects ${SHAPES.join(', ')}; got ${JSON.stringify(shape)}`);
    }
  }
  return {
    rounds: positiveInt('rounds', values.rounds),
    durationMillis: positiveInt('duration', values.duration),
    concurrency: positiveInt('concurrency', values.concurrency),
    shapes: shapes as Shape[],
  };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const gc = exposeGc();
  const database = await startDatabase();
  try {
    console.log(
      `${redactUrl(database.url)} (${database.external ? 'external' : 'embedded'}); ` +
        `${options.concurrency} callers, max ${MAX}; ${options.rounds} rounds (+1 warm-up) of ` +
        `${options.durationMillis} ms`,
    );
    const samples = new Map<string, Sample[]>();
    const pairs = options.shapes.flatMap((shape) => POOLS.map((name) => [name, shape] as const));
    for (let round = 0; round <= options.rounds; round++) {
      // Rotated per round, so that no contender always runs first or last.
      for (let i = 0; i < pairs.length; i++) {
        const [name, shape] = pairs[(i + round) % pairs.length]!;
        gc?.();
        const sample = await measure(
          name,
          shape,
          database.url,
          options.concurrency,
          options.durationMillis,
        );
        if (round === 0) continue; // warm-up round
        const key = `${name} ${shape}`;
        samples.set(key, [...(samples.get(key) ?? []), sample]);
      }
    }
    report(options.shapes, samples, options);
  } finally {
    await database.stop();
  }
}

function report(shapes: Shape[], samples: Map<string, Sample[]>, options: object): void {
  const rows: Record<string, unknown>[] = [];
  console.log(
    '\n| shape | lifeguard q/s | pg.Pool q/s | × pg.Pool | lifeguard CPU/q | pg.Pool CPU/q |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const shape of shapes) {
    const of = (name: PoolName) => {
      const list = samples.get(`${name} ${shape}`) ?? [];
      return {
        qps: median(list.map((s) => s.qps)),
        cpu: median(list.map((s) => s.cpuMicrosPerQuery)),
      };
    };
    const lg = of('lifeguard');
    const pp = of('pg.Pool');
    rows.push({ shape, lifeguard: lg, pgPool: pp, ratio: lg.qps / pp.qps });
    console.log(
      `| ${shape} | ${(lg.qps / 1000).toFixed(1)}k | ${(pp.qps / 1000).toFixed(1)}k | ` +
        `${(lg.qps / pp.qps).toFixed(2)}× | ${lg.cpu.toFixed(1)} µs | ${pp.cpu.toFixed(1)} µs |`,
    );
  }
  const file = writeResults('query-shapes', { machine: machineInfo(), options, rows });
  console.log(`\nwrote ${file}`);
}

await main();

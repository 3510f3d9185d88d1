/**
 * Pipelined `pool.query()` against its limit and the usual pools: `SELECT $1::int` with a random
 * int, max 10 connections, N concurrent callers, all on the same server in one run.
 *
 *   npx tsx bench/pipeline.ts [--rounds 5] [--duration 1000] [--warmup 300]
 *                             [--concurrency 10,100,1000] [--only lifeguard,raw-2]
 *                             [--depth 16] [--slow 50]
 *
 * Contenders (each builds a fresh pool per measurement, under its own application_name):
 * - lifeguard:        lifeguard/pg `pool.query()`, pipelined (the default);
 * - lifeguard-exclusive: the same with `pipeline: false` (one query per connection);
 * - pg.Pool:          node-postgres's pool;
 * - postgres.js:      `sql\`SELECT ${n}::int\`` (it pipelines on its own connections);
 * - raw-2, raw-10:    2 or 10 pg.Clients with `pipeline: true`, round robin, no pool logic at
 *                     all. The better of the two is "the limit": what pipelining alone gives.
 *
 * Method: round 0 is a discarded JIT warm-up; in each measured round the contenders run in a
 * rotated order, so machine noise hits them alike. A measurement runs `warmup` ms of load,
 * then `duration` ms measured (throughput = answers in the window; latency of each query that
 * started in it). Connections used: the peak number of server sessions under the contender's
 * application_name, sampled every 50 ms from pg_stat_activity by a side connection. The report
 * gives medians over rounds (connections: the maximum), and writes
 * bench/results/pipeline-<timestamp>.json.
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

const MAX = 10;
const SQL = 'SELECT $1::int';

const CONTENDERS = [
  'lifeguard',
  'lifeguard-exclusive',
  'pg.Pool',
  'postgres.js',
  'raw-2',
  'raw-10',
] as const;
type Contender = (typeof CONTENDERS)[number];

/** Runs one query; resolves when it is answered. */
type Query = () => Promise<unknown>;

interface Subject {
  readonly query: Query;
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
    case 'lifeguard-exclusive': {
      const pool = new LifeguardPool({
        connectionString: url,
        application_name: appName,
        max: MAX,
        pipeline: contender === 'lifeguard',
        ...(settings.depth === undefined ? {} : { pipelineDepth: settings.depth }),
        ...(settings.slow === undefined ? {} : { pipelineSlowQueryMillis: settings.slow }),
      });
      return {
        query: () => pool.query(SQL, [randomInt()]),
        close: () => pool.end(),
      };
    }
    case 'pg.Pool': {
      const pool = new pg.Pool({ connectionString: url, application_name: appName, max: MAX });
      pool.on('error', () => undefined);
      return {
        query: () => pool.query(SQL, [randomInt()]),
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
        close: () => sql.end({ timeout: 5 }),
      };
    }
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
      return {
        query: () => {
          const client = clients[next]!;
          next = next + 1 === count ? 0 : next + 1;
          return client.query(SQL, [randomInt()]);
        },
        close: async () => {
          await Promise.all(clients.map((c) => c.end()));
        },
      };
    }
  }
}

// --- one measurement -------------------------------------------------------------------------

async function measure(
  contender: Contender,
  url: string,
  admin: pg.Client,
  concurrency: number,
  warmupMillis: number,
  durationMillis: number,
  settings: Settings,
  tag: string,
): Promise<Measurement> {
  const appName = `bench-pipeline-${tag}`;
  const subject = await open(contender, url, appName, settings);
  const latencies: number[] = [];
  let running = true;
  let measuring = false;
  let windowStart = 0;
  let windowEnd = Infinity;
  let answered = 0;
  let errors = 0;
  const clock = performance;

  const caller = async (): Promise<void> => {
    while (running) {
      const started = clock.now();
      try {
        await subject.query();
      } catch {
        errors++;
        continue;
      }
      const ended = clock.now();
      if (measuring && started >= windowStart && ended <= windowEnd) {
        answered++;
        latencies.push(ended - started);
      }
    }
  };

  // Peak sessions under this application_name, sampled off the hot path.
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const { rows } = await admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
        [appName],
      );
      peak = Math.max(peak, rows[0]?.n ?? 0);
      await sleep(50);
    }
  })();

  const callers = Array.from({ length: concurrency }, caller);
  await sleep(warmupMillis);
  windowStart = clock.now();
  measuring = true;
  await sleep(durationMillis);
  windowEnd = clock.now();
  measuring = false;
  running = false;
  await Promise.all(callers);
  sampling = false;
  await sampler;
  await subject.close();

  latencies.sort((a, b) => a - b);
  return {
    qps: (answered * 1000) / (windowEnd - windowStart),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    connections: peak,
    errors,
  };
}

// --- reporting -------------------------------------------------------------------------------

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
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

function positiveInts(flag: string, raw: string): number[] {
  return raw.split(',').map((part) => {
    const value = Number(part);
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new Error(`--${flag} expects positive integers, got ${JSON.stringify(part)}`);
    }
    return value;
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      duration: { type: 'string', default: '1000' },
      warmup: { type: 'string', default: '300' },
      concurrency: { type: 'string', default: '10,100,1000' },
      only: { type: 'string', default: CONTENDERS.join(',') },
      depth: { type: 'string' },
      slow: { type: 'string' },
    },
  });
  const [rounds] = positiveInts('rounds', values.rounds);
  const [durationMillis] = positiveInts('duration', values.duration);
  const [warmupMillis] = positiveInts('warmup', values.warmup);
  const levels = positiveInts('concurrency', values.concurrency);
  const contenders = values.only.split(',').map((name) => {
    if (!(CONTENDERS as readonly string[]).includes(name)) {
      throw new Error(`unknown contender ${name}; expected one of ${CONTENDERS.join(', ')}`);
    }
    return name as Contender;
  });
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
      `lifeguard pipelineDepth ${settings.depth ?? 'default'}, pipelineSlowQueryMillis ${settings.slow ?? 'default'}\n`,
  );

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
      });
    }
    const limit = Math.max(summary.get('raw-2')?.qps ?? 0, summary.get('raw-10')?.qps ?? 0);
    const pgPool = summary.get('pg.Pool')?.qps ?? 0;
    const rows = contenders.map((contender) => {
      const m = summary.get(contender)!;
      return [
        contender,
        fmtRate(m.qps),
        limit > 0 ? fmtPct(m.qps / limit) : '-',
        pgPool > 0 ? fmtTimes(m.qps / pgPool) : '-',
        fmtMs(m.p50),
        fmtMs(m.p99),
        String(m.connections),
        String(m.errors),
      ];
    });
    console.log(`\n${level} concurrent callers (medians of ${rounds} rounds)\n`);
    console.log(
      table(
        ['contender', 'q/s', '% of limit', '× pg.Pool', 'p50', 'p99', 'connections', 'errors'],
        rows,
      ),
    );
    for (const [contender, m] of summary) {
      report.push({
        concurrency: level,
        contender,
        ...m,
        ofLimit: limit > 0 ? m.qps / limit : null,
        timesPgPool: pgPool > 0 ? m.qps / pgPool : null,
        rounds: results.get(key(contender, level)) ?? [],
      });
    }
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`pipeline-${stamp}.json`, dir);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
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
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${file.pathname}`);
}

await main();

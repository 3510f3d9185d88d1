/**
 * A database outage, four app instances at a time: N lifeguard pools and N pg.Pools (and a
 * lifeguard variant with a faster retry cap) share one embedded PostgreSQL, each offered an
 * open-loop stream of `SELECT 1`. The server is stopped for real, kept down, started again.
 * See RELIABILITY.md for what the numbers mean.
 *
 *   npx tsx bench/outage.ts [--outage 5000] [--rate 200] [--pools 4]
 *                           [--acquire-timeout 5000] [--kinds lifeguard,lifeguard-retry1s,pg.Pool]
 */
import { parseArgs } from 'node:util';

import pg from 'pg';

import { Pool } from '../src/pg/index.js';
import { redactUrl, startEmbeddedDatabase } from '../scripts/lib/database.js';
import { connectLog, countingClient } from './lib/counting-client.js';
import { machineInfo, writeResults } from './lib/harness.js';
import { runOutage, type ContenderOutcome, type OutageContender } from './lib/outage.js';

const { values } = parseArgs({
  options: {
    outage: { type: 'string', default: '5000' },
    rate: { type: 'string', default: '200' },
    pools: { type: 'string', default: '4' },
    'acquire-timeout': { type: 'string', default: '5000' },
    warmup: { type: 'string', default: '2000' },
    recovery: { type: 'string', default: '8000' },
    kinds: { type: 'string', default: 'lifeguard,lifeguard-retry1s,pg.Pool' },
  },
});
const outageMillis = Number(values.outage);
const rate = Number(values.rate);
const poolsPerKind = Number(values.pools);
const acquireTimeoutMillis = Number(values['acquire-timeout']);
const kinds = values.kinds.split(',');

/** Each kind's pool, given the counting Client; every one with max 10 and the same timeout. */
const makers: Record<string, (url: string, Client: typeof pg.Client) => OutageContender['pool']> = {
  lifeguard: (url, Client) =>
    new Pool({ connectionString: url, max: 10, acquireTimeoutMillis, Client }),
  'lifeguard-retry1s': (url, Client) =>
    new Pool({
      connectionString: url,
      max: 10,
      acquireTimeoutMillis,
      createRetryMaxMillis: 1_000,
      Client,
    }),
  'pg.Pool': (url, Client) => {
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      connectionTimeoutMillis: acquireTimeoutMillis,
      Client,
    });
    // pg.Pool emits 'error' for idle clients killed by the shutdown; unhandled, it would crash.
    pool.on('error', () => undefined);
    return pool;
  },
};

const db = await startEmbeddedDatabase();
console.log(`embedded server ${redactUrl(db.url)}`);
const contenders: OutageContender[] = [];
for (const kind of kinds) {
  const make = makers[kind];
  if (make === undefined)
    throw new Error(`unknown kind ${kind}; use ${Object.keys(makers).join(', ')}`);
  for (let i = 1; i <= poolsPerKind; i++) {
    const connects = connectLog();
    contenders.push({
      name: `${kind}#${i}`,
      kind,
      pool: make(db.url, countingClient(connects)),
      connects,
    });
  }
}

// Every timer of the run is unref'd, and while the server is down no socket is open either:
// this one keeps the process alive until the run is over.
const keepAlive = setInterval(() => undefined, 1_000);
try {
  const result = await runOutage(
    {
      db,
      ratePerPool: rate,
      warmupMillis: Number(values.warmup),
      outageMillis,
      recoveryMillis: Number(values.recovery),
      graceMillis: acquireTimeoutMillis + 5_000,
      log: (line) => console.log(`  ${line}`),
    },
    contenders,
  );
  const t = result.timeline;
  console.log(
    `\nstop requested ${t.stopRequested} ms, down ${t.down}, start requested ${t.startRequested}, ready ${t.ready}, load stopped ${t.loadStopped}` +
      ` (${poolsPerKind} pools per kind, ${rate} queries/s each)\n`,
  );
  printTable(result.contenders);
  const file = writeResults('outage', {
    machine: machineInfo(),
    settings: { outageMillis, rate, poolsPerKind, acquireTimeoutMillis, kinds },
    ...result,
  });
  console.log(`\nresults: ${file}`);
} finally {
  clearInterval(keepAlive);
  await Promise.all(contenders.map((c) => c.pool.end().catch(() => undefined)));
  await db.stop();
}

function printTable(outcomes: ContenderOutcome[]): void {
  const rows: string[][] = [
    [
      'kind',
      'attempts (down)',
      'attempts/s',
      'peak/s',
      'ready→1st ok ms (min-max)',
      'fail latency p50/p99 ms',
      'failed',
      'hung',
      'untyped',
      'errors by code',
    ],
  ];
  for (const kind of kinds) {
    const mine = outcomes.filter((o) => o.kind === kind);
    const firsts = mine.map((o) => o.firstSuccessAfterReadyMillis ?? Infinity);
    const errors: Record<string, number> = {};
    for (const o of mine) {
      for (const [code, n] of Object.entries(o.all.errorsByCode))
        errors[code] = (errors[code] ?? 0) + n;
    }
    const sum = (f: (o: ContenderOutcome) => number): number => mine.reduce((s, o) => s + f(o), 0);
    rows.push([
      kind,
      String(sum((o) => o.attemptsDuringOutage)),
      sum((o) => o.attemptsPerSecondDuringOutage).toFixed(1),
      String(sum((o) => o.peakAttemptsPerSecond)),
      `${Math.min(...firsts)}-${Math.max(...firsts)}`,
      mine
        .map((o) => `${o.outageErrorLatencyMillis.p50}/${o.outageErrorLatencyMillis.p99}`)
        .join(' '),
      `${sum((o) => o.all.failed)}/${sum((o) => o.all.calls)}`,
      String(sum((o) => o.hung)),
      String(sum((o) => o.untypedErrors)),
      Object.entries(errors)
        .sort((a, b) => b[1] - a[1])
        .map(([code, n]) => `${code} ${n}`)
        .join('; '),
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | '));
}

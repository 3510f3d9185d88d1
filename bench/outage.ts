/**
 * A database outage, four app instances at a time: N lifeguard pools and N pg.Pools (and a
 * lifeguard variant with a faster retry cap) share one embedded PostgreSQL, each offered an
 * open-loop stream of `SELECT 1`. The server is stopped for real, kept down, started again.
 * See RELIABILITY.md for what the numbers mean.
 *
 *   npx tsx bench/outage.ts [--outage 5000] [--rate 200] [--pools 4] [--shared]
 *                           [--acquire-timeout 5000] [--kinds lifeguard,lifeguard-retry1s,pg.Pool]
 *
 * Each kind gets its own outage, one after the other, on the same server; `--shared` puts all
 * kinds through one outage together (as before issue 14), where pg.Pool's reconnect herd also
 * slows the restarted server for the others.
 */
import { parseArgs } from 'node:util';

import pg from 'pg';

import { Pool } from '../src/pg/index.js';
import { redactUrl, startEmbeddedDatabase } from '../scripts/lib/database.js';
import { connectLog, countingClient } from './lib/counting-client.js';
import { machineInfo, writeResults } from './lib/harness.js';
import {
  runOutage,
  summarizeKind,
  type ContenderOutcome,
  type KindSummary,
  type OutageContender,
  type OutageResult,
} from './lib/outage.js';

const { values } = parseArgs({
  options: {
    outage: { type: 'string', default: '5000' },
    rate: { type: 'string', default: '200' },
    pools: { type: 'string', default: '4' },
    'acquire-timeout': { type: 'string', default: '5000' },
    warmup: { type: 'string', default: '2000' },
    recovery: { type: 'string', default: '8000' },
    kinds: { type: 'string', default: 'lifeguard,lifeguard-retry1s,pg.Pool' },
    shared: { type: 'boolean', default: false },
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
  // Probes twice as often while connects are refused (not a default kind: 7-10 attempts/s).
  'lifeguard-probe100': (url, Client) =>
    new Pool({
      connectionString: url,
      max: 10,
      acquireTimeoutMillis,
      createProbeIntervalMillis: 100,
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

/** The pools of `group`, each with its counting Client. */
function contendersOf(group: readonly string[]): OutageContender[] {
  const contenders: OutageContender[] = [];
  for (const kind of group) {
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
  return contenders;
}

/** One outage for the pools of `group` (all kinds at once with --shared). */
async function outageFor(group: readonly string[]): Promise<OutageResult> {
  const contenders = contendersOf(group);
  try {
    const result = await runOutage(
      {
        db,
        ratePerPool: rate,
        warmupMillis: Number(values.warmup),
        outageMillis,
        recoveryMillis: Number(values.recovery),
        graceMillis: acquireTimeoutMillis + 5_000,
        log: (line) => console.log(`  [${group.join(', ')}] ${line}`),
      },
      contenders,
    );
    const t = result.timeline;
    console.log(
      `  stop requested ${t.stopRequested} ms, down ${t.down}, start requested ${t.startRequested}, ready ${t.ready}, load stopped ${t.loadStopped}`,
    );
    return result;
  } finally {
    await Promise.all(contenders.map((c) => c.pool.end().catch(() => undefined)));
  }
}

// Every timer of the run is unref'd, and while the server is down no socket is open either:
// this one keeps the process alive until the run is over.
const keepAlive = setInterval(() => undefined, 1_000);
try {
  // Apart by default: pg.Pool's reconnect herd slows the restarted server's first sessions
  // for every pool on it, which would be counted against the others' recovery.
  const groups = values.shared ? [kinds] : kinds.map((kind) => [kind]);
  const runs: OutageResult[] = [];
  for (const group of groups) runs.push(await outageFor(group));
  const outcomes = runs.flatMap((run) => run.contenders);
  console.log(
    `\n${poolsPerKind} pools per kind, ${rate} queries/s each, ${values.shared ? 'one outage for all kinds' : 'one outage per kind'}\n`,
  );
  printTable(outcomes);
  const summaries = kinds.map((kind) => summarizeKind(kind, outcomes));
  printTarget(summaries);
  const file = writeResults('outage', {
    machine: machineInfo(),
    settings: {
      outageMillis,
      rate,
      poolsPerKind,
      acquireTimeoutMillis,
      kinds,
      shared: values.shared,
    },
    summaries,
    runs,
  });
  console.log(`\nresults: ${file}`);
} finally {
  clearInterval(keepAlive);
  await db.stop();
}

/**
 * The issue-14 target, per kind: <= 5 connection attempts per pool per second while the
 * server is down, the first successful query <= 250 ms after it accepts connections again
 * (median over the pools), no hung call.
 */
function printTarget(summaries: readonly KindSummary[]): void {
  console.log(
    '\ntarget: <= 5 attempts/pool/s while down; ready -> 1st ok <= 250 ms (median); 0 hung',
  );
  const rows = [
    [
      'kind',
      'attempts/pool/s (median, max)',
      'ready→1st ok ms (median; min-max)',
      'of which ready→1st attempt (median)',
      'hung',
    ],
  ];
  for (const s of summaries) {
    const a = s.attemptsPerPoolPerSecond;
    const f = s.firstSuccessAfterReadyMillis;
    const met = a.max <= 5 && f.median <= 250 && s.hung === 0;
    rows.push([
      `${s.kind}${met ? ' (met)' : ''}`,
      `${a.median}, ${a.max}`,
      `${f.median}; ${f.min}-${f.max}`,
      String(s.firstAttemptAfterReadyMillis),
      String(s.hung),
    ]);
  }
  printRows(rows);
}

function printRows(rows: readonly string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | '));
}

function printTable(outcomes: ContenderOutcome[]): void {
  const rows: string[][] = [
    [
      'kind',
      'attempts (down)',
      'attempts/s (all pools)',
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
  printRows(rows);
}

/**
 * A database outage under load, measured: pools (standing in for app instances) receive an
 * open-loop stream of queries (arrivals do not wait for answers, as requests to a web app do
 * not), the server is stopped for real, kept down, and started again. Shared by bench/outage.ts
 * (four lifeguard pools against four pg.Pools) and test/pg/resilience-outage.test.ts (one pool,
 * with assertions).
 *
 * Per pool it measures: connection attempts while the database is down (from the counting
 * Client), how quickly callers hear about the outage, the time from the server being ready to
 * the first successful query, errors by code, and calls that never settled.
 */
import type { EmbeddedDatabase } from '../../scripts/lib/database.js';
import { CallTracker, isTyped, quantile, sleep, type TrackerSummary } from './call-tracker.js';
import type { ConnectLog } from './counting-client.js';

/** The part of a pool this needs: lifeguard/pg and pg.Pool both fit. */
export interface QueryPool {
  query(text: string): Promise<unknown>;
  end(): Promise<void>;
}

export interface OutageContender {
  /** e.g. `lifeguard#1`, `pg.Pool#3`. */
  readonly name: string;
  /** Contenders of one kind are also reported together. */
  readonly kind: string;
  readonly pool: QueryPool;
  /** Fed by the pool's counting Client. */
  readonly connects: ConnectLog;
}

export interface OutagePlan {
  readonly db: EmbeddedDatabase;
  /** Queries per second offered to each pool. */
  readonly ratePerPool: number;
  /** Load before the stop, ms. */
  readonly warmupMillis: number;
  /** How long the server stays down, ms (from the end of its stop to the start of its start). */
  readonly outageMillis: number;
  /** Load after the server is ready again, ms. */
  readonly recoveryMillis: number;
  /** After the load stops, how long calls may take to settle before they count as hung, ms. */
  readonly graceMillis: number;
  readonly sql?: string;
  readonly log?: (line: string) => void;
}

export interface OutageTimeline {
  /** All times in ms from the start of the load. */
  stopRequested: number;
  down: number;
  startRequested: number;
  ready: number;
  loadStopped: number;
}

export interface ContenderOutcome {
  name: string;
  kind: string;
  /** Connection attempts from the stop request until the server was ready. */
  attemptsDuringOutage: number;
  attemptsPerSecondDuringOutage: number;
  /** The busiest whole second of the outage. */
  peakAttemptsPerSecond: number;
  /** From `ready` to the first query that succeeded; undefined if none did. */
  firstSuccessAfterReadyMillis: number | undefined;
  /**
   * From `ready` to the first connection attempt that started after it: the part of the
   * figure above spent waiting for the pool to try (the rest is connecting and the query).
   */
  firstAttemptAfterReadyMillis: number | undefined;
  /** How long calls that failed while the server was down took to fail. */
  outageErrorLatencyMillis: { p50: number; p99: number; max: number; count: number };
  /** Calls that started while the server was down (stop request to ready). */
  outageCalls: TrackerSummary;
  all: TrackerSummary;
  /** Failures whose error carried no string `code`. */
  untypedErrors: number;
  /** Calls still pending after the grace period. */
  hung: number;
}

export interface OutageResult {
  timeline: OutageTimeline;
  contenders: ContenderOutcome[];
}

/** The figures of the issue-14 target, for the pools of one kind. */
export interface KindSummary {
  kind: string;
  pools: number;
  /** Connection attempts per pool per second while the server was down: median, max. */
  attemptsPerPoolPerSecond: { median: number; max: number };
  /**
   * From the server accepting connections again (`ready`) to each pool's first successful
   * query: median over the pools, min, max; Infinity for a pool that never succeeded.
   */
  firstSuccessAfterReadyMillis: { median: number; min: number; max: number };
  /** From `ready` to each pool's first attempt after it: median over the pools. */
  firstAttemptAfterReadyMillis: number;
  /** Calls that never settled, summed over the pools. */
  hung: number;
}

export function summarizeKind(kind: string, outcomes: readonly ContenderOutcome[]): KindSummary {
  const mine = outcomes.filter((o) => o.kind === kind);
  const sorted = (values: number[]): number[] => values.sort((a, b) => a - b);
  const rates = sorted(mine.map((o) => o.attemptsPerSecondDuringOutage));
  const firsts = sorted(mine.map((o) => o.firstSuccessAfterReadyMillis ?? Infinity));
  return {
    kind,
    pools: mine.length,
    attemptsPerPoolPerSecond: { median: median(rates), max: rates.at(-1) ?? NaN },
    firstSuccessAfterReadyMillis: {
      median: median(firsts),
      min: firsts[0] ?? NaN,
      max: firsts.at(-1) ?? NaN,
    },
    firstAttemptAfterReadyMillis: median(
      sorted(mine.map((o) => o.firstAttemptAfterReadyMillis ?? Infinity)),
    ),
    hung: mine.reduce((sum, o) => sum + o.hung, 0),
  };
}

/** How long after `from` the first of `times` (in order) came, or undefined. */
function firstAfter(times: readonly number[], from: number): number | undefined {
  const at = times.find((t) => t >= from);
  return at === undefined ? undefined : round(at - from);
}

/** The middle value of sorted numbers (the mean of the middle two for an even count). */
function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

/** Fires `rate` calls per second, spread over 10 ms ticks, until stopped. */
function openLoop(rate: number, fire: () => void): { stop(): void } {
  const tickMillis = 10;
  let owed = 0;
  const timer = setInterval(() => {
    owed += (rate * tickMillis) / 1000;
    for (; owed >= 1; owed--) fire();
  }, tickMillis);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

export async function runOutage(
  plan: OutagePlan,
  contenders: readonly OutageContender[],
): Promise<OutageResult> {
  const log = plan.log ?? (() => undefined);
  const sql = plan.sql ?? 'SELECT 1';
  const trackers = contenders.map(() => new CallTracker());
  const t0 = performance.now();
  const loads = contenders.map((c, i) =>
    openLoop(plan.ratePerPool, () => {
      void trackers[i]!.track('query', () => c.pool.query(sql));
    }),
  );

  await sleep(plan.warmupMillis);
  const stopRequested = performance.now();
  log('stopping the server');
  await plan.db.stopServer();
  const down = performance.now();
  log(`server down (stop took ${Math.round(down - stopRequested)} ms)`);
  await sleep(plan.outageMillis);
  const startRequested = performance.now();
  log('starting the server');
  await plan.db.startServer();
  const ready = performance.now();
  log(`server ready (start took ${Math.round(ready - startRequested)} ms)`);
  await sleep(plan.recoveryMillis);
  for (const load of loads) load.stop();
  const loadStopped = performance.now();

  await Promise.all(trackers.map((t) => t.drained(plan.graceMillis)));
  const rel = (t: number): number => Math.round(t - t0);
  const timeline: OutageTimeline = {
    stopRequested: rel(stopRequested),
    down: rel(down),
    startRequested: rel(startRequested),
    ready: rel(ready),
    loadStopped: rel(loadStopped),
  };

  const outcomes = contenders.map((c, i): ContenderOutcome => {
    const tracker = trackers[i]!;
    const attempts = c.connects.count(stopRequested, ready);
    const seconds = (ready - stopRequested) / 1000;
    const first = tracker.firstSuccessAfter(ready);
    const errorLatencies = tracker.durations(
      (r) => r.code !== undefined && r.startedAt >= down && r.startedAt < startRequested,
    );
    const all = tracker.summary();
    return {
      name: c.name,
      kind: c.kind,
      attemptsDuringOutage: attempts,
      attemptsPerSecondDuringOutage: round(attempts / seconds),
      peakAttemptsPerSecond: Math.max(...c.connects.perSecond(stopRequested, ready)),
      firstSuccessAfterReadyMillis:
        first === undefined ? undefined : round(first.settledAt! - ready),
      firstAttemptAfterReadyMillis: firstAfter(c.connects.attempts, ready),
      outageErrorLatencyMillis: {
        p50: round(quantile(errorLatencies, 0.5)),
        p99: round(quantile(errorLatencies, 0.99)),
        max: round(errorLatencies.at(-1) ?? NaN),
        count: errorLatencies.length,
      },
      outageCalls: tracker.summary(stopRequested, ready),
      all,
      untypedErrors: Object.entries(all.errorsByCode)
        .filter(([code]) => !isTyped(code))
        .reduce((sum, [, n]) => sum + n, 0),
      hung: tracker.pendingCount,
    };
  });
  return { timeline, contenders: outcomes };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

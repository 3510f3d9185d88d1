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

/**
 * The advisor's warnings: the things in a report that want a person's attention, each with a
 * stable code (for scripts reading `--json`) and a sentence that says what to do.
 */
import type { AdviceReport, AdviceWarning, ActivityRow } from './advise-types.js';
import { demandTarget, round } from './advise-formulas.js';

type ReportBody = Omit<AdviceReport, 'warnings' | 'notes'>;

/** Connections in use above this share of what is available count as near the limit. */
const kNearLimitShare = 0.9;

export function adviceWarnings(report: ReportBody, rows: readonly ActivityRow[]): AdviceWarning[] {
  const warnings: AdviceWarning[] = [];
  const add = (code: AdviceWarning['code'], message: string): void => {
    warnings.push({ code, message });
  };
  idleInTransaction(report, add);
  capacity(report, add);
  poolPressure(report, add);
  const hidden = rows.filter((row) => row.state === null).reduce((n, row) => n + row.count, 0);
  if (hidden > 0) {
    add(
      'activity-hidden',
      `${plural(hidden, 'session')} of other roles show no state to this role: grant it pg_read_all_stats to see them.`,
    );
  }
  return warnings;
}

type Add = (code: AdviceWarning['code'], message: string) => void;

function idleInTransaction(report: ReportBody, add: Add): void {
  const {
    idleInTransaction: count,
    oldestIdleInTransactionMillis: oldest,
    byApplication,
  } = report.activity;
  if (count === 0) return;
  const apps = byApplication
    .filter((app) => app.idleInTransaction > 0)
    .map(
      (app) =>
        `${app.applicationName === '' ? '(no name)' : app.applicationName}: ${app.idleInTransaction}`,
    )
    .join(', ');
  const age = oldest === null ? '' : `, oldest ${formatSeconds(oldest)}`;
  add(
    'idle-in-transaction',
    `${plural(count, 'session')} idle in transaction (${apps}${age}): each holds a connection and its locks ` +
      'while doing nothing. Find the code that leaves transactions open, and set ' +
      'idleInTransactionSessionTimeout.',
  );
}

function capacity(report: ReportBody, add: Add): void {
  const { available } = report.server;
  const { connections } = report.activity;
  const instances = report.formulas.appInstances;
  const pool = report.pool;
  if (pool !== null && pool.max * instances > available) {
    add(
      'instances-exceed-available',
      `max ${pool.max} × ${instances} instances = ${pool.max * instances} connections, more than ` +
        `the ${available} the server has available: at peak, connects will fail with "too many clients".`,
    );
  }
  if (connections >= available * kNearLimitShare) {
    add(
      'near-limit',
      `${connections} of ${available} available connections are open (headroom ${report.headroom}): ` +
        'new sessions, deploys and failovers may be refused.',
    );
  }
  const hikari = report.formulas.hikari;
  const total = report.recommendation.max * instances;
  if (hikari !== null && total > hikari) {
    add(
      'above-cpu-baseline',
      `${total} connections in all (max ${report.recommendation.max} × ${instances}) exceed the ` +
        `server's CPU baseline of ${hikari} (cores × 2 + spindles): past it, more connections move ` +
        'the queue into the server rather than adding throughput, unless checkouts mostly wait on the client.',
    );
  }
}

function poolPressure(report: ReportBody, add: Add): void {
  const pool = report.pool;
  if (pool === null) return;
  const demand = report.formulas.demand;
  if (demand !== null && demandTarget(demand) > pool.max) {
    add(
      'demand-above-max',
      `measured demand (${round(demand.arrivalPerSecond)}/s × ${round(demand.holdMeanMillis)} ms = ` +
        `${round(demand.meanConnections)} busy on average, ${round(demand.p99Connections)} at p99 hold) ` +
        `calls for about ${demandTarget(demand)} connections, above the pool's max of ${pool.max}.`,
    );
  }
  if (pool.waiting > 0 || pool.waitedAcquires > 0) {
    const mean =
      pool.waitMeanMillis === null ? '' : ` (mean wait ${round(pool.waitMeanMillis)} ms)`;
    add(
      'waiting-callers',
      `${plural(pool.waiting, 'caller')} waiting now; ${pool.waitedAcquires} of ${pool.acquires} acquires ` +
        `in the window had to wait${mean}.`,
    );
  }
  const failed = pool.timeouts + pool.shed + pool.rejectedQueueFull;
  if (failed > 0) {
    add(
      'acquire-timeouts',
      `${plural(failed, 'acquire')} failed since the pool started (${pool.timeouts} timed out, ${pool.shed} shed, ` +
        `${pool.rejectedQueueFull} refused with a full queue).`,
    );
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

export function formatSeconds(millis: number): string {
  return millis >= 10_000 ? `${Math.round(millis / 1000)} s` : `${round(millis / 1000)} s`;
}

/**
 * The advisor's arithmetic, free of I/O so that it can be tested on made-up servers: the seed
 * formula, Little's law, HikariCP's baseline, and the recommendation drawn from them.
 */
import type {
  AdviceReport,
  ApplicationActivity,
  ActivityRow,
  CoresInfo,
  PoolSample,
  ServerSnapshot,
} from './advise-types.js';
import { demandOf, demandTarget, round, seedSize } from './advise-formulas.js';
import { adviceWarnings } from './advise-warnings.js';

export interface AdviceInput {
  readonly kind: 'pool' | 'url';
  readonly server: ServerSnapshot;
  readonly pool: PoolSample | null;
  readonly appInstances: number;
  readonly spindles: number;
  readonly serverCores: number | undefined;
  /** This machine's cores, used only when the server answered on loopback or a socket. */
  readonly localCores: number;
  readonly generatedAt: Date;
}

export const idleInTransactionStates: ReadonlySet<string> = new Set([
  'idle in transaction',
  'idle in transaction (aborted)',
]);

/** Builds the whole report from what was read. */
export function computeAdvice(input: AdviceInput): AdviceReport {
  const { limits } = input.server;
  const byApplication = groupActivity(input.server.activity);
  const connections = sum(byApplication.map((app) => app.total));
  const idleInTransaction = sum(byApplication.map((app) => app.idleInTransaction));
  const oldest = maxOrNull(byApplication.map((app) => app.oldestIdleInTransactionMillis));
  const cores = resolveCores(input);
  const seed = seedSize(limits.available, input.appInstances);
  const hikari = cores.value === null ? null : cores.value * 2 + input.spindles;
  const hikariPerInstance =
    hikari === null ? null : Math.max(1, Math.floor(hikari / input.appInstances));
  const demand = demandOf(input.pool);
  const formulas = {
    appInstances: input.appInstances,
    seed,
    hikari,
    spindles: input.spindles,
    hikariPerInstance,
    demand,
  };
  const recommendation = recommend(formulas, input.pool);
  const activity = {
    connections,
    idleInTransaction,
    oldestIdleInTransactionMillis: oldest,
    byApplication,
  };
  const headroom = limits.available - connections;
  const report: Omit<AdviceReport, 'warnings' | 'notes'> = {
    generatedAt: input.generatedAt.toISOString(),
    target: { kind: input.kind, endpoint: input.server.endpoint },
    server: { ...limits, cores },
    activity,
    headroom,
    pool: input.pool,
    formulas,
    recommendation,
  };
  return {
    ...report,
    warnings: adviceWarnings(report, input.server.activity),
    notes: notesOf(input, cores),
  };
}

function recommend(
  formulas: AdviceReport['formulas'],
  pool: PoolSample | null,
): AdviceReport['recommendation'] {
  const { seed, demand, hikariPerInstance } = formulas;
  let want: number;
  let basis: string;
  if (demand !== null) {
    want = demandTarget(demand);
    basis = `measured demand: L + 3·√L with L = λ × mean hold = ${round(demand.meanConnections)}`;
  } else if (hikariPerInstance !== null) {
    want = hikariPerInstance;
    basis = 'HikariCP baseline (cores × 2 + spindles) per instance; no demand measured';
  } else {
    want = seed;
    basis = 'seed formula (80% of available per instance); no demand or cores known';
  }
  const max = Math.min(Math.max(want, Math.min(2, seed)), seed);
  if (max < want) basis += `, capped by the seed formula at ${seed}`;
  const min =
    demand !== null
      ? Math.min(max, Math.ceil(demand.meanConnections))
      : Math.min(max, pool?.min ?? 0);
  return { max, min, basis };
}

function resolveCores(input: AdviceInput): CoresInfo {
  if (input.serverCores !== undefined) return { value: input.serverCores, source: 'option' };
  if (input.server.local) return { value: input.localCores, source: 'local' };
  return { value: null, source: 'unknown' };
}

function groupActivity(rows: readonly ActivityRow[]): ApplicationActivity[] {
  const apps = new Map<
    string,
    { total: number; states: Record<string, number>; idle: number; oldest: number | null }
  >();
  for (const row of rows) {
    let app = apps.get(row.applicationName);
    if (app === undefined) {
      app = { total: 0, states: {}, idle: 0, oldest: null };
      apps.set(row.applicationName, app);
    }
    const state = row.state ?? 'hidden';
    app.total += row.count;
    app.states[state] = (app.states[state] ?? 0) + row.count;
    if (row.state !== null && idleInTransactionStates.has(row.state)) {
      app.idle += row.count;
      app.oldest = maxOrNull([app.oldest, row.oldestStateMillis]);
    }
  }
  return [...apps]
    .map(([applicationName, app]) => ({
      applicationName,
      total: app.total,
      states: app.states,
      idleInTransaction: app.idle,
      oldestIdleInTransactionMillis: app.oldest,
    }))
    .sort((a, b) => b.total - a.total || a.applicationName.localeCompare(b.applicationName));
}

function notesOf(input: AdviceInput, cores: CoresInfo): string[] {
  const notes: string[] = [];
  if (cores.source === 'local') {
    notes.push(
      `Server cores (${cores.value}) taken from this machine, because the server answered on ` +
        'loopback or a Unix socket; wrong through a tunnel or in a CPU-limited container: pass serverCores.',
    );
  } else if (cores.source === 'unknown') {
    notes.push(
      'Server cores unknown (PostgreSQL does not report them): pass serverCores for the HikariCP baseline.',
    );
  }
  const pool = input.pool;
  if (input.kind === 'url') {
    notes.push("Given a URL, not a Pool: no arrival rate or hold time, so no Little's-law demand.");
  } else if (pool !== null && pool.arrivalPerSecond === null) {
    notes.push('Arrival rate unknown: sampleMillis was 0 and no `since` timestamp was given.');
  } else if (pool !== null && pool.windowMillis !== null) {
    notes.push(
      `Arrival rate measured over ${Math.round(pool.windowMillis)} ms of the pool's acquires.`,
    );
    if (pool.acquires === 0) {
      notes.push('No acquires in that window: run the advice under representative load.');
    }
  }
  notes.push(
    input.kind === 'url'
      ? "Connections counted are client backends (not background workers), the advisor's own session left out."
      : "Connections counted are client backends (not background workers); the pool connection the advisor's query ran on counts as idle.",
  );
  return notes;
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

function maxOrNull(values: readonly (number | null)[]): number | null {
  let result: number | null = null;
  for (const value of values)
    if (value !== null && (result === null || value > result)) result = value;
  return result;
}

/**
 * Types of the sizing advisor (issue 12): what it reads from the server and the pool, and the
 * report it hands back. The report is plain data (JSON-safe: no `undefined`, no `Infinity`), so
 * that `lifeguard advise --json` prints exactly what `advise()` returns.
 */

export interface AdviseOptions {
  /** Application instances (processes, pods) sharing the server with this pool's config. Default 1. */
  appInstances?: number;
  /** The server's CPU cores, when you know them: enables HikariCP's `cores * 2 + spindles`. */
  serverCores?: number;
  /** Effective spindles for HikariCP's formula. Default 1 (SSD or a hot cache: 0 or 1). */
  spindles?: number;
  /**
   * With a Pool: how long to watch its counters to measure the arrival rate. Default 1 000.
   * 0 reads the lifetime counters instead, over the time since `since`.
   */
  sampleMillis?: number;
  /** With `sampleMillis: 0`: when the pool was made (`Date.now()` then). Without it the rate is unknown. */
  since?: number;
  /** With a URL: bound on connecting and on each query, so that a dead server cannot hang us. Default 5 000. */
  connectTimeoutMillis?: number;
}

/** The server's connection limits, as `pg_settings` shows them. */
export interface ServerLimits {
  /** e.g. `'18.1'`. */
  readonly version: string;
  readonly versionNum: number;
  readonly maxConnections: number;
  readonly superuserReservedConnections: number;
  /** PostgreSQL 16+; `null` on older servers, which have no such setting. */
  readonly reservedConnections: number | null;
  /** `max_connections` minus both reserves: what ordinary roles can open. */
  readonly available: number;
}

/** One (application_name, state) group of client backends in `pg_stat_activity`. */
export interface ActivityRow {
  readonly applicationName: string;
  /** `null` where the role may not see other roles' sessions (no `pg_read_all_stats`). */
  readonly state: string | null;
  readonly count: number;
  /** Longest time since the last state change, for idle-in-transaction rows. */
  readonly oldestStateMillis: number | null;
}

/** What the advisor read from the server: all of it credential-free. */
export interface ServerSnapshot {
  readonly limits: ServerLimits;
  readonly activity: readonly ActivityRow[];
  /** `user@host:port/database`, from the server's own functions (never from the config). */
  readonly endpoint: string;
  /** The connection reached the server over loopback or a Unix socket. */
  readonly local: boolean;
}

/** The pool's counters over the sampling window, as the advisor measured them. */
export interface PoolSample {
  readonly name: string;
  readonly max: number;
  readonly min: number;
  readonly total: number;
  readonly inUse: number;
  readonly waiting: number;
  /** Window the rate was measured over; `null` when it could not be (no `since`). */
  readonly windowMillis: number | null;
  /** Acquires in the window (lifetime with `sampleMillis: 0`). */
  readonly acquires: number;
  /** Acquires per second over the window; `null` when unknown. */
  readonly arrivalPerSecond: number | null;
  /** Mean hold of the checkouts released in the window (lifetime when none were). */
  readonly holdMeanMillis: number | null;
  /** Lifetime p99 hold (the histogram cannot be windowed; to within a factor of two). */
  readonly holdP99Millis: number | null;
  readonly waitMeanMillis: number | null;
  /** Acquires in the window that had to queue. */
  readonly waitedAcquires: number;
  /** Lifetime counters (failures are rare enough that any at all is worth a look). */
  readonly timeouts: number;
  readonly shed: number;
  readonly rejectedQueueFull: number;
}

export interface CoresInfo {
  readonly value: number | null;
  readonly source: 'option' | 'local' | 'unknown';
}

export interface ApplicationActivity {
  readonly applicationName: string;
  readonly total: number;
  readonly states: Readonly<Record<string, number>>;
  readonly idleInTransaction: number;
  readonly oldestIdleInTransactionMillis: number | null;
}

export interface Demand {
  readonly arrivalPerSecond: number;
  readonly holdMeanMillis: number;
  readonly holdP99Millis: number;
  /** Little's law, λ × W: connections busy on average. */
  readonly meanConnections: number;
  /** λ × W with W at p99: connections busy if every checkout took as long as the slowest 1%. */
  readonly p99Connections: number;
}

export type WarningCode =
  | 'idle-in-transaction'
  | 'instances-exceed-available'
  | 'demand-above-max'
  | 'waiting-callers'
  | 'acquire-timeouts'
  | 'near-limit'
  | 'above-cpu-baseline'
  | 'activity-hidden';

export interface AdviceWarning {
  readonly code: WarningCode;
  readonly message: string;
}

export interface AdviceReport {
  /** ISO time the advice was computed. */
  readonly generatedAt: string;
  readonly target: { readonly kind: 'pool' | 'url'; readonly endpoint: string };
  readonly server: ServerLimits & { readonly cores: CoresInfo };
  readonly activity: {
    readonly connections: number;
    readonly idleInTransaction: number;
    readonly oldestIdleInTransactionMillis: number | null;
    readonly byApplication: readonly ApplicationActivity[];
  };
  /** `available - connections`: sessions ordinary roles can still open. */
  readonly headroom: number;
  readonly pool: PoolSample | null;
  readonly formulas: {
    readonly appInstances: number;
    /** floor(available / appInstances * 0.8), clamped to [2, available]. */
    readonly seed: number;
    /** cores * 2 + spindles, for the whole server; `null` without cores. */
    readonly hikari: number | null;
    readonly spindles: number;
    /** The HikariCP baseline divided among the instances. */
    readonly hikariPerInstance: number | null;
    readonly demand: Demand | null;
  };
  readonly recommendation: { readonly max: number; readonly min: number; readonly basis: string };
  readonly warnings: readonly AdviceWarning[];
  /** How the numbers were got, and what they assume. */
  readonly notes: readonly string[];
}

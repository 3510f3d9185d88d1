/**
 * What the exporters instrument: a core pool, or anything that carries one at `.core` (the
 * `lifeguard/pg` Pool). The exporters subscribe to its events from outside and read its
 * gauges and `stats()` when they are collected; the core knows nothing about metrics.
 */
import type { CircuitState, PoolStats } from '../core/index.js';
import { MetricsError } from './errors.js';

/** The pool events whose durations the histograms record, and what the exporters read of them. */
export interface DurationEvents {
  create: { readonly durationMillis: number };
  acquire: { readonly waitedMillis: number };
  release: { readonly heldMillis: number };
}
export type DurationEvent = keyof DurationEvents;

/**
 * The core pool (`Pool<T>` of `lifeguard`, any T), as far as instrumentation is concerned: its
 * name, its stats, and the three events the histograms record.
 */
export interface AnyCorePool {
  readonly name: string;
  stats(): PoolStats;
  on<K extends DurationEvent>(event: K, listener: (event: DurationEvents[K]) => void): unknown;
  off<K extends DurationEvent>(event: K, listener: (event: DurationEvents[K]) => void): unknown;
}

/** A core pool, or a pool built on one that exposes it as `.core` (like `lifeguard/pg`). */
export type Instrumentable = AnyCorePool | { readonly core: AnyCorePool };

/** Everything the collected metrics need, read at one instant. */
export interface PoolReading {
  /** Connections open and idle (for `lifeguard/pg`: emptied pipeline lanes included). */
  readonly idle: number;
  /** Connections open and not idle: checked out, or being validated or reset. */
  readonly used: number;
  /** Requests waiting for a connection. */
  readonly pending: number;
  readonly pendingCreates: number;
  readonly max: number;
  readonly min: number;
  readonly circuit: CircuitState;
  /** The cumulative counters. */
  readonly stats: PoolStats;
}

/** The numbers `lifeguard.pool.circuit_state` reports: ordered by severity, so max() works. */
export const circuitStateValue: Readonly<Record<CircuitState, number>> = {
  closed: 0,
  'half-open': 1,
  open: 2,
};

/** The pg layer's view of idle and waiting, when the instrumented object has one. */
interface DriverCounts {
  readonly idleCount: number;
  readonly waitingCount: number;
  /** The layer's own counters on top of the core's (pipelined queries shed, ...), if any. */
  stats?(): PoolStats;
}

function isCorePool(value: unknown): value is AnyCorePool {
  if (typeof value !== 'object' || value === null) return false;
  const pool = value as Partial<Record<'on' | 'off' | 'stats', unknown>> & { name?: unknown };
  return (
    typeof pool.on === 'function' &&
    typeof pool.off === 'function' &&
    typeof pool.stats === 'function' &&
    typeof pool.name === 'string'
  );
}

function hasDriverCounts(value: object): value is DriverCounts {
  const counts = value as Partial<Record<keyof DriverCounts, unknown>>;
  return typeof counts.idleCount === 'number' && typeof counts.waitingCount === 'number';
}

/** A pool as the exporters see it: its core, its name, and a reading of its state. */
export class MetricsSource {
  readonly core: AnyCorePool;
  readonly name: string;
  readonly #driver: DriverCounts | undefined;

  constructor(target: Instrumentable) {
    // The pg Pool also has on/off/stats/name, so look for `.core` first.
    const inner: unknown =
      typeof target === 'object' && target !== null && 'core' in target ? target.core : target;
    if (!isCorePool(inner)) {
      throw new MetricsError(
        'ERR_METRICS_INVALID_POOL',
        'Expected a lifeguard Pool, a pool that exposes one as `.core` (such as lifeguard/pg), ' +
          'a ConnectionBudget or a router of pools',
      );
    }
    this.core = inner;
    this.name = inner.name;
    // A driver layer may know better what is idle or waiting: pipelined pg queries wait for a
    // lane outside the core's queue, and an emptied lane is idle while the core sees it busy.
    this.#driver = inner !== target && hasDriverCounts(target) ? target : undefined;
  }

  read(): PoolReading {
    // The driver's stats() when it has one: the core's, plus what the driver counts itself
    // (lifeguard/pg adds pipelined queries shed while waiting for a lane to `shed`).
    const driver = this.#driver;
    const stats = driver?.stats !== undefined ? driver.stats() : this.core.stats();
    const open = stats.total;
    const idle = Math.min(open, driver?.idleCount ?? stats.idle);
    return {
      idle,
      used: open - idle,
      pending: driver?.waitingCount ?? stats.waiting,
      pendingCreates: stats.pendingCreates,
      max: stats.max,
      min: stats.min,
      circuit: stats.circuit,
      stats,
    };
  }

  /**
   * Calls each recorder with the duration, in seconds, of every creation (`create`), every
   * acquire including those served at once (`acquire`, 0 s), and every checkout's holding time
   * (`release`). Returns the function that unsubscribes.
   *
   * Listening to `acquire` and `release` is what instrumentation costs on the hot path: the
   * core builds those event objects only when someone listens (bench/metrics.ts measures it).
   */
  watchDurations(record: Readonly<Record<DurationEvent, (seconds: number) => void>>): () => void {
    const core = this.core;
    const onCreate = (e: DurationEvents['create']): void => record.create(e.durationMillis / 1000);
    const onAcquire = (e: DurationEvents['acquire']): void => record.acquire(e.waitedMillis / 1000);
    const onRelease = (e: DurationEvents['release']): void => record.release(e.heldMillis / 1000);
    core.on('create', onCreate);
    core.on('acquire', onAcquire);
    core.on('release', onRelease);
    return () => {
      core.off('create', onCreate);
      core.off('acquire', onAcquire);
      core.off('release', onRelease);
    };
  }
}

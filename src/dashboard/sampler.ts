/**
 * One sampler per dashboard, shared by every browser that watches it: every `intervalMillis` it
 * reads the pool once, turns cumulative counters into rates, keeps the result in a bounded
 * history, and hands one message to each subscriber. Watching costs the pool one `stats()` call
 * per interval and one `acquire` listener, however many tabs are open (a router: its
 * `stats()`, its budget's, and one listener per member pool).
 */
import type { CircuitState } from '../core/index.js';
import { budgetViewOf, type DashboardBudget } from './budget-view.js';
import { HistoryRing } from './history-ring.js';
import {
  budgetOf,
  corePoolsOf,
  errorsOf,
  throughputCounterOf,
  waitingOf,
  type AnyCorePool,
  type DashboardBudgetSource,
  type DashboardSource,
  type DashboardStats,
} from './source.js';
import { WaitHistogram, type WaitHistogramSnapshot } from './wait-histogram.js';

/** One point of the charts over time. */
export interface DashboardSample {
  /** Wall-clock time of the sample, ms since the epoch (for the time axis). */
  readonly time: number;
  readonly total: number;
  readonly idle: number;
  readonly inUse: number;
  readonly waiting: number;
  readonly pendingCreates: number;
  readonly circuit: CircuitState;
  /** Queries (or checkouts, see `DashboardState.throughputUnit`) per second since the last sample. */
  readonly throughput: number;
  /** Errors handed to callers per second since the last sample. */
  readonly errorRate: number;
}

/** The latest cumulative figures: what is drawn as totals rather than over time. */
export interface DashboardState {
  readonly max: number;
  readonly min: number;
  readonly throughputUnit: 'queries' | 'checkouts';
  /** The cumulative count throughput is the rate of. */
  readonly throughputTotal: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly errorsTotal: number;
  /** The core's wait-time summary (ms), over checkouts that waited. */
  readonly waitTime: {
    readonly count: number;
    readonly mean: number;
    readonly p50: number;
    readonly p99: number;
    readonly max: number;
  };
  /** Every checkout since the dashboard started, bucketed by its wait. */
  readonly histogram: WaitHistogramSnapshot;
  /**
   * The ConnectionBudget the pool (or the router's members) draw on, when there is one: its
   * max and used, and a row per member. Absent without a budget.
   */
  readonly budget?: DashboardBudget;
}

/** Sent to a browser when it connects. */
export interface DashboardSnapshot {
  readonly name: string;
  readonly intervalMillis: number;
  readonly historySize: number;
  readonly history: readonly DashboardSample[];
  readonly state: DashboardState;
}

/** Sent to every browser once per interval. */
export interface DashboardUpdate {
  readonly sample: DashboardSample;
  readonly state: DashboardState;
}

export interface SamplerOptions {
  intervalMillis: number;
  historySize: number;
}

export type UpdateListener = (update: DashboardUpdate) => void;

export class Sampler {
  readonly intervalMillis: number;
  private readonly _source: DashboardSource;
  private readonly _budget: DashboardBudgetSource | undefined;
  /** The core pools whose `acquire` events feed the histogram: a router's change over time. */
  private readonly _cores = new Set<AnyCorePool>();
  private readonly _history: HistoryRing<DashboardSample>;
  private readonly _histogram = new WaitHistogram();
  private readonly _listeners = new Set<UpdateListener>();
  private readonly _timer: NodeJS.Timeout;
  private readonly _onAcquire = (event: { waitedMillis: number }): void =>
    this._histogram.record(event.waitedMillis);
  private _state: DashboardState;
  private _previous: { at: number; throughput: number; errors: number };
  private _closed = false;

  constructor(source: DashboardSource, options: SamplerOptions) {
    this._source = source;
    this.intervalMillis = options.intervalMillis;
    this._history = new HistoryRing(options.historySize);
    this._budget = budgetOf(source);
    this._follow();
    // The first sample is taken now, so that a browser connecting at once has a point to draw.
    const stats = source.stats();
    this._state = this._stateOf(stats);
    this._previous = {
      at: performance.now(),
      throughput: this._state.throughputTotal,
      errors: this._state.errorsTotal,
    };
    this._history.push(this._sampleOf(stats, 0, 0));
    this._timer = setInterval(() => this._tick(), options.intervalMillis);
    this._timer.unref();
  }

  get closed(): boolean {
    return this._closed;
  }

  /** Browsers currently subscribed. */
  get listenerCount(): number {
    return this._listeners.size;
  }

  /** Calls `listener` with every update until the returned function is called. */
  subscribe(listener: UpdateListener): () => void {
    this._listeners.add(listener);
    return () => {
      this._listeners.delete(listener);
    };
  }

  snapshot(): DashboardSnapshot {
    return {
      name: this._source.name,
      intervalMillis: this.intervalMillis,
      historySize: this._history.capacity,
      history: this._history.toArray(),
      // The histogram as of now: it is cheap to copy, and a browser connecting between two
      // samples should not start from the older one.
      state: { ...this._state, histogram: this._histogram.snapshot() },
    };
  }

  /** Stops sampling and drops the pool listener and every subscriber. Idempotent. */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    clearInterval(this._timer);
    for (const core of this._cores) core.off('acquire', this._onAcquire);
    this._cores.clear();
    this._listeners.clear();
  }

  /**
   * Listens to the core pools watched now. A router may add members after the dashboard
   * started (lazily, with no event for it): they are found here, at the next sample, and their
   * checkouts counted from then on.
   */
  private _follow(): void {
    let current: Set<AnyCorePool>;
    try {
      current = new Set(corePoolsOf(this._source));
    } catch {
      return; // a router mid-teardown: keep the listeners until close()
    }
    for (const core of this._cores) {
      if (current.has(core)) continue;
      core.off('acquire', this._onAcquire);
      this._cores.delete(core);
    }
    for (const core of current) {
      if (this._cores.has(core)) continue;
      core.on('acquire', this._onAcquire);
      this._cores.add(core);
    }
  }

  private _tick(): void {
    this._follow();
    let stats: DashboardStats;
    let state: DashboardState;
    try {
      stats = this._source.stats();
      state = this._stateOf(stats);
    } catch {
      // A pool that cannot report this time (a wrapper mid-teardown) is simply not sampled.
      return;
    }
    const at = performance.now();
    const seconds = (at - this._previous.at) / 1000;
    // Counters only grow; a negative delta means the source was swapped or reset: draw 0.
    const rate = (now: number, before: number): number =>
      seconds > 0 && now >= before ? (now - before) / seconds : 0;
    const sample = this._sampleOf(
      stats,
      rate(state.throughputTotal, this._previous.throughput),
      rate(state.errorsTotal, this._previous.errors),
    );
    this._previous = { at, throughput: state.throughputTotal, errors: state.errorsTotal };
    this._state = state;
    this._history.push(sample);
    const update: DashboardUpdate = { sample, state };
    for (const listener of this._listeners) {
      try {
        listener(update);
      } catch {
        // One broken subscriber must not starve the others; the handler drops dead streams.
      }
    }
  }

  private _sampleOf(stats: DashboardStats, throughput: number, errorRate: number): DashboardSample {
    return {
      time: Date.now(),
      total: stats.total,
      idle: stats.idle,
      inUse: stats.inUse,
      waiting: waitingOf(this._source, stats),
      pendingCreates: stats.pendingCreates,
      circuit: stats.circuit,
      throughput,
      errorRate,
    };
  }

  private _stateOf(stats: DashboardStats): DashboardState {
    const errors = errorsOf(stats);
    const counter = throughputCounterOf(stats);
    const w = stats.waitTime;
    const budget = this._budget && budgetViewOf(this._budget, this._source, stats);
    return {
      max: stats.max,
      min: stats.min,
      throughputUnit: counter.unit,
      throughputTotal: counter.value,
      errors,
      errorsTotal: Object.values(errors).reduce((sum, n) => sum + n, 0),
      waitTime: { count: w.count, mean: w.mean, p50: w.p50, p99: w.p99, max: w.max },
      histogram: this._histogram.snapshot(),
      ...(budget === undefined ? {} : { budget }),
    };
  }
}

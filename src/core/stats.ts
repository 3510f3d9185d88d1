import { LatencySummary } from './summary.js';
import type { CircuitState, DestroyReason, PoolStats } from './types.js';

/** Gauges the pool reads off its own state when a snapshot is taken. */
export interface Gauges {
  total: number;
  idle: number;
  inUse: number;
  pendingCreates: number;
  waiting: number;
  max: number;
  min: number;
  circuit: CircuitState;
}

/**
 * Cumulative counters and latency summaries. Plain fields, bumped in place on the hot path;
 * `snapshot()` copies them out so callers never see them move.
 */
export class PoolStatsRecorder {
  acquires = 0;
  waitedAcquires = 0;
  timeouts = 0;
  aborts = 0;
  rejectedQueueFull = 0;
  circuitRejections = 0;
  shed = 0;
  creates = 0;
  createFailures = 0;
  validationFailures = 0;
  leaks = 0;
  readonly destroys: Record<DestroyReason, number> = {
    idle: 0,
    lifetime: 0,
    uses: 0,
    validation: 0,
    error: 0,
    reset: 0,
    leak: 0,
    end: 0,
    budget: 0,
  };
  readonly waitTime = new LatencySummary();
  readonly holdTime = new LatencySummary();
  readonly createTime = new LatencySummary();

  acquired(waitedMillis: number, waited: boolean): void {
    this.acquires++;
    if (waited) {
      this.waitedAcquires++;
      this.waitTime.record(waitedMillis);
    }
  }

  created(durationMillis: number): void {
    this.creates++;
    this.createTime.record(durationMillis);
  }

  destroyed(reason: DestroyReason): void {
    this.destroys[reason]++;
  }

  snapshot(gauges: Gauges): PoolStats {
    return {
      ...gauges,
      acquires: this.acquires,
      waitedAcquires: this.waitedAcquires,
      timeouts: this.timeouts,
      aborts: this.aborts,
      rejectedQueueFull: this.rejectedQueueFull,
      circuitRejections: this.circuitRejections,
      shed: this.shed,
      creates: this.creates,
      createFailures: this.createFailures,
      validationFailures: this.validationFailures,
      leaks: this.leaks,
      destroys: { ...this.destroys },
      waitTime: this.waitTime.snapshot(),
      holdTime: this.holdTime.snapshot(),
      createTime: this.createTime.snapshot(),
    };
  }
}

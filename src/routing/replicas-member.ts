/**
 * One server of a replica router, with what the router knows of it: whether it takes reads
 * ('in') or not ('out', and why), its lag, how far it has replayed, its load and latency. The
 * primary is a member too: roles can change (failover), and the member that was the primary
 * then becomes a replica like the others.
 */
import type { Pool } from '../pg/index.js';
import { Ewma, type Choosable } from './replicas-choice.js';
import type { LagVerdict, OutReason } from './replicas-lag.js';
import { formatLsn, laterLsn } from './replicas-lsn.js';

/** A replica's state in `router.stats().replicas`. */
export interface ReplicaStats {
  /** `in`: takes reads. `out`: takes none until a check readmits it (see `reason`). */
  readonly state: 'in' | 'out';
  readonly reason: OutReason | undefined;
  /** Bytes of WAL the replica has yet to replay (at the last check). */
  readonly lagBytes: number | undefined;
  /** Age of its last replayed transaction (0 when caught up), in milliseconds. */
  readonly lagMillis: number | undefined;
  /** How far it has replayed, as an LSN. */
  readonly replayLsn: string | undefined;
  /** Smoothed latency of reads on it, in milliseconds. */
  readonly latencyMillis: number;
  readonly load: number;
  /** Consecutive failed checks (or failed reads) since it last passed one. */
  readonly failures: number;
}

export class Member implements Choosable {
  readonly #latency = new Ewma();
  /** Reads this router has running on it now (pipelined ones do not show in pool counts). */
  inFlight = 0;
  state: 'in' | 'out' = 'in';
  reason: OutReason | undefined;
  lagBytes: number | undefined;
  lagMillis: number | undefined;
  replayLsn: bigint | undefined;
  failures = 0;
  /** Monotonic time before which a failing member is not probed again. */
  nextProbeAt = 0;

  constructor(
    readonly name: string,
    readonly pool: Pool,
  ) {}

  get usable(): boolean {
    return this.state === 'in';
  }

  load(): number {
    const pool = this.pool;
    return Math.max(this.inFlight, pool.waitingCount + pool.totalCount - pool.idleCount);
  }

  latencyMillis(): number {
    return this.#latency.value;
  }

  /** Runs `exec` on this member's pool, counting it in the load and timing it. */
  async timed<R>(exec: (pool: Pool) => Promise<R>): Promise<R> {
    this.inFlight++;
    const startedAt = performance.now();
    try {
      const result = await exec(this.pool);
      this.#latency.add(performance.now() - startedAt);
      return result;
    } finally {
      this.inFlight--;
    }
  }

  /** Replay only moves forward: a poll's answer never undoes a later check's. */
  sawReplay(lsn: bigint | undefined): void {
    this.replayLsn = laterLsn(this.replayLsn, lsn);
  }

  /** A check answered: in or out as the lag decision says; the failure streak ends. */
  judged(verdict: LagVerdict): void {
    this.state = verdict.usable ? 'in' : 'out';
    this.reason = verdict.reason;
    this.lagBytes = verdict.lagBytes;
    this.lagMillis = verdict.lagMillis;
    this.failures = 0;
  }

  /**
   * A check or a read failed: out until a probe after `delayMillis` (from `now`) passes. Its
   * replay position is forgotten: a standby restarted after a crash replays again from its
   * last restartpoint, so it may be behind where it was, and a token read must not trust the
   * old position.
   */
  failed(now: number, delayMillis: number): void {
    this.state = 'out';
    this.reason = 'failing';
    this.failures++;
    this.nextProbeAt = now + delayMillis;
    this.replayLsn = undefined;
  }

  /** Whether the monitor should check it now (failing members wait for their backoff). */
  dueForCheck(now: number): boolean {
    return this.reason !== 'failing' || now >= this.nextProbeAt;
  }

  stats(): ReplicaStats {
    return {
      state: this.state,
      reason: this.reason,
      lagBytes: this.lagBytes,
      lagMillis: this.lagMillis,
      replayLsn: this.replayLsn === undefined ? undefined : formatLsn(this.replayLsn),
      latencyMillis: this.latencyMillis(),
      load: this.load(),
      failures: this.failures,
    };
  }
}

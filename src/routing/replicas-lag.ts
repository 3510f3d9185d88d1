/**
 * Whether a replica may serve reads, from what the lag monitor measured: pure decisions, so
 * that they are tested without servers.
 */

/** One replica's answer to the monitor's query. */
export interface ReplicaSample {
  readonly inRecovery: boolean;
  /** `pg_last_wal_replay_lsn()`: how far it has applied the primary's WAL. */
  readonly replayLsn: bigint | undefined;
  /** `pg_last_wal_receive_lsn()`: how far it has received it (used when replay is unknown). */
  readonly receiveLsn: bigint | undefined;
  /** `now() - pg_last_xact_replay_timestamp()`, in milliseconds; undefined before any replay. */
  readonly replayAgeMillis: number | undefined;
}

export interface LagLimits {
  readonly maxLagMillis: number | undefined;
  readonly maxLagBytes: number | undefined;
}

/** Why a replica takes no reads. `failing`: its checks or a read on it failed. */
export type OutReason = 'failing' | 'not-in-recovery' | 'lag-bytes' | 'lag-millis';

export interface LagVerdict {
  readonly usable: boolean;
  readonly reason: OutReason | undefined;
  readonly lagBytes: number | undefined;
  readonly lagMillis: number | undefined;
}

/**
 * Byte lag is the primary's position minus the replica's replay position. Time lag is the age
 * of the last replayed transaction, except that it is 0 once replay has caught up with the
 * primary: on an idle primary that age grows forever though the replica is current (the
 * mistake pgdog's PR #1122 fixed). `primaryLsn` is the last position the primary reported;
 * while it is unknown, only the age can be judged.
 */
export function judgeLag(
  primaryLsn: bigint | undefined,
  sample: ReplicaSample,
  limits: LagLimits,
): LagVerdict {
  const position = sample.replayLsn ?? sample.receiveLsn;
  const lagBytes =
    primaryLsn === undefined || position === undefined
      ? undefined
      : Number(primaryLsn > position ? primaryLsn - position : 0n);
  const lagMillis = lagBytes === 0 ? 0 : sample.replayAgeMillis;
  const out = (reason: OutReason): LagVerdict => ({ usable: false, reason, lagBytes, lagMillis });
  if (!sample.inRecovery) return out('not-in-recovery');
  if (limits.maxLagBytes !== undefined && lagBytes !== undefined && lagBytes > limits.maxLagBytes) {
    return out('lag-bytes');
  }
  if (
    limits.maxLagMillis !== undefined &&
    lagMillis !== undefined &&
    lagMillis > limits.maxLagMillis
  ) {
    return out('lag-millis');
  }
  return { usable: true, reason: undefined, lagBytes, lagMillis };
}

/**
 * How long a failing replica waits before its next probe: doubling from `baseMillis` per
 * consecutive failure up to `maxMillis`, then scaled by a random factor in [0.5, 1) so that
 * routers started together do not probe in step.
 */
export function probeDelay(
  failures: number,
  baseMillis: number,
  maxMillis: number,
  random: () => number,
): number {
  const ceiling = Math.min(maxMillis, baseMillis * 2 ** Math.max(0, failures - 1));
  return ceiling * (0.5 + random() / 2);
}

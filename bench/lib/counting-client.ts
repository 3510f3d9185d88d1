/**
 * A `pg.Client` subclass that records every connection attempt, for pools that accept a
 * `Client` option (lifeguard/pg and pg.Pool alike). Counting at the client rather than at a
 * proxy leaves the network path untouched: a stopped server still answers ECONNREFUSED, as in
 * production.
 */
import pg from 'pg';

export interface ConnectLog {
  /** performance.now() of each attempt, in order. */
  readonly attempts: number[];
  /** Attempts in [from, to). */
  count(from: number, to: number): number;
  /** Attempts per whole second of [from, to), from the first second on. */
  perSecond(from: number, to: number): number[];
}

export function connectLog(): ConnectLog {
  const attempts: number[] = [];
  return {
    attempts,
    count(from, to) {
      let n = 0;
      for (const at of attempts) if (at >= from && at < to) n++;
      return n;
    },
    perSecond(from, to) {
      const buckets = new Array<number>(Math.max(1, Math.ceil((to - from) / 1000))).fill(0);
      for (const at of attempts) {
        if (at < from || at >= to) continue;
        const bucket = Math.floor((at - from) / 1000);
        buckets[bucket] = (buckets[bucket] ?? 0) + 1;
      }
      return buckets;
    },
  };
}

/** A Client class whose `connect()` calls are appended to `log`. */
export function countingClient(log: ConnectLog): typeof pg.Client {
  class CountingClient extends pg.Client {
    override connect(): Promise<pg.Client>;
    override connect(callback: (err: Error) => void): void;
    override connect(callback?: (err: Error) => void): Promise<pg.Client> | void {
      log.attempts.push(performance.now());
      return callback === undefined ? super.connect() : super.connect(callback);
    }
  }
  return CountingClient;
}

/**
 * The pipelined `pool.query()`. pg.Pool spends most of a short query's time on its own round
 * trip and on the idle gap between one answer and the next query on each connection; here a
 * single statement is written straight onto a shared connection (a lane, lane.ts) with pg's
 * `pipeline: true` mode (pg >= 8.23), several in flight per lane, without waiting.
 *
 * The layers, as undici's Pool and Client:
 * - router.ts: the route of each query (exclusive, apart, held, lane), and what answers teach;
 * - lanes.ts: which lanes exist, which takes the next query, opening and giving back;
 * - lane.ts: one connection's in-flight queries, corking, answers, its state;
 * - this file: one wait queue (core/wait-queue.ts) and a short pump, `close()`, `whenIdle()`.
 *
 * The pump, in order:
 * 0. A statement known to be slow (slow-statements.ts) is not pipelined at all: it runs apart,
 *    on a connection of its own (isolation.ts), so that no fast query is written behind it.
 * 1. A query goes to the least-loaded lane that has fewer than `depth` queries in flight and
 *    whose oldest query has been in service for at most `slowQueryMillis` and was sent at most
 *    4 times that long ago (head-of-line protection, lane.ts: read from two times on
 *    dispatch, no timer per query).
 * 2. If none can take it, it waits in the queue, and lanes are added (one per `depth`
 *    waiting queries) up to `max`. A lane that finishes a query takes the next waiting one.
 * 3. A lane with nothing left in flight goes back to the core at the end of the current turn
 *    of the event loop, unless it has queries again by then (lanes.ts).
 *
 * Failures:
 * - A SQL error fails that query alone: pg ends each pipelined query with its own Sync, so
 *   PostgreSQL skips only to that query's end. The lane carries on.
 * - A lane whose connection breaks is dropped at once. Every query written to it fails with
 *   `PgConnectionLostError`, `mayHaveRun: true`, since the server may have run it; unless the
 *   failure proves it never left (pg refused it, or a write failed with it alone in flight),
 *   in which case it is dispatched once more, as the exclusive path does. Queries still
 *   waiting here were never written anywhere: they simply go to another lane.
 * - A waiting query fails with the core's `ERR_POOL_ACQUIRE_TIMEOUT` after
 *   `acquireTimeoutMillis`, with the core's error when no lane can be opened at all (circuit
 *   open, database down), and with `ERR_POOL_CLOSED` when the pool ends.
 */
import type pg from 'pg';

import {
  AcquireTimeoutError,
  OverloadedError,
  type NormalizedOptions,
  type Pool as CorePool,
  type PoolCounts,
} from '../../core/index.js';
import { timerDelay, WaitQueue } from '../../core/internal.js';
import { callerError, isAcquireTimeout, kConnectTimeoutHeadline } from '../callers.js';
import type { Checkout } from '../checkout.js';
import type { PgConnection } from '../connection.js';
import type { Dispatcher, DispatcherCounts, QueryInput, QueryValues } from '../dispatch.js';
import type { PgConnectionLostError } from '../errors.js';
import { connectionLost, kNotSentTwice } from '../outcome.js';
import type { PipelineSettings } from '../options.js';
import type { Redactor } from '../redact.js';
import { Isolation } from './isolation.js';
import type { Answer, Lane } from './lane.js';
import { Lanes, lanesSettings, type LanesOwner } from './lanes.js';
import { closedWhileWaiting } from './probation.js';
import { Band, kBands, PipelinedQuery } from './query.js';
import { Router } from './router.js';
import { SlowStatements } from './slow-statements.js';

export class PipelineDispatcher implements Dispatcher {
  readonly #checkout: Checkout;
  readonly #redactor: Redactor;
  readonly #exclusive: Dispatcher;
  readonly #clock = globalThis.performance;
  /** Every pipelined query that waits, in its band (query.ts). */
  readonly #queue: WaitQueue<PipelinedQuery>;
  readonly #lanes: Lanes;
  readonly #router: Router;
  /** Slow statements, run apart; undefined when `isolateSlowQueries` is off. */
  readonly #isolation: Isolation | undefined;
  #closed = false;
  /** The Client class has no pipeline mode (pg-native, a mock): everything goes exclusive. */
  #unsupported = false;
  /** While `whenIdle()` waits: checks whether nothing is left here, after each change. */
  #idleWatch: (() => void) | undefined;
  /**
   * The core's last failed connect, until one succeeds: the cause of a pipelined timeout when
   * no lane checkout has failed yet (the core's own timeout says the same for its waiters).
   */
  #lastCreateError: unknown = undefined;

  constructor(
    checkout: Checkout,
    redactor: Redactor,
    settings: PipelineSettings,
    exclusive: Dispatcher,
    core?: CoreEvents,
  ) {
    this.#checkout = checkout;
    this.#redactor = redactor;
    this.#exclusive = exclusive;
    const options = checkout.options;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const dispatcher = this;
    this.#queue = new WaitQueue<PipelinedQuery>(
      options,
      () => this.#clock.now(),
      {
        expired: (entry, now) => entry.reject(this.#timeout(entry, now)),
        shed: (entry, now, busyFor) =>
          entry.reject(new OverloadedError(now - entry.enqueuedAt, busyFor, this.#errorCounts())),
        afterExpiry: () => this.#idleWatch?.(),
      },
      undefined,
      kBands,
    );
    this.#lanes = new Lanes(checkout, lanesSettings(settings, options), this.#lanesOwner());
    const statements = isolates(settings, options)
      ? new SlowStatements(settings.slowQueryMillis)
      : undefined;
    this.#router = new Router(settings.slowQueryMillis, statements, this.#queue, {
      get closed() {
        return dispatcher.#closed;
      },
      pump: () => this.#pump(),
    });
    this.#isolation =
      statements === undefined
        ? undefined
        : new Isolation(statements, this.#queue, checkout, redactor, {
            lighten: () => this.#laneWaiting() === 0 && this.#lanes.lighten(),
            get freeing() {
              return dispatcher.#lanes.freeing;
            },
            isolatedDone: () => this.#changed(),
          });
    checkout.onPressure = () => this.#lanes.yieldToExclusive();
    core?.on('error', ({ error }) => (this.#lastCreateError = error));
    core?.on('create', () => (this.#lastCreateError = undefined));
  }

  counts(): DispatcherCounts {
    const counters = this.#queue.counters;
    return {
      waiting: this.#queue.size,
      acquiring: this.#lanes.acquiring,
      idle: this.#lanes.idle,
      shed: counters.shed,
      timeouts: counters.timeouts,
      rejectedQueueFull: counters.rejectedQueueFull,
    };
  }

  dispatch(query: QueryInput, values: QueryValues): Promise<pg.QueryResult> {
    // After close() the exclusive path rejects with the core's ERR_POOL_CLOSED.
    if (this.#closed || this.#unsupported || !this.#router.pipelinable(query, values)) {
      return this.#exclusive.dispatch(query, values);
    }
    let entry!: PipelinedQuery;
    const result = new Promise<pg.QueryResult>((resolve, reject) => {
      entry = new PipelinedQuery(query, values, resolve, reject);
    });
    this.#router.admit(entry);
    const now = this.#clock.now();
    const route = entry.route;
    if (route === 'slow') {
      this.#wait(entry, Band.Isolated, now);
    } else if (route === 'hold') {
      // A run of a new statement whose first run is out: it waits for that one's verdict.
      this.#wait(entry, Band.Held, now);
    } else {
      // Nobody ahead: straight onto a lane if one can take it.
      const lane = this.#queue.size === 0 ? this.#lanes.pick(now) : undefined;
      if (lane !== undefined) lane.send(entry, now);
      else this.#wait(entry, Band.Lane, now);
    }
    return result;
  }

  /**
   * Resolves once nothing is left here: no query waiting, no lane open or being opened, no
   * isolated statement running; or after `timeoutMillis`. The pool calls it from `end()`,
   * having stopped taking new queries, so that everything already dispatched is answered.
   */
  whenIdle(timeoutMillis: number): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#idleWatch = undefined;
        resolve();
      };
      const timer = setTimeout(done, timerDelay(timeoutMillis));
      timer.unref();
      this.#idleWatch = () => {
        if (this.#isIdle()) done();
      };
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#checkout.onPressure = undefined;
    const queue = this.#queue;
    queue.close();
    for (let band = 0; band < kBands; band++) {
      for (const entry of queue.drain(band)) entry.reject(closedWhileWaiting());
    }
    // In-flight queries finish; each lane goes back (and is closed by the core) as it empties.
    this.#lanes.drainAll();
  }

  #isIdle(): boolean {
    const lanes = this.#lanes;
    return (
      this.#queue.size === 0 &&
      lanes.size === 0 &&
      lanes.acquiring === 0 &&
      (this.#isolation?.running ?? 0) === 0
    );
  }

  #wait(entry: PipelinedQuery, band: Band, now: number): void {
    const full = this.#queue.full();
    if (full !== undefined) {
      entry.reject(full);
      return;
    }
    entry.enqueuedAt = now;
    this.#queue.push(entry, band);
    this.#pump(now);
  }

  /** Queries waiting for room on a lane (not the slow ones waiting to run apart). */
  #laneWaiting(): number {
    return this.#queue.sizeOf(Band.Lane) + this.#queue.sizeOf(Band.Retry);
  }

  /**
   * Runs the isolated queries that may run, places what waits for a lane, oldest first
   * (retries before the rest), then opens lanes for what still cannot be placed.
   */
  #pump(now: number = this.#clock.now()): void {
    if (this.#closed) return;
    const queue = this.#queue;
    if (this.#isolation !== undefined && queue.sizeOf(Band.Isolated) > 0) {
      this.#isolation.pump();
    }
    while (this.#laneWaiting() > 0) {
      const lane = this.#lanes.pick(now);
      if (lane === undefined) {
        this.#lanes.grow(this.#laneWaiting());
        break;
      }
      // Shedding (overload control) applies to the lane band, not to retries.
      const next = queue.next(Band.Retry) ?? queue.serve(now);
      if (next === undefined) break;
      lane.send(next, now);
    }
    this.#idleWatch?.();
  }

  /** Something was freed: place what waits, and tell `whenIdle()`. */
  #changed(): void {
    if (this.#queue.size > 0) this.#pump();
    this.#idleWatch?.();
  }

  // --- what the lanes report ---------------------------------------------------------------

  #lanesOwner(): LanesOwner {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const dispatcher = this;
    return {
      get laneDemand() {
        return dispatcher.#closed ? 0 : dispatcher.#laneWaiting();
      },
      get isolatedWaiting() {
        return dispatcher.#queue.sizeOf(Band.Isolated);
      },
      opened: () => this.#pump(),
      notOpened: (error, startedAt) => this.#laneNotOpened(error, startedAt),
      released: () => this.#changed(),
      unsupported: () => this.#fallBack(),
      answered: (lane, entry, answer, error, result) =>
        this.#answered(lane, entry, answer, error, result),
      stuck: (head, since, now) => this.#router.stuck(head, since, now),
      large: (head) => this.#router.large(head),
    };
  }

  #answered(
    lane: Lane,
    entry: PipelinedQuery,
    answer: Answer,
    error: unknown,
    result: pg.QueryResult | undefined,
  ): void {
    let lost: PgConnectionLostError | undefined;
    if (answer === 'lost')
      lost = this.#lostOn(lane, entry, error); // undefined: sent again
    else this.#router.observe(entry);
    if (this.#queue.size > 0) this.#pump(entry.answeredAt);
    this.#lanes.emptied(lane);
    // Settled last, so that a caller who looks at the pool's counts as soon as its query
    // resolves finds the connection idle, or already on its way back (as on the exclusive path).
    if (answer === 'ok') entry.resolve(result!);
    else if (answer === 'sql-error') entry.reject(error);
    else if (lost !== undefined) entry.reject(lost);
  }

  /** The lost-connection error for `entry`, or undefined when it was queued to be sent again. */
  #lostOn(lane: Lane, entry: PipelinedQuery, error: unknown): PgConnectionLostError | undefined {
    const notSent = lane.neverSent(error);
    if (notSent && !entry.retried && !this.#closed) {
      entry.retried = true;
      entry.enqueuedAt = entry.answeredAt;
      this.#queue.push(entry, Band.Retry);
      return undefined;
    }
    const failure = lane.failure ?? error;
    if (notSent) return connectionLost(this.#redactor, failure, false, kNotSentTwice);
    const n = lane.inFlightAtFailure;
    const where = `with ${n} pipelined ${n === 1 ? 'query' : 'queries'} in flight; this one may have taken effect`;
    return connectionLost(this.#redactor, failure, true, where);
  }

  #laneNotOpened(error: unknown, startedAt: number): void {
    if (this.#closed) return;
    const lanes = this.#lanes;
    if (isAcquireTimeout(error)) {
      // Queries that have waited as long as this checkout did have had their timeout.
      this.#rejectLaneWaiting(error, startedAt);
    } else if (lanes.size === 0 && lanes.acquiring === 0) {
      // No connection to be had (circuit open, database down, pool closing): fail fast, as
      // the core does with its own waiters, rather than let each query wait out its timeout.
      this.#rejectLaneWaiting(error, Infinity);
    }
    this.#pump();
  }

  /** Rejects the queries waiting for a lane that started waiting at or before `until`. */
  #rejectLaneWaiting(error: unknown, until: number): void {
    for (const band of [Band.Retry, Band.Lane]) {
      for (const entry of this.#queue.drain(band, until)) entry.reject(error);
    }
  }

  /** The Client class cannot pipeline: hand everything to the exclusive path, for good. */
  #fallBack(): void {
    this.#unsupported = true;
    for (let band = 0; band < kBands; band++) {
      for (const entry of this.#queue.drain(band)) {
        this.#exclusive.dispatch(entry.query, entry.values).then(
          (result) => entry.resolve(result),
          (error: unknown) => entry.reject(error),
        );
      }
    }
  }

  /** pg.Pool's timeout error for a query that waited too long (callers.ts). */
  #timeout(entry: PipelinedQuery, now: number): unknown {
    const counts = this.#errorCounts();
    return callerError(
      new AcquireTimeoutError(
        now - entry.enqueuedAt,
        counts,
        this.#lanes.lastAcquireError ?? this.#lastCreateError,
        kConnectTimeoutHeadline,
      ),
    );
  }

  /** The core's counts, with queries waiting here counted as the waiters they stand for. */
  #errorCounts(): PoolCounts {
    const counts = this.#checkout.counts();
    return {
      ...counts,
      waiting: Math.max(0, counts.waiting - this.#lanes.acquiring) + this.#queue.size,
    };
  }
}

/** The core pool's events the dispatcher listens to (connect failures and successes). */
type CoreEvents = Pick<CorePool<PgConnection>, 'on'>;

/** Isolation needs a connection besides the lanes', and a threshold to learn from. */
function isolates(settings: PipelineSettings, options: NormalizedOptions): boolean {
  // With 0, every statement would be slow; with Infinity, none.
  const threshold = settings.slowQueryMillis;
  return settings.isolateSlowQueries && options.max >= 2 && threshold > 0 && threshold < Infinity;
}

/**
 * The pipelined `pool.query()`. pg.Pool spends most of a short query's time on its own round
 * trip and on the idle gap between one answer and the next query on each connection; here a
 * single statement is written straight onto a shared connection (a "lane", lane.ts) with
 * pg's `pipeline: true` mode (pg >= 8.23), several in flight per lane, without waiting.
 *
 * The core stays in charge of every connection. A lane is borrowed from it like any checkout
 * and given back as soon as its last query is answered, so `max`, validation, lifetimes,
 * `maxUses`, statistics and `end()` govern lanes as they govern `connect()`. `connect()` and
 * `transaction()` get an exclusive connection that no lane shares, and what cannot be
 * pipelined safely (pipelinable.ts) takes the exclusive path (dispatch.ts).
 *
 * The pump, in order:
 * 0. A statement known to be slow (slow-statements.ts) is not pipelined at all: it runs apart,
 *    on a connection of its own (isolation.ts), so that no fast query is written behind it.
 * 1. A query goes to the least-loaded lane that has fewer than `depth` queries in flight and
 *    whose oldest query has been in service for at most `slowQueryMillis` and was sent at most
 *    4 times that long ago (head-of-line protection, `#blocked`: read from two times on
 *    dispatch, no timer per query).
 * 2. If none can take it, it waits in a FIFO here, and lanes are added (one per `depth`
 *    waiting queries) up to `max`. A lane that finishes a query takes the next waiting one.
 * 3. A lane with nothing left in flight goes back to the core at the end of the current turn
 *    of the event loop (`setImmediate`), unless it has queries again by then. Callers send
 *    their next queries a few microtasks after their answers; giving the lane back in between
 *    would cost a release, a reset and an acquire per query at one caller (measured: 0.8x
 *    pg.Pool's throughput) and per batch at several (one per 12 queries at 10 callers), and
 *    leave the server idle in between. It goes back at once when it is draining, or when it
 *    only ever had one query at a time and someone waits in the core for a connection. Until
 *    then `idleCount` counts it as idle; the core sees it checked out ('release' comes then).
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
  OverloadControl,
  OverloadedError,
  PoolClosedError,
  QueueFullError,
  type NormalizedOptions,
} from '../core/index.js';
import { FifoQueue, timerDelay } from '../core/internal.js';
import { kConnectTimeoutHeadline } from './callers.js';
import type { Checkout } from './checkout.js';
import { isFatalServerError, isPgRefusal, lostFailure, provesNotSent } from './classify.js';
import type { PgConnection } from './connection.js';
import type { Dispatcher, QueryInput, QueryValues } from './dispatch.js';
import { PgConnectionLostError } from './errors.js';
import { Lane, PipelinedQuery } from './lane.js';
import type { PipelineSettings } from './options.js';
import { Isolation, type IsolationHost, type Room } from './isolation.js';
import { Probation } from './probation.js';
import { isPipelinable } from './pipelinable.js';
import type { Redactor } from './redact.js';
import { statementText } from './slow-statements.js';

/**
 * Under endless load a lane never empties, so it would never go back to the core, which
 * checks lifetimes and reports leaks only on checkouts it sees. A lane older than this takes
 * no new queries and is given back once it empties (the core then usually hands the same
 * connection straight back).
 */
const kMaxLaneMillis = 30_000;
const kMinLaneMillis = 100;
/** A lane whose oldest query was sent this many `slowQueryMillis` ago takes no new queries. */
const kQueuedFactor = 4;

/** pg's callback form of `query`, which costs no promise per query. */
type QueryWithCallback = (
  query: QueryInput,
  values: QueryValues,
  callback: (error: unknown, result: pg.QueryResult) => void,
) => void;

/** Below this `idleTimeoutMillis`, emptied lanes go back at once (see `#retiresAtOnce`). */
const kKeepLaneMinIdleMillis = 10;

export class PipelineDispatcher implements Dispatcher {
  readonly #checkout: Checkout;
  readonly #redactor: Redactor;
  readonly #exclusive: Dispatcher;
  readonly #depth: number;
  readonly #slowQueryMillis: number;
  readonly #maxLaneMillis: number;
  readonly #acquireTimeoutMillis: number;
  readonly #maxWaiting: number;
  readonly #clock = globalThis.performance;
  /** Open lanes, in no order; each knows its index, for O(1) removal. */
  readonly #lanes: Lane[] = [];
  /** One Lane object per connection, reused each time the connection becomes a lane. */
  readonly #laneOf = new WeakMap<PgConnection, Lane>();
  readonly #queue = new FifoQueue<PipelinedQuery>();
  /** Queries dispatched again after a connection failure: they go before the queue. */
  readonly #retries = new FifoQueue<PipelinedQuery>();
  /** Slow statements, run apart; undefined when `isolateSlowQueries` is off. */
  readonly #isolation: Isolation | undefined;
  /** New statements' runs held for their first run's verdict; with isolation only. */
  readonly #probation: Probation | undefined;
  /** Every queue of waiting queries, for timeouts and `close()`. */
  readonly #waitingQueues: readonly FifoQueue<PipelinedQuery>[];
  /** Lanes taking no new queries, given back when they empty. */
  #draining = 0;
  /** Lane checkouts pending in the core's queue. */
  #acquiring = 0;
  #closed = false;
  /**
   * `idleTimeoutMillis` is a few milliseconds: the user wants idle connections gone at once,
   * so an emptied lane is never kept through the turn (that would delay its idle timeout).
   */
  readonly #retiresAtOnce: boolean;
  /** While `whenIdle()` waits: checks whether nothing is left here, after each change. */
  #idleWatch: (() => void) | undefined;
  /** Inside pg's `client.query()`: see `#send`. */
  #sending = false;
  /** Lanes corked for the current batch of sends, uncorked by `#flush` (see `#send`). */
  readonly #corked: Lane[] = [];
  readonly #flush = (): void => this.#uncorkAll();
  /** The Client class has no pipeline mode (pg-native, a mock): everything goes exclusive. */
  #unsupported = false;
  #expiryTimer: NodeJS.Timeout | undefined;
  #lastAcquireError: unknown;
  /**
   * The core's overload shedding (`overloadTargetMillis`), applied to queries waiting here for
   * a lane as the core applies it to callers waiting for a connection.
   */
  readonly #overload: OverloadControl;
  /** Queries shed as overload from this queue (the core counts its own). */
  shed = 0;
  /** Queries that waited here longer than `acquireTimeoutMillis`. */
  timeouts = 0;
  /** Queries refused because `maxWaiting` queries already waited here. */
  rejectedQueueFull = 0;
  readonly #expire = (): void => this.#expireWaiting();

  constructor(
    checkout: Checkout,
    redactor: Redactor,
    settings: PipelineSettings,
    exclusive: Dispatcher,
  ) {
    this.#checkout = checkout;
    this.#redactor = redactor;
    this.#exclusive = exclusive;
    this.#depth = settings.depth;
    this.#slowQueryMillis = settings.slowQueryMillis;
    const options = checkout.options;
    this.#acquireTimeoutMillis = options.acquireTimeoutMillis;
    this.#maxWaiting = options.maxWaiting;
    this.#maxLaneMillis = maxLaneMillis(options);
    const idleTimeout = options.idleTimeoutMillis;
    this.#retiresAtOnce = idleTimeout > 0 && idleTimeout < kKeepLaneMinIdleMillis;
    this.#overload = new OverloadControl(
      options.overloadTargetMillis,
      options.overloadIntervalMillis,
    );
    // Isolation needs a connection besides the lanes', and a threshold to learn from: with 0,
    // every statement would be slow; with Infinity, none.
    const threshold = this.#slowQueryMillis;
    this.#isolation =
      settings.isolateSlowQueries && options.max >= 2 && threshold > 0 && threshold < Infinity
        ? new Isolation(this.#slowQueryMillis, checkout, redactor, this.#isolationHost())
        : undefined;
    // New statements are on probation only where slow ones can be run apart.
    this.#probation = this.#isolation === undefined ? undefined : new Probation();
    this.#waitingQueues =
      this.#isolation === undefined
        ? [this.#retries, this.#queue]
        : [this.#retries, this.#queue, this.#isolation.queue, this.#probation!.held];
    checkout.onPressure = () => this.#yieldToExclusive();
  }

  get waiting(): number {
    const isolated = this.#isolation === undefined ? 0 : this.#isolation.queue.length;
    const held = this.#probation === undefined ? 0 : this.#probation.held.length;
    return this.#queue.length + this.#retries.length + isolated + held;
  }

  get acquiring(): number {
    return this.#acquiring;
  }

  /** Emptied lanes kept until the end of this turn (`#releaseSoon`): idle, to `idleCount`. */
  get idle(): number {
    let idle = 0;
    for (const lane of this.#lanes) if (lane.inFlight === 0 && !lane.draining) idle++;
    return idle;
  }

  dispatch(query: QueryInput, values: QueryValues): Promise<pg.QueryResult> {
    // After close() the exclusive path rejects with the core's ERR_POOL_CLOSED.
    if (this.#closed || this.#unsupported || !isPipelinable(query, values)) {
      return this.#exclusive.dispatch(query, values);
    }
    const probation = this.#probation;
    const verdict = probation === undefined ? 'go' : probation.admit(statementText(query));
    let entry!: PipelinedQuery;
    const result = new Promise<pg.QueryResult>((resolve, reject) => {
      entry =
        verdict === 'pioneer'
          ? this.#pioneer(query, values, resolve, reject)
          : new PipelinedQuery(query, values, resolve, reject);
    });
    const now = this.#clock.now();
    const isolation = this.#isolation;
    if (isolation !== undefined && isolation.isSlow(query)) {
      this.#wait(entry, isolation.queue, now);
      return result;
    }
    if (verdict === 'hold') {
      // A run of a new statement whose first run is out: it waits for that one's verdict.
      this.#wait(entry, probation!.held, now);
      return result;
    }
    if (this.waiting === 0) {
      // Nobody ahead: straight onto a lane if one can take it.
      const lane = this.#pick(now);
      if (lane !== undefined) {
        this.#send(lane, entry, now);
        return result;
      }
    }
    this.#wait(entry, this.#queue, now);
    return result;
  }

  /**
   * The first run of a new statement (probation.ts). Its settle functions first hand the runs
   * held behind it on: to the lanes if it was answered fast, apart if not. Every way a query
   * settles (answer, failure, timeout, shedding, end) goes through them, so none is stranded.
   */
  #pioneer(
    query: QueryInput,
    values: QueryValues,
    resolve: (result: pg.QueryResult) => void,
    reject: (error: unknown) => void,
  ): PipelinedQuery {
    const text = statementText(query);
    const entry: PipelinedQuery = new PipelinedQuery(
      query,
      values,
      (result) => {
        this.#pioneerDone(text, entry.answeredFast, entry.serviceMillis);
        resolve(result);
      },
      (error) => {
        this.#pioneerDone(text, entry.answeredFast, entry.serviceMillis);
        reject(error);
      },
    );
    entry.pioneer = text;
    return entry;
  }

  #pioneerDone(text: string, fast: boolean, serviceMillis: number): void {
    const held = this.#probation!.settled(text, fast);
    if (held.length === 0) return;
    if (this.#closed) {
      // close() is failing what waits, queue by queue: these must not land in one it has passed.
      for (const entry of held) {
        entry.reject(new PoolClosedError('The pool was ended while this query waited'));
      }
      return;
    }
    const isolation = this.#isolation;
    // A burst of a new statement whose first run was slow: that is evidence enough, and the
    // burst must not reach the lanes (isolation would otherwise send them back, unmarked).
    if (!fast && isolation !== undefined && !Number.isNaN(serviceMillis)) {
      isolation.statements.markSlow(text, serviceMillis);
    }
    // Fast: straight to the lanes, ahead of newer queries. Slow: apart, as known-slow ones.
    const target = fast || isolation === undefined ? this.#retries : isolation.queue;
    for (const entry of held) target.push(entry);
    if (!this.#closed) this.#pump();
  }

  #wait(entry: PipelinedQuery, queue: FifoQueue<PipelinedQuery>, now: number): void {
    if (this.waiting >= this.#maxWaiting) {
      this.rejectedQueueFull++;
      entry.reject(new QueueFullError(this.#maxWaiting));
      return;
    }
    entry.queuedAt = now;
    if (queue === this.#queue && queue.isEmpty()) this.#overload.becameBusy(now);
    queue.push(entry);
    this.#pump(now);
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

  #isIdle(): boolean {
    return (
      this.waiting === 0 &&
      this.#lanes.length === 0 &&
      this.#acquiring === 0 &&
      (this.#isolation?.running ?? 0) === 0
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#checkout.onPressure = undefined;
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    this.#rejectWaiting(
      new PoolClosedError('The pool was ended while this query waited'),
      Infinity,
      true,
    );
    // In-flight queries finish; each lane goes back (and is closed by the core) as it empties.
    for (const lane of [...this.#lanes]) {
      this.#drain(lane);
      if (lane.inFlight === 0) this.#release(lane);
    }
  }

  // --- placing queries ---------------------------------------------------------------------

  /**
   * The least-loaded lane that may take a query now. A linear scan: lanes number at most
   * `max`, and the scan stops at the first empty one.
   */
  #pick(now: number): Lane | undefined {
    const lanes = this.#lanes;
    let best: Lane | undefined;
    for (let i = 0; i < lanes.length; i++) {
      const lane = lanes[i]!;
      const inFlight = lane.inFlight;
      if (lane.draining || inFlight >= this.#depth) continue;
      if (best !== undefined && inFlight >= best.inFlight) continue;
      if (now - lane.since > this.#maxLaneMillis) {
        this.#drain(lane);
        continue;
      }
      // Head-of-line: its oldest query is slow, so anything written now would wait behind it.
      if (inFlight > 0 && this.#blocked(lane, now)) continue;
      if (!lane.connection.alive) {
        // Broke, and pg has not told us yet (a socket destroyed this tick). Found here, before
        // anything more is written to it.
        this.#laneFailed(lane, lane.connection.failure ?? closedError(), inFlight);
        return this.#pick(now);
      }
      best = lane;
      if (inFlight === 0) break;
    }
    return best;
  }

  /**
   * Whether anything written on `lane` now would wait behind a slow query: its oldest query has
   * been in service longer than the threshold (it is stuck; reported to the slow-statement
   * detector now, not only once it is answered), or was sent more than `kQueuedFactor` times the
   * threshold ago.
   *
   * The second bound is for slow queries queued one behind the other: when the first ends, the
   * second starts its service and the lane looks fresh, while what is written behind it waits
   * for it too (service time alone, without isolation: 1.1k q/s instead of 13k with 1% slow
   * queries). It is a multiple, not the threshold itself, because a healthy lane at 1000
   * callers is 10-25 ms deep: with the send time alone against 10 ms, lanes kept being skipped
   * and opened, 9 connections instead of 4, and 12% less throughput on 2 cores (same run).
   */
  #blocked(lane: Lane, now: number): boolean {
    const head = lane.head();
    if (head === undefined) return false;
    const threshold = this.#slowQueryMillis;
    const since = lane.serviceStart(head);
    if (now - since > threshold) {
      if (lane.reportedHead !== head) {
        lane.reportedHead = head;
        this.#isolation?.statements.observeSlow(statementText(head.query), since, now);
      }
      return true;
    }
    return now - head.sentAt > kQueuedFactor * threshold;
  }

  #send(lane: Lane, entry: PipelinedQuery, now: number): void {
    lane.push(entry, now);
    // The queries sent in this batch of microtasks (callers answered by one socket read send
    // their next ones from there) leave in one write per lane, after the batch: writev was a
    // third of the CPU time at 1000 callers with one per query. process.nextTick from a
    // microtask runs once the microtask queue is empty, before any I/O: it adds no latency.
    if (!lane.corked && lane.cork()) {
      if (this.#corked.push(lane) === 1) process.nextTick(this.#flush);
    }
    const client = lane.connection.client as unknown as { query: QueryWithCallback };
    let threw = false;
    let thrown: unknown;
    this.#sending = true;
    try {
      // pg calls back synchronously, from inside `client.query()`, when a parameter fails to
      // serialize: in the middle of its send loop, before it has queued this query as sent.
      // Sending the next query from there would queue that one ahead of this one, and pg
      // would then hand each the other's answer. So such a callback waits for a microtask.
      // (An inline function: the one closure a query costs.)
      client.query(entry.query, entry.values, (error: unknown, result: pg.QueryResult) => {
        if (this.#sending) queueMicrotask(() => this.#answered(entry, lane, error, result));
        else this.#answered(entry, lane, error, result);
      });
    } catch (error) {
      threw = true;
      thrown = error;
    } finally {
      this.#sending = false;
    }
    // pg throws synchronously only on arguments it cannot use; the connection is fine.
    if (threw) this.#answered(entry, lane, thrown, undefined);
  }

  #uncorkAll(): void {
    const corked = this.#corked;
    // Uncorked whatever became of the lane meanwhile (failed, given back): the socket is the
    // connection's, and whoever has it now expects its writes to leave.
    for (let i = 0; i < corked.length; i++) corked[i]!.uncork();
    corked.length = 0;
  }

  /**
   * Runs the isolated queries that may run, places what waits for a lane, oldest first, then
   * opens lanes for what still cannot be placed.
   */
  #pump(now: number = this.#clock.now()): void {
    if (this.#closed) return;
    const isolation = this.#isolation;
    if (isolation !== undefined && !isolation.queue.isEmpty()) isolation.pump();
    for (;;) {
      const source = this.#retries.isEmpty() ? this.#queue : this.#retries;
      const next = source.peek();
      if (next === undefined) break;
      const lane = this.#pick(now);
      if (lane === undefined) {
        this.#grow();
        break;
      }
      source.shift();
      if (source === this.#queue && this.#shedding(next, now)) continue;
      this.#send(lane, next, now);
    }
    if (this.#queue.isEmpty()) this.#overload.becameEmpty();
    if (this.waiting > 0) this.#armExpiry(now);
    this.#idleWatch?.();
  }

  /**
   * Sheds `entry`, just taken from the queue, if it has waited past the overload target while
   * the queue stood (the core's rule, overload.ts): it fails with `ERR_POOL_OVERLOADED`.
   */
  #shedding(entry: PipelinedQuery, now: number): boolean {
    const overload = this.#overload;
    if (!overload.enabled) return false;
    const busyFor = overload.busyFor(now);
    const waited = now - entry.queuedAt;
    if (!overload.shouldShed(waited, busyFor)) return false;
    this.shed++;
    entry.reject(new OverloadedError(waited, busyFor, this.#counts()));
    return true;
  }

  /**
   * One more lane for every `depth` waiting queries, up to `max` connections in all. While
   * exclusive callers wait, at most one lane (so that queries keep moving, in the core's FIFO
   * order behind them).
   */
  #grow(): void {
    const lanes = this.#lanes.length;
    let wanted = Math.ceil(this.#laneWaiting() / this.#depth);
    if (this.#checkout.exclusiveWaiting > 0) wanted = lanes + this.#acquiring === 0 ? 1 : 0;
    const max = this.#checkout.options.max;
    while (this.#acquiring < wanted && lanes + this.#acquiring < max) this.#openLane();
  }

  #openLane(): void {
    this.#acquiring++;
    const startedAt = this.#clock.now();
    this.#checkout.acquireLane().then(
      (connection) => this.#laneOpened(connection),
      (error: unknown) => this.#laneNotOpened(error, startedAt),
    );
  }

  #laneOpened(connection: PgConnection): void {
    this.#acquiring--;
    this.#lastAcquireError = undefined;
    if (
      this.#closed ||
      this.#laneWaiting() === 0 ||
      (this.#checkout.exclusiveWaiting > 0 && this.#lanes.length > 0)
    ) {
      // Not needed after all, or an exclusive caller is owed it: the core hands it on.
      this.#checkout.release(connection);
      this.#idleWatch?.();
      return;
    }
    if (!connection.supportsPipeline) {
      this.#checkout.release(connection);
      this.#fallBack();
      return;
    }
    let lane = this.#laneOf.get(connection);
    if (lane === undefined) {
      const created = new Lane(connection);
      created.onFailure = (error) => this.#laneFailed(created, error, created.inFlight);
      this.#laneOf.set(connection, created);
      lane = created;
    }
    const now = this.#clock.now();
    lane.open(now);
    connection.onFailure = lane.onFailure;
    lane.index = this.#lanes.length;
    this.#lanes.push(lane);
    this.#pump(now);
  }

  /** Queries waiting for room on a lane (not the slow ones waiting to run apart). */
  #laneWaiting(): number {
    return this.#queue.length + this.#retries.length;
  }

  #laneNotOpened(error: unknown, startedAt: number): void {
    this.#acquiring--;
    if (this.#closed) return;
    this.#lastAcquireError = error;
    if (error instanceof AcquireTimeoutError) {
      // Queries that have waited as long as this checkout did have had their timeout.
      this.#rejectWaiting(error, startedAt);
    } else if (this.#lanes.length === 0 && this.#acquiring === 0) {
      // No connection to be had (circuit open, database down, pool closing): fail fast, as
      // the core does with its own waiters, rather than let each query wait out its timeout.
      this.#rejectWaiting(error);
    }
    this.#pump();
  }

  // --- answers -----------------------------------------------------------------------------

  #answered(
    entry: PipelinedQuery,
    lane: Lane,
    error: unknown,
    result: pg.QueryResult | undefined,
  ): void {
    // pg calls back twice for a query whose parameters failed to serialize: once at once,
    // once at its ReadyForQuery. Only the first counts.
    if (entry.lane !== lane) return;
    const now = this.#clock.now();
    const since = lane.finished(entry, now);
    const ok = error === null || error === undefined;
    // A SQL error (or a parameter pg could not send) fails this query alone, with pg's error.
    const sqlError =
      !ok && lane.failure === undefined && lane.connection.alive && !isFatalServerError(error);
    const isolation = this.#isolation;
    if (ok || sqlError) {
      entry.serviceMillis = now - since;
      entry.answeredFast = entry.serviceMillis <= this.#slowQueryMillis;
    }
    if (isolation !== undefined && (ok || sqlError)) {
      const statements = isolation.statements;
      if (now - since > this.#slowQueryMillis) {
        statements.observeSlow(statementText(entry.query), since, now);
      } else if (statements.suspicious) {
        statements.observeFast(statementText(entry.query));
      }
    }
    let lost: PgConnectionLostError | undefined;
    if (!ok && !sqlError) {
      this.#laneFailed(lane, error, lane.inFlight + 1);
      lost = this.#lostOn(lane, entry, error); // undefined: waiting to be sent again
    }
    if (this.waiting > 0) this.#pump(now);
    if (lane.index !== -1 && lane.inFlight === 0) {
      if (this.#mayKeep(lane)) this.#releaseSoon(lane);
      else this.#releaseNow(lane);
    }
    // Settled last, so that a caller who looks at the pool's counts as soon as its query
    // resolves finds the connection idle, or already on its way back (as on the exclusive path).
    if (ok) entry.resolve(result!);
    else if (sqlError) entry.reject(error);
    else if (lost !== undefined) entry.reject(lost);
  }

  /** The lost-connection error for `entry`, or undefined when it was queued to be sent again. */
  #lostOn(lane: Lane, entry: PipelinedQuery, error: unknown): PgConnectionLostError | undefined {
    const failure = lane.failure ?? toError(error);
    const notSent = provesNotSent(error) && (isPgRefusal(error) || lane.inFlightAtFailure <= 1);
    if (notSent && !entry.retried && !this.#closed) {
      entry.retried = true;
      entry.queuedAt = this.#clock.now();
      this.#retries.push(entry);
      return undefined;
    }
    return this.#lost(failure, !notSent, lane.inFlightAtFailure);
  }

  // --- lanes coming and going ----------------------------------------------------------------

  /** Idempotent: the first failure is the one reported for every query on the lane. */
  #laneFailed(lane: Lane, error: unknown, inFlight: number): void {
    if (lane.failure !== undefined) return;
    const connectionFailure = lane.connection.failure;
    lane.failure =
      isFatalServerError(error) || connectionFailure === undefined
        ? toError(error)
        : connectionFailure;
    lane.inFlightAtFailure = inFlight;
    if (lane.index === -1) return; // being given back: whenDrained() reports the failure
    this.#remove(lane);
    lane.clear();
    // pg fails every query still on it (next tick); their callbacks find the lane gone.
    this.#checkout.release(lane.connection, lane.failure);
  }

  #releaseNow(lane: Lane): void {
    this.#release(lane);
    // The lane it gave back may have been what blocked opening another.
    if (this.waiting > 0) this.#pump();
    this.#idleWatch?.();
  }

  /**
   * An emptied lane may be kept until the end of this turn of the event loop (`#releaseSoon`):
   * its callers' next queries arrive a few microtasks after their answers, and a lane given
   * back in between would cost a release, an acquire and a reset per query (one caller) or per
   * batch (several). Not while someone else waits for a connection: a draining lane goes back
   * at once, and so does an unshared one (one query at a time, the exclusive path's pattern)
   * when an exclusive caller or another lane is waiting in the core.
   */
  #mayKeep(lane: Lane): boolean {
    if (lane.draining || this.#retiresAtOnce) return false;
    // Slow queries wait for a connection, and another lane carries on.
    if (
      this.#isolation !== undefined &&
      !this.#isolation.queue.isEmpty() &&
      this.#lanes.length > 1
    ) {
      return false;
    }
    if (lane.shared) return true;
    const checkout = this.#checkout;
    return checkout.exclusiveWaiting === 0 && checkout.coreWaiting <= this.#acquiring;
  }

  /** Gives `lane` back after this turn of the event loop, unless it has queries again by then. */
  #releaseSoon(lane: Lane): void {
    if (lane.releaseScheduled) return;
    lane.releaseScheduled = true;
    setImmediate(() => {
      lane.releaseScheduled = false;
      if (lane.index !== -1 && lane.inFlight === 0) this.#releaseNow(lane);
    }).unref(); // like every pool timer: bookkeeping never keeps the process alive
  }

  /** Gives an empty lane back. pg's pipeline flag goes off first: no exclusive user sees it. */
  #release(lane: Lane): void {
    this.#remove(lane);
    lane.clear();
    const connection = lane.connection;
    if (!connection.busy) {
      connection.restorePipeline();
      this.#checkout.release(connection);
      return;
    }
    // pg still runs a query it already called back for (parameters that failed to serialize,
    // a client-side query_timeout): switching modes now would confuse its queues.
    connection.whenDrained().then(
      () => {
        connection.restorePipeline();
        this.#checkout.release(connection);
      },
      (error: unknown) => this.#checkout.release(connection, error ?? closedError()),
    );
  }

  #remove(lane: Lane): void {
    const lanes = this.#lanes;
    const last = lanes.pop()!;
    if (last !== lane) {
      lanes[lane.index] = last;
      last.index = lane.index;
    }
    lane.index = -1;
    if (lane.draining) this.#draining--;
    lane.draining = false;
    lane.connection.onFailure = undefined;
  }

  #drain(lane: Lane): void {
    if (lane.draining) return;
    lane.draining = true;
    this.#draining++;
  }

  /**
   * An exclusive caller must wait: every connection is checked out. Lanes would otherwise
   * keep theirs for as long as the load lasts, so one lane per waiting caller stops taking
   * queries (the least loaded, which empties soonest) and goes back when it empties.
   */
  #yieldToExclusive(): void {
    let shortfall = this.#checkout.exclusiveWaiting - this.#draining;
    for (; shortfall > 0; shortfall--) {
      let lightest: Lane | undefined;
      for (const lane of this.#lanes) {
        if (!lane.draining && (lightest === undefined || lane.inFlight < lightest.inFlight)) {
          lightest = lane;
        }
      }
      if (lightest === undefined) return;
      this.#drain(lightest);
      if (lightest.inFlight === 0) this.#release(lightest);
    }
  }

  /** The Client class cannot pipeline: hand everything to the exclusive path, for good. */
  #fallBack(): void {
    this.#unsupported = true;
    for (const source of this.#waitingQueues) {
      for (const entry of source.drain()) {
        this.#exclusive.dispatch(entry.query, entry.values).then(entry.resolve, entry.reject);
      }
    }
  }

  // --- slow queries, run apart (isolation.ts) ----------------------------------------------

  #isolationHost(): IsolationHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const dispatcher = this;
    return {
      roomForIsolated: () => this.#roomForIsolated(),
      get freeing() {
        return dispatcher.#draining > 0;
      },
      pipeline: (entry) => this.#queue.push(entry),
      isolatedDone: () => {
        if (this.waiting > 0) this.#pump();
        this.#idleWatch?.();
      },
    };
  }

  /**
   * Whether the core has a connection for an isolated query at once. If lanes hold them all,
   * the lightest lane stops taking queries and goes back when it empties; never the last lane,
   * nor while fast queries wait for room on the lanes, whose need comes first.
   */
  #roomForIsolated(): Room {
    const room = this.#coreRoom();
    if (room !== 'none') return room;
    if (this.#draining > 0 || this.#lanes.length < 2 || this.#laneWaiting() > 0) return room;
    let lightest = this.#lanes[0]!;
    for (const lane of this.#lanes) if (lane.inFlight < lightest.inFlight) lightest = lane;
    this.#drain(lightest);
    if (lightest.inFlight !== 0) return room;
    this.#release(lightest);
    return this.#coreRoom();
  }

  #coreRoom(): Room {
    const checkout = this.#checkout;
    if (checkout.coreWaiting > 0) return 'none';
    const counts = checkout.counts();
    if (counts.idle > 0) return 'idle';
    return counts.total + counts.pendingCreates < checkout.options.max ? 'create' : 'none';
  }

  // --- waiting -----------------------------------------------------------------------------

  /**
   * Rejects queries waiting for a lane that started waiting at or before `queuedBy` (all by
   * default), and with `isolated`, the slow queries waiting to run apart too.
   */
  #rejectWaiting(error: unknown, queuedBy = Infinity, isolated = false): void {
    const sources = isolated ? this.#waitingQueues : [this.#retries, this.#queue];
    for (const source of sources) {
      for (let head = source.peek(); head !== undefined && head.queuedAt <= queuedBy;) {
        source.shift();
        head.reject(error);
        head = source.peek();
      }
    }
  }

  /** One timer for all waiting queries, set for the oldest one's deadline. */
  #armExpiry(now: number): void {
    if (this.#expiryTimer !== undefined || this.#acquireTimeoutMillis === Infinity) return;
    let oldest = Infinity;
    for (const source of this.#waitingQueues) {
      oldest = Math.min(oldest, source.peek()?.queuedAt ?? Infinity);
    }
    if (oldest === Infinity) return;
    this.#expiryTimer = setTimeout(
      this.#expire,
      timerDelay(oldest + this.#acquireTimeoutMillis - now),
    );
    this.#expiryTimer.unref();
  }

  #expireWaiting(): void {
    this.#expiryTimer = undefined;
    const now = this.#clock.now();
    const timeout = this.#acquireTimeoutMillis;
    for (const source of this.#waitingQueues) {
      for (let head = source.peek(); head !== undefined && head.queuedAt + timeout <= now;) {
        source.shift();
        this.timeouts++;
        head.reject(
          new AcquireTimeoutError(
            now - head.queuedAt,
            this.#counts(),
            this.#lastAcquireError,
            kConnectTimeoutHeadline,
          ),
        );
        head = source.peek();
      }
    }
    this.#armExpiry(now);
    this.#idleWatch?.();
  }

  /** The core's counts, with queries waiting here counted as the waiters they stand for. */
  #counts(): ReturnType<Checkout['counts']> {
    const counts = this.#checkout.counts();
    return {
      ...counts,
      waiting: Math.max(0, counts.waiting - this.#acquiring) + this.waiting,
    };
  }

  #lost(failure: Error, mayHaveRun: boolean, inFlight: number): PgConnectionLostError {
    this.#redactor.error(failure);
    const reason = failure.message;
    const message = !mayHaveRun
      ? `The connection was lost before the query was sent, and again on retry: ${reason}`
      : `The connection was lost with ${inFlight} pipelined ${inFlight === 1 ? 'query' : 'queries'} in flight; this one may have taken effect: ${reason}`;
    return new PgConnectionLostError(message, mayHaveRun, lostFailure(failure), failure);
  }
}

function maxLaneMillis(options: NormalizedOptions): number {
  let millis = kMaxLaneMillis;
  // Given back well within the leak threshold, so a busy lane is never reported as a leak ...
  if (options.leakDetectionMillis > 0) millis = Math.min(millis, options.leakDetectionMillis / 2);
  // ... never reclaimed as one (leakReclaimMillis is at least the detection threshold) ...
  if (options.leakReclaimMillis > 0) millis = Math.min(millis, options.leakReclaimMillis / 2);
  // ... and often enough that no connection outlives maxLifetimeSeconds by much.
  if (options.maxLifetimeMillis > 0) millis = Math.min(millis, options.maxLifetimeMillis / 10);
  return Math.max(kMinLaneMillis, millis);
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function closedError(): Error {
  return new Error('The connection was closed');
}

/**
 * A pipeline lane (the counterpart of undici's `Client`): a connection the dispatcher has
 * borrowed from the core and writes several callers' queries onto, without waiting for each
 * answer. It writes (`send`), corks, keeps its queries in flight in order, checks its head of
 * line, and classifies each answer; what follows from an answer it reports to its owner
 * (`LaneOwner`, lanes.ts).
 *
 * One `state`:
 *
 *   open ──drain()──> draining ──┐
 *    │ ^                 │       ├─ emptied, given back ─> returning ──open()──> open
 *    │ └── (reused) ─────┼───────┘                                (the core lends it again)
 *    └─── its connection breaks (either state) ─> broken   (given back with the failure: final)
 *
 * - open: takes queries;
 * - draining: takes none, and goes back to the core once its last one is answered;
 * - broken: its connection failed; every query still in flight fails as it calls back;
 * - returning: no longer a lane (given back, or waiting for pg to finish before it is).
 *
 * PostgreSQL answers pipelined queries in the order they were written, and runs them one after
 * the other, so the lane keeps its queries in a FIFO: the head is the oldest still in flight,
 * the one every later answer waits behind. The server started on it when it was sent or when
 * the previous answer came, whichever is later: that is its *service start*, all the
 * head-of-line check and the slow-statement detector (slow-statements.ts) need, with no timer
 * per query. A query's send time alone would not do: on a deep lane that is moving, the head
 * may have been sent long ago and still be fast; and a fast query written behind a slow one
 * would look as slow as it.
 */
import type pg from 'pg';

import { FifoQueue } from '../../core/internal.js';
import { isFatalServerError, isPgRefusal, provesNotSent } from '../classify.js';
import type { PgConnection } from '../connection.js';
import { sessionSurvived } from '../outcome.js';
import { sendQuery, type QueryIssuer } from '../prepared/send.js';
import type { CorkBatch } from './cork-batch.js';
import { laneIssuer } from './lane-query.js';
import { corkableSocket, countReads, type Corkable } from './lane-socket.js';
import type { PipelinedQuery } from './query.js';

export type LaneState = 'open' | 'draining' | 'broken' | 'returning';

/** How a query left its lane: answered, failed alone (a SQL error), or lost with the lane. */
export type Answer = 'ok' | 'sql-error' | 'lost';

/** What a lane reports to its owner. */
export interface LaneOwner {
  /** `entry` left `lane` (`lane.finished` has run): settle it, refill, maybe give `lane` back. */
  answered(
    lane: Lane,
    entry: PipelinedQuery,
    answer: Answer,
    error: unknown,
    result: pg.QueryResult | undefined,
  ): void;
  /** The connection under `lane` broke; `lane` was `previous` until now, is `broken` now. */
  broke(lane: Lane, previous: LaneState): void;
  /** The head of `lane` has been in service longer than the threshold since `since`. */
  stuck(head: PipelinedQuery, since: number, now: number): void;
  /** The head of `lane` has had more than `largeResultBytes` of its answer received. */
  large(head: PipelinedQuery): void;
  /** `lane` is `unproven`: may it take nothing behind its head? (One lane at a time may.) */
  holdsBack(lane: Lane): boolean;
}

/** How the head-of-line check reads a lane (see `Lane#blocked`). */
export interface HeadOfLine {
  readonly slowQueryMillis: number;
  /** A head sent this many times `slowQueryMillis` ago blocks the lane too. */
  readonly queuedFactor: number;
  /** A head whose answer has brought in more bytes than this blocks the lane; Infinity: off. */
  readonly largeResultBytes: number;
}

export class Lane {
  readonly connection: PgConnection;
  /** Position in the owner's list of lanes, while open or draining (lanes.ts). */
  index = -1;
  /** Queries written and not yet answered (as far as their callbacks tell). */
  inFlight = 0;
  /** When it became a lane, to give it back now and then under endless load (lanes.ts). */
  since = 0;
  /** Has had two queries in flight at once since it became a lane: it serves concurrent load. */
  shared = false;
  #state: LaneState = 'returning';
  /**
   * What broke it. The first failure wins: a FATAL ErrorResponse says why (57P01 ...), the
   * closed socket that follows says only "Connection terminated".
   */
  #failure: Error | undefined = undefined;
  /** Queries in flight when it broke: a failed write proves "never sent" only for a lone one. */
  #inFlightAtFailure = 0;
  /** When its last answer arrived (performance.now()); -Infinity before the first. */
  #lastAnsweredAt = -Infinity;
  /** The head whose slowness was last reported, so that it is reported once. */
  #reportedHead: PipelinedQuery | undefined = undefined;
  /** The head whose large answer was last reported, so that it is reported once. */
  #reportedLarge: PipelinedQuery | undefined = undefined;
  /** Bytes read since the last answer: the head's so far (give or take one socket read). */
  #received = 0;
  #corked = false;
  /** Inside pg's `client.query()`: see `send`. */
  #sending = false;
  readonly #sent = new FifoQueue<PipelinedQuery>();
  /** The socket, if pg's Client exposes one that can be corked (a mock may not). */
  readonly #stream: Corkable | undefined;
  /**
   * How it hands pg a query: as a `LaneQuery` that reuses row templates (lane-query.ts) when
   * its client takes one, as pg's plain callback call otherwise. Built once per lane.
   */
  readonly #issue: QueryIssuer;
  readonly #owner: LaneOwner;
  readonly #batch: CorkBatch;
  readonly #headOfLine: HeadOfLine;
  readonly #clock = globalThis.performance;
  readonly #onConnectionError = (error: Error): void => this.#break(error, this.inFlight);
  readonly #onData = (chunk: Buffer): number => (this.#received += chunk.length);

  constructor(
    connection: PgConnection,
    owner: LaneOwner,
    batch: CorkBatch,
    headOfLine: HeadOfLine,
  ) {
    this.connection = connection;
    this.#owner = owner;
    this.#batch = batch;
    this.#headOfLine = headOfLine;
    this.#stream = corkableSocket(connection.client);
    this.#issue = laneIssuer(connection.client);
    if (headOfLine.largeResultBytes !== Infinity) countReads(connection.client, this.#onData);
  }

  get state(): LaneState {
    return this.#state;
  }

  /** What broke it, once it is broken. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Makes the connection (just checked out, idle, healthy) a lane: `returning` -> `open`. */
  open(now: number): void {
    this.#state = 'open';
    this.inFlight = 0;
    this.since = now;
    this.shared = false;
    this.#failure = undefined;
    this.#inFlightAtFailure = 0;
    this.#lastAnsweredAt = -Infinity;
    this.#reportedHead = undefined;
    this.#reportedLarge = undefined;
    this.#received = 0;
    this.connection.setPipeline(true);
    this.connection.joinLane(this.#onConnectionError);
  }

  /** `open` -> `draining`: takes no new queries. False when it was not open. */
  drain(): boolean {
    if (this.#state !== 'open') return false;
    this.#state = 'draining';
    return true;
  }

  /** `open` or `draining` -> `returning`: it is no longer a lane (being given back). */
  retire(): void {
    this.#state = 'returning';
    this.#forget();
  }

  /** Writes `entry` onto the connection. Its answer comes back through the owner. */
  send(entry: PipelinedQuery, now: number): void {
    entry.lane = this;
    entry.sentAt = now;
    if (++this.inFlight > 1) this.shared = true;
    this.#sent.push(entry);
    if (!this.#corked && this.#cork()) this.#batch.add(this);
    let threw = false;
    let thrown: unknown;
    this.#sending = true;
    try {
      // pg calls back synchronously, from inside `client.query()`, when a parameter fails to
      // serialize: in the middle of its send loop, before it has queued this query as sent.
      // Sending the next query from there would queue that one ahead of this one, and pg
      // would then hand each the other's answer. So such a callback waits for a microtask.
      // Under a named statement when one applies (prepared/send.ts), through `#issue`.
      sendQuery(this.connection, entry.query, entry.values, this.#callbackFor(entry), this.#issue);
    } catch (error) {
      threw = true;
      thrown = error;
    } finally {
      this.#sending = false;
    }
    // pg throws synchronously only on arguments it cannot use; the connection is fine.
    if (threw) this.#answered(entry, thrown, undefined);
  }

  /**
   * pg's callback for `entry`: the one closure a query costs. Returned anonymous, not bound to
   * a name, because tsx (which the benchmarks run on) wraps every named function in a
   * `__name()` call that cost 1.8% of a query's CPU time here.
   */
  #callbackFor(entry: PipelinedQuery): (error: unknown, result: pg.QueryResult) => void {
    return (error, result) => {
      if (this.#sending) queueMicrotask(() => this.#answered(entry, error, result));
      else this.#answered(entry, error, result);
    };
  }

  /**
   * Whether this lane may take a query now: open, not `depth` deep, not blocked behind a slow
   * head, and its connection still alive as far as this process can tell (a socket destroyed
   * this tick that pg has not reported yet breaks the lane here, before anything more is
   * written to it).
   */
  accepts(now: number, depth: number): boolean {
    if (this.#state !== 'open' || this.inFlight >= depth) return false;
    if (this.inFlight > 0 && this.#blocked(now)) return false;
    if (this.connection.alive) return true;
    this.#break(this.connection.failure ?? closedError(), this.inFlight);
    return false;
  }

  /** Holds back the socket's writes until `uncork()` (see `CorkBatch`). */
  uncork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#stream!.uncork();
  }

  /**
   * Whether a failure of a query on it proves that query never left: pg refused it, or a write
   * failed with it alone in flight.
   */
  neverSent(error: unknown): boolean {
    return provesNotSent(error) && (isPgRefusal(error) || this.#inFlightAtFailure <= 1);
  }

  /** Open, its head a new statement (probation.ts), nothing answered: it may be large. */
  get unproven(): boolean {
    const head = this.#sent.peek();
    return this.#lastAnsweredAt === -Infinity && this.#state === 'open' && head?.pioneer === true;
  }

  /** Queries in flight when it broke. */
  get inFlightAtFailure(): number {
    return this.#inFlightAtFailure;
  }

  /**
   * pg corks around each query's messages itself; this is the outer cork, which its own
   * uncork does not release. False when it did nothing: no socket to cork.
   */
  #cork(): boolean {
    const stream = this.#stream;
    if (stream === undefined) return false;
    stream.cork();
    this.#corked = true;
    return true;
  }

  /**
   * Whether anything written now would wait behind a slow query: the head has been in service
   * longer than the threshold (it is stuck; reported now, not only once it is answered), or
   * was sent more than `queuedFactor` times the threshold ago.
   *
   * The second bound is for slow queries queued one behind the other: when the first ends, the
   * second starts its service and the lane looks fresh, while what is written behind it waits
   * for it too (service time alone, without isolation: 1.1k q/s instead of 13k with 1% slow
   * queries). It is a multiple, not the threshold itself, because a healthy lane at 1000
   * callers is 10-25 ms deep: with the send time alone against 10 ms, lanes kept being skipped
   * and opened, 9 connections instead of 4, and 12% less throughput on 2 cores (same run).
   * A large answer blocks it too, however fast the server made it: past `largeResultBytes`.
   */
  #blocked(now: number): boolean {
    const head = this.#head();
    if (head === undefined) return false;
    if (this.unproven && this.#owner.holdsBack(this)) return true;
    if (this.#received > this.#headOfLine.largeResultBytes) {
      if (this.#reportedLarge !== head) {
        this.#reportedLarge = head;
        this.#owner.large(head);
      }
      return true;
    }
    const threshold = this.#headOfLine.slowQueryMillis;
    const since = this.#serviceStart(head);
    if (now - since > threshold) {
      if (this.#reportedHead !== head) {
        this.#reportedHead = head;
        this.#owner.stuck(head, since, now);
      }
      return true;
    }
    return now - head.sentAt > this.#headOfLine.queuedFactor * threshold;
  }

  /** An answer, or a failure, for `entry`. */
  #answered(entry: PipelinedQuery, error: unknown, result: pg.QueryResult | undefined): void {
    // pg calls back twice for a query whose parameters failed to serialize: once at once,
    // once at its ReadyForQuery. Only the first counts.
    if (entry.lane !== this) return;
    const now = this.#clock.now();
    const since = this.#finished(entry, now);
    let answer: Answer = 'ok';
    if (error !== null && error !== undefined) {
      // A SQL error (or a parameter pg could not send) fails this query alone.
      answer =
        this.#state !== 'broken' && sessionSurvived(this.connection, error) ? 'sql-error' : 'lost';
    }
    entry.answeredAt = now;
    if (answer !== 'lost') entry.serviceStart = since;
    else this.#break(error, this.inFlight + 1);
    this.#owner.answered(this, entry, answer, error, result);
  }

  /**
   * Records that `entry` has left this lane at `now`, and returns its service start: the
   * server spent `now` minus that on it.
   */
  #finished(entry: PipelinedQuery, now: number): number {
    const start = this.#serviceStart(entry);
    // Seen large only now when nothing was dispatched while it came in: learned all the same.
    if (this.#received > this.#headOfLine.largeResultBytes && this.#reportedLarge !== entry) {
      this.#owner.large(entry);
    }
    this.#lastAnsweredAt = now;
    this.#received = 0;
    entry.lane = undefined;
    this.inFlight--;
    this.#trim();
    return start;
  }

  /** The oldest query still in flight, or undefined when none is. */
  #head(): PipelinedQuery | undefined {
    this.#trim();
    return this.#sent.peek();
  }

  /** When the server started on `entry` (see the top of this file). */
  #serviceStart(entry: PipelinedQuery): number {
    const previous = this.#lastAnsweredAt;
    return entry.sentAt > previous ? entry.sentAt : previous;
  }

  /** Idempotent: the first failure is the one reported for every query on the lane. */
  #break(error: unknown, inFlight: number): void {
    const previous = this.#state;
    // Being given back: whenDrained() reports the failure, and pg calls back no query of it.
    if (previous === 'broken' || previous === 'returning') return;
    const connectionFailure = this.connection.failure;
    this.#failure =
      isFatalServerError(error) || connectionFailure === undefined
        ? toError(error)
        : connectionFailure;
    this.#inFlightAtFailure = inFlight;
    this.#state = 'broken';
    this.#forget();
    // pg fails every query still on it (next tick); their callbacks find the lane broken.
    this.#owner.broke(this, previous);
  }

  /** Forgets every query it still references (they have all left it by now, or will fail). */
  #forget(): void {
    this.connection.leaveLane();
    while (this.#sent.shift() !== undefined);
    this.#reportedHead = undefined;
    this.#reportedLarge = undefined;
  }

  /**
   * Answers come in order, so the query leaving is almost always the head: O(1). One that
   * left out of order (pg calls back early on a bind error) is dropped when it reaches the head.
   */
  #trim(): void {
    let head = this.#sent.peek();
    while (head !== undefined && head.lane !== this) {
      this.#sent.shift();
      head = this.#sent.peek();
    }
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

export function closedError(): Error {
  return new Error('The connection was closed');
}

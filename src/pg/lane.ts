/**
 * A pipeline lane: a connection the pipelined dispatcher has borrowed from the core and
 * writes several callers' queries onto, without waiting for each answer. And the query that
 * travels through it.
 *
 * PostgreSQL answers pipelined queries in the order they were written, so the lane keeps its
 * queries in a FIFO: the head is the oldest still in flight, the one every later answer waits
 * behind. Its send time is all the head-of-line check needs, with no timer per query.
 */
import type pg from 'pg';

import { FifoQueue } from '../core/fifo-queue.js';
import type { PgConnection } from './connection.js';
import type { QueryInput, QueryValues } from './dispatch.js';

/** One `pool.query()` on the pipelined path, from dispatch until it settles. */
export class PipelinedQuery {
  readonly query: QueryInput;
  readonly values: QueryValues;
  readonly resolve: (result: pg.QueryResult) => void;
  readonly reject: (error: unknown) => void;
  /** The lane it is in flight on; undefined while it waits, and once it has left the lane. */
  lane: Lane | undefined = undefined;
  /** When it was written (performance.now()), for the head-of-line check. */
  sentAt = 0;
  /** When it started waiting in the dispatcher's queue, for `acquireTimeoutMillis`. */
  queuedAt = 0;
  /** Already dispatched a second time after a failure that proved it was never sent. */
  retried = false;

  constructor(
    query: QueryInput,
    values: QueryValues,
    resolve: (result: pg.QueryResult) => void,
    reject: (error: unknown) => void,
  ) {
    this.query = query;
    this.values = values;
    this.resolve = resolve;
    this.reject = reject;
  }
}

export class Lane {
  readonly connection: PgConnection;
  /** Position in the dispatcher's list of lanes, for O(1) removal; -1 when not a lane. */
  index = -1;
  /** Queries written and not yet answered (as far as their callbacks tell). */
  inFlight = 0;
  /** Takes no new queries; given back to the core once its last one is answered. */
  draining = false;
  /** When it became a lane, to give it back now and then under endless load (see pipeline.ts). */
  since = 0;
  /** Has had two queries in flight at once since it became a lane: it serves concurrent load. */
  shared = false;
  /** A check is scheduled to give it back if it is still empty then (see pipeline.ts). */
  releaseScheduled = false;
  /**
   * What broke it, once something did. The first failure wins: a FATAL ErrorResponse says
   * why (57P01 ...), the closed socket that follows says only "Connection terminated".
   */
  failure: Error | undefined = undefined;
  /** Queries in flight when it broke: a failed write proves "never sent" only for a lone one. */
  inFlightAtFailure = 0;
  /** The dispatcher's reaction to the connection breaking; made once per connection. */
  onFailure: ((error: Error) => void) | undefined = undefined;
  readonly #sent = new FifoQueue<PipelinedQuery>();

  constructor(connection: PgConnection) {
    this.connection = connection;
  }

  /** Makes the connection (just checked out, idle, healthy) a lane. */
  open(now: number): void {
    this.inFlight = 0;
    this.draining = false;
    this.since = now;
    this.shared = false;
    this.failure = undefined;
    this.inFlightAtFailure = 0;
    this.connection.setPipeline(true);
  }

  /** Records a query as written to this lane. */
  push(query: PipelinedQuery, now: number): void {
    query.lane = this;
    query.sentAt = now;
    if (++this.inFlight > 1) this.shared = true;
    this.#sent.push(query);
  }

  /** Records that `query` has left this lane (answered, failed, or moved elsewhere). */
  finished(query: PipelinedQuery): void {
    query.lane = undefined;
    this.inFlight--;
    this.#trim();
  }

  /** Send time of the oldest query still in flight, or undefined when none is. */
  oldestSentAt(): number | undefined {
    this.#trim();
    return this.#sent.peek()?.sentAt;
  }

  /** Forgets every query it still references (they have all left it by now). */
  clear(): void {
    while (this.#sent.shift() !== undefined);
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

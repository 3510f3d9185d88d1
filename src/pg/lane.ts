/**
 * A pipeline lane: a connection the pipelined dispatcher has borrowed from the core and
 * writes several callers' queries onto, without waiting for each answer. And the query that
 * travels through it.
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

import { FifoQueue } from '../core/internal.js';
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
  /** The first run of a new statement (probation.ts): its text, else undefined. */
  pioneer: string | undefined = undefined;
  /** Answered within `pipelineSlowQueryMillis` of service (set before it settles). */
  answeredFast = false;
  /** Its service time on the lane, once answered (NaN until then). */
  serviceMillis = NaN;

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

/** The socket under pg's Client (pg's internals: `client.connection.stream`), for corking. */
interface Corkable {
  cork(): void;
  uncork(): void;
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
  /** When its last answer arrived (performance.now()), 0 before the first. */
  lastAnsweredAt = 0;
  /** The head whose slowness was last reported, so that it is reported once (pipeline.ts). */
  reportedHead: PipelinedQuery | undefined = undefined;
  /** The dispatcher's reaction to the connection breaking; made once per connection. */
  onFailure: ((error: Error) => void) | undefined = undefined;
  /** Corked by `cork()`, until `uncork()`. */
  corked = false;
  readonly #sent = new FifoQueue<PipelinedQuery>();
  /** The socket, if pg's Client exposes one that can be corked (a mock may not). */
  readonly #stream: Corkable | undefined;

  constructor(connection: PgConnection) {
    this.connection = connection;
    const stream = (connection.client as unknown as { connection?: { stream?: Partial<Corkable> } })
      .connection?.stream;
    this.#stream =
      typeof stream?.cork === 'function' && typeof stream.uncork === 'function'
        ? (stream as Corkable)
        : undefined;
  }

  /**
   * Holds back the socket's writes until `uncork()`, so that the queries sent meanwhile leave in
   * one `writev` instead of one each (pg corks around each query's messages itself; this is the
   * outer cork, which its own uncork does not release). Returns false when it did nothing:
   * already corked, or no socket to cork.
   */
  cork(): boolean {
    const stream = this.#stream;
    if (this.corked || stream === undefined) return false;
    stream.cork();
    this.corked = true;
    return true;
  }

  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.#stream!.uncork();
  }

  /** Makes the connection (just checked out, idle, healthy) a lane. */
  open(now: number): void {
    this.inFlight = 0;
    this.draining = false;
    this.since = now;
    this.shared = false;
    this.failure = undefined;
    this.inFlightAtFailure = 0;
    this.lastAnsweredAt = 0;
    this.reportedHead = undefined;
    this.connection.setPipeline(true);
  }

  /** Records a query as written to this lane. */
  push(query: PipelinedQuery, now: number): void {
    query.lane = this;
    query.sentAt = now;
    if (++this.inFlight > 1) this.shared = true;
    this.#sent.push(query);
  }

  /**
   * Records that `query` has left this lane (answered, failed, or moved elsewhere) at `now`,
   * and returns its service start: the server spent `now` minus that on it.
   */
  finished(query: PipelinedQuery, now: number): number {
    const previous = this.lastAnsweredAt;
    const start = query.sentAt > previous ? query.sentAt : previous;
    this.lastAnsweredAt = now;
    query.lane = undefined;
    this.inFlight--;
    this.#trim();
    return start;
  }

  /** The oldest query still in flight, or undefined when none is. */
  head(): PipelinedQuery | undefined {
    this.#trim();
    return this.#sent.peek();
  }

  /** When the server started on `head` (see the top of this file). */
  serviceStart(head: PipelinedQuery): number {
    const previous = this.lastAnsweredAt;
    return head.sentAt > previous ? head.sentAt : previous;
  }

  /** Forgets every query it still references (they have all left it by now). */
  clear(): void {
    while (this.#sent.shift() !== undefined);
    this.reportedHead = undefined;
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

/**
 * Slow statements, run apart from the lanes. A statement the dispatcher has seen hold up a lane
 * (slow-statements.ts) is no longer pipelined: it takes the exclusive path (dispatch.ts), one
 * connection to itself for its duration, exactly as with `pipelineQueries: false`, while the lanes
 * keep serving fast queries that are never written behind it. Its failure semantics are that
 * path's: a SQL error is pg's own, a lost connection a `PgConnectionLostError` (retried once
 * when the query provably never left), a pool that ends fails it with `ERR_POOL_CLOSED`.
 *
 * One difference: its checkouts are taken like a lane's (`Checkout.acquireLane`), not as an
 * exclusive caller's. An exclusive caller that waits makes lanes give their connections back,
 * and no lane is opened while one waits (pipeline.ts); a slow query is not owed that, and the
 * fast queries would pay for it.
 *
 * Slow queries must not take the connections the lanes need either, nor queue in the core's
 * FIFO where a lane being opened would wait behind them. So they wait here, in their own FIFO,
 * and one runs only:
 * - while fewer than `max - 2` run (at least one, but two connections are left for lanes:
 *   `kLaneReserve`), and
 * - when the core can hand out a connection at once; if lanes hold them all, the dispatcher has
 *   one lane give its connection back (never the last, and not while fast queries wait for
 *   room on the lanes: `IsolationHost.roomForIsolated`).
 * Otherwise a slow query waits until one of those frees a connection. If none of them can (no
 * isolated query running, no lane on its way back: `connect()` callers hold the rest), it goes
 * to the exclusive path anyway and queues in the core like any exclusive query, rather than
 * wait for a lane that may never empty.
 *
 * Each isolated run is timed, from the exclusive dispatch to its answer (the connection is
 * free at once, so that is the query's own time, give or take a validation), and feeds the
 * statement's average: once it is fast again, it is pipelined again, and queries still waiting
 * here go back to the lanes.
 */
import pg from 'pg';

import { FifoQueue } from '../core/internal.js';
import type { Checkout } from './checkout.js';
import { PooledDispatcher, type ConnectionSource, type Dispatcher } from './dispatch.js';
import type { PipelinedQuery } from './lane.js';
import type { Redactor } from './redact.js';
import { SlowStatements, statementText } from './slow-statements.js';

/**
 * Connections never taken by isolated queries while lanes may need them: one lane, and one more
 * to open when that lane's head runs long (the head-of-line check), which happens now and then
 * with fast statements too, whenever the server or this process stalls for a moment. With only
 * one in reserve, the second lane waited for a slow query to end.
 */
const kLaneReserve = 2;

/** What isolation needs from the pipelined dispatcher. */
export interface IsolationHost {
  /**
   * Whether the core can hand out a connection at once: `'idle'` an idle one, `'create'`
   * a new one. When lanes hold them all, the dispatcher may start giving one back (then
   * `freeing` is true).
   */
  roomForIsolated(): Room;
  /** A lane is on its way back to the core; its release pumps again. */
  readonly freeing: boolean;
  /** Places a query that is no longer slow on the pipelined path (it does not pump). */
  pipeline(entry: PipelinedQuery): void;
  /** An isolated run ended: the dispatcher pumps (isolated queries, then lanes). */
  isolatedDone(): void;
}

/** What the core can do for an isolated query now: nothing, an idle connection, a new one. */
export type Room = 'none' | 'idle' | 'create';

export class Isolation {
  readonly statements: SlowStatements;
  /** Slow queries waiting to run, oldest first. */
  readonly queue = new FifoQueue<PipelinedQuery>();
  readonly #exclusive: Dispatcher;
  readonly #host: IsolationHost;
  /** At most this many isolated queries at once: `max - kLaneReserve`, at least 1. */
  readonly #limit: number;
  readonly #clock = globalThis.performance;
  #running = 0;

  constructor(
    thresholdMillis: number,
    checkout: Checkout,
    redactor: Redactor,
    host: IsolationHost,
  ) {
    this.statements = new SlowStatements(thresholdMillis);
    this.#limit = Math.max(1, checkout.options.max - kLaneReserve);
    this.#exclusive = new PooledDispatcher(laneCheckouts(checkout), redactor);
    this.#host = host;
  }

  /** Whether `query` (a pipelinable one) is known to be slow. One `Map#size` read when none is. */
  isSlow(query: PipelinedQuery['query']): boolean {
    const statements = this.statements;
    return statements.size !== 0 && statements.isSlow(statementText(query));
  }

  /** Isolated statements running now. */
  get running(): number {
    return this.#running;
  }

  /** Runs what may run now, oldest first. */
  pump(): void {
    const queue = this.queue;
    for (let head = queue.peek(); head !== undefined; head = queue.peek()) {
      if (!this.isSlow(head.query)) {
        queue.shift();
        this.#host.pipeline(head);
        continue;
      }
      if (this.#running >= this.#limit) return; // each run that ends pumps again
      const host = this.#host;
      const room = host.roomForIsolated();
      if (room === 'none' && (this.#running > 0 || host.freeing)) return;
      queue.shift();
      this.#run(head, room === 'idle');
    }
  }

  /**
   * Runs `entry` on the exclusive path. Timed only when an idle connection is there for it:
   * otherwise the time would include opening one (or waiting in the core).
   */
  #run(entry: PipelinedQuery, timed: boolean): void {
    this.#running++;
    const text = statementText(entry.query);
    const startedAt = timed ? this.#clock.now() : NaN;
    this.#exclusive.dispatch(entry.query, entry.values).then(
      (result) => {
        this.#ended(text, startedAt);
        entry.resolve(result);
      },
      (error: unknown) => {
        // Only a statement that ran to an answer says how long it takes; a lost connection or
        // a pool error says nothing about it.
        this.#ended(text, error instanceof pg.DatabaseError ? startedAt : NaN);
        entry.reject(error);
      },
    );
  }

  #ended(text: string, startedAt: number): void {
    this.#running--;
    const millis = this.#clock.now() - startedAt;
    if (!Number.isNaN(millis) && this.statements.observeIsolated(text, millis)) {
      this.#release(text);
    }
    this.#host.isolatedDone();
  }

  /** `text` is fast again: its queries still waiting here go back to the lanes. Rare: O(n). */
  #release(text: string): void {
    const queue = this.queue;
    const kept: PipelinedQuery[] = [];
    for (const entry of queue.drain()) {
      if (statementText(entry.query) === text) this.#host.pipeline(entry);
      else kept.push(entry);
    }
    for (const entry of kept) queue.push(entry);
  }
}

/**
 * Connections for isolated statements, taken as lanes take theirs: no pressure on the lanes,
 * not counted as an exclusive caller (see the top of this file).
 */
function laneCheckouts(checkout: Checkout): ConnectionSource {
  return {
    acquire: () => checkout.acquireLane(),
    release: (connection, error) => checkout.release(connection, error),
  };
}

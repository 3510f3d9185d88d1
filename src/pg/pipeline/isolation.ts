/**
 * Slow statements, run apart from the lanes. A statement the dispatcher has seen hold up a lane
 * (slow-statements.ts) is no longer pipelined: it takes the exclusive path (../dispatch.ts), one
 * connection to itself for its duration, exactly as with `pipelineQueries: false`, while the lanes
 * keep serving fast queries that are never written behind it. Its failure semantics are that
 * path's: a SQL error is pg's own, a lost connection a `PgConnectionLostError` (retried once
 * when the query provably never left), a pool that ends fails it with `ERR_POOL_CLOSED`.
 *
 * One difference: its checkouts are taken like a lane's (`Checkout.acquireLane`), not as an
 * exclusive caller's. An exclusive caller that waits makes lanes give their connections back,
 * and no lane is opened while one waits (lanes.ts); a slow query is not owed that, and the
 * fast queries would pay for it.
 *
 * Slow queries must not take the connections the lanes need either, nor queue in the core's
 * FIFO where a lane being opened would wait behind them. So they wait here, in their own FIFO,
 * and one runs only:
 * - while fewer than `max - 2` run (at least one, but two connections are left for lanes:
 *   `kLaneReserve`), and
 * - when the core can hand out a connection at once; if lanes hold them all, the dispatcher has
 *   one lane give its connection back (never the last, and not while fast queries wait for
 *   room on the lanes: `IsolationHost.lighten`).
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
import type { WaitQueue } from '../../core/internal.js';
import type { Checkout } from '../checkout.js';
import { PooledDispatcher, type ConnectionSource, type Dispatcher } from '../dispatch.js';
import { answeredByServer } from '../outcome.js';
import type { Redactor } from '../redact.js';
import { Band, type PipelinedQuery } from './query.js';
import type { SlowStatements } from './slow-statements.js';

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
   * Lanes hold every connection: have the lightest give its connection back (never the last
   * lane, nor while fast queries wait for room on the lanes, whose need comes first). True
   * when one went back at once; otherwise one may be on its way (`freeing`).
   */
  lighten(): boolean;
  /** A lane is on its way back to the core; its release pumps again. */
  readonly freeing: boolean;
  /** An isolated run ended: the dispatcher pumps (isolated queries, then lanes). */
  isolatedDone(): void;
}

/** What the core can do for an isolated query now: nothing, an idle connection, a new one. */
type Room = 'none' | 'idle' | 'create';

export class Isolation {
  readonly #statements: SlowStatements;
  /** Slow queries wait in its `Band.Isolated`, oldest first. */
  readonly #queue: WaitQueue<PipelinedQuery>;
  readonly #checkout: Checkout;
  readonly #exclusive: Dispatcher;
  readonly #host: IsolationHost;
  /** At most this many isolated queries at once: `max - kLaneReserve`, at least 1. */
  readonly #limit: number;
  readonly #clock = globalThis.performance;
  #running = 0;

  constructor(
    statements: SlowStatements,
    queue: WaitQueue<PipelinedQuery>,
    checkout: Checkout,
    redactor: Redactor,
    host: IsolationHost,
  ) {
    this.#statements = statements;
    this.#queue = queue;
    this.#checkout = checkout;
    this.#limit = Math.max(1, checkout.options.max - kLaneReserve);
    this.#exclusive = new PooledDispatcher(laneCheckouts(checkout), redactor);
    this.#host = host;
  }

  /** Isolated statements running now. */
  get running(): number {
    return this.#running;
  }

  /** Runs what may run now, oldest first; what is no longer slow goes to the lanes. */
  pump(): void {
    const queue = this.#queue;
    for (let head = queue.peek(Band.Isolated); head !== undefined;) {
      if (!this.#statements.isSlow(head.text)) {
        queue.next(Band.Isolated);
        queue.push(head, Band.Lane);
      } else {
        if (this.#running >= this.#limit) return; // each run that ends pumps again
        const room = this.#room();
        if (room === 'none' && (this.#running > 0 || this.#host.freeing)) return;
        queue.next(Band.Isolated);
        this.#run(head, room === 'idle');
      }
      head = queue.peek(Band.Isolated);
    }
  }

  /** Whether the core has a connection for an isolated query at once. */
  #room(): Room {
    const room = coreRoom(this.#checkout);
    if (room !== 'none' || !this.#host.lighten()) return room;
    return coreRoom(this.#checkout);
  }

  /**
   * Runs `entry` on the exclusive path. Timed only when an idle connection is there for it:
   * otherwise the time would include opening one (or waiting in the core).
   */
  #run(entry: PipelinedQuery, timed: boolean): void {
    this.#running++;
    const text = entry.text;
    const startedAt = timed ? this.#clock.now() : NaN;
    this.#exclusive.dispatch(entry.query, entry.values).then(
      (result) => {
        this.#ended(text, startedAt);
        entry.resolve(result);
      },
      (error: unknown) => {
        // Only a statement that ran to an answer says how long it takes; a lost connection or
        // a pool error says nothing about it.
        this.#ended(text, answeredByServer(error) ? startedAt : NaN);
        entry.reject(error);
      },
    );
  }

  #ended(text: string, startedAt: number): void {
    this.#running--;
    const millis = this.#clock.now() - startedAt;
    if (!Number.isNaN(millis) && this.#statements.observeIsolated(text, millis)) {
      // Fast again: its queries still waiting here go back to the lanes. Rare: O(n).
      const queue = this.#queue;
      for (const entry of queue.extract(Band.Isolated, (e) => e.text === text)) {
        queue.push(entry, Band.Lane);
      }
    }
    this.#host.isolatedDone();
  }
}

function coreRoom(checkout: Checkout): Room {
  if (checkout.coreWaiting > 0) return 'none';
  const counts = checkout.counts();
  if (counts.idle > 0) return 'idle';
  return counts.total + counts.pendingCreates < checkout.options.max ? 'create' : 'none';
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

/**
 * The lanes (the counterpart of undici's `PoolBase`): which connections the pipelined path
 * holds, which one takes the next query, when one more is opened, when one goes back to the
 * core, and how they make room for exclusive checkouts.
 *
 * The core stays in charge of every connection. A lane is borrowed from it like any checkout
 * (`Checkout.acquireLane`) and given back as soon as its last query is answered, so `max`,
 * validation, lifetimes, `maxUses`, statistics and `end()` govern lanes as they govern
 * `connect()`.
 *
 * An emptied lane goes back to the core at the end of the current turn of the event loop
 * (one `setImmediate` for all lanes: `#sweep`), unless it has queries again by then. Callers
 * send their next queries a few microtasks after their answers; giving the lane back in
 * between would cost a release, a reset and an acquire per query at one caller (measured:
 * 0.8x pg.Pool's throughput) and per batch at several (one per 12 queries at 10 callers), and
 * leave the server idle in between. It goes back at once when it is draining, or when it only
 * ever had one query at a time and someone waits in the core for a connection. Until then
 * `idleCount` counts it as idle; the core sees it checked out ('release' comes then).
 */
import type { NormalizedOptions } from '../../core/index.js';
import type { Checkout } from '../checkout.js';
import type { PgConnection } from '../connection.js';
import type { PipelineSettings } from '../options.js';
import { CorkBatch } from './cork-batch.js';
import { Lane, type HeadOfLine, type LaneOwner, type LaneState } from './lane.js';

/** What the lanes need from the dispatcher. */
export interface LanesOwner extends Omit<LaneOwner, 'broke' | 'holdsBack'> {
  /** Queries waiting for room on a lane; 0 once the dispatcher is closed. */
  readonly laneDemand: number;
  /** Slow queries waiting to run apart (they want a connection too). */
  readonly isolatedWaiting: number;
  /** A lane opened and may take queries. */
  opened(): void;
  /** A lane could not be opened: `error` from the core, after trying since `startedAt`. */
  notOpened(error: unknown, startedAt: number): void;
  /** A lane went back to the core on its own (emptied). */
  released(): void;
  /** The Client class cannot pipeline: the lane was given back, and none will work. */
  unsupported(): void;
}

export interface LanesSettings extends HeadOfLine {
  /** Queries in flight per lane at most. */
  readonly depth: number;
  /** A lane older than this takes no new queries (`kMaxLaneMillis`). */
  readonly maxLaneMillis: number;
  /** Emptied lanes go back at once, never kept through the turn. */
  readonly retiresAtOnce: boolean;
}

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
/**
 * Below this `idleTimeoutMillis`, emptied lanes go back at once: the user wants idle
 * connections gone at once, so an emptied lane is never kept through the turn (that would
 * delay its idle timeout).
 */
const kKeepLaneMinIdleMillis = 10;

export class Lanes implements LaneOwner {
  readonly #checkout: Checkout;
  readonly #owner: LanesOwner;
  readonly #settings: LanesSettings;
  readonly #clock = globalThis.performance;
  readonly #batch = new CorkBatch();
  /** Open and draining lanes, in no order; each knows its index, for O(1) removal. */
  readonly #list: Lane[] = [];
  /** One Lane object per connection, reused each time the connection becomes a lane. */
  readonly #laneOf = new WeakMap<PgConnection, Lane>();
  /** Lanes taking no new queries, given back when they empty. */
  #draining = 0;
  /**
   * The lane holding back behind its unproven head (`Lane#unproven`), if any: one at a time,
   * so that a burst of new statements (texts with inline values) opens one lane more, not `max`.
   */
  #holdingBack: Lane | undefined = undefined;
  /** Lane checkouts pending in the core's queue. */
  #acquiring = 0;
  /** Why the last lane checkout failed; cleared by the next one that succeeds. */
  #lastAcquireError: unknown = undefined;
  #sweepScheduled = false;
  readonly #sweep = (): void => this.#releaseEmpty();

  constructor(checkout: Checkout, settings: LanesSettings, owner: LanesOwner) {
    this.#checkout = checkout;
    this.#settings = settings;
    this.#owner = owner;
  }

  /** Lanes open or draining. */
  get size(): number {
    return this.#list.length;
  }

  get acquiring(): number {
    return this.#acquiring;
  }

  get lastAcquireError(): unknown {
    return this.#lastAcquireError;
  }

  /** Some lane is on its way back to the core (its release pumps again). */
  get freeing(): boolean {
    return this.#draining > 0;
  }

  /** Emptied lanes kept until the end of this turn: idle, to `idleCount`. */
  get idle(): number {
    let idle = 0;
    for (const lane of this.#list) if (lane.inFlight === 0 && lane.state === 'open') idle++;
    return idle;
  }

  /**
   * The least-loaded lane that may take a query now. A linear scan: lanes number at most
   * `max`, and the scan stops at the first empty one.
   */
  pick(now: number): Lane | undefined {
    const list = this.#list;
    const depth = this.#settings.depth;
    let best: Lane | undefined;
    for (let i = 0; i < list.length; i++) {
      const lane = list[i]!;
      const inFlight = lane.inFlight;
      if (lane.state !== 'open' || inFlight >= depth) continue;
      if (best !== undefined && inFlight >= best.inFlight) continue;
      if (now - lane.since > this.#settings.maxLaneMillis) {
        this.#drain(lane);
        continue;
      }
      if (!lane.accepts(now, depth)) {
        if (list[i] !== lane) return this.pick(now); // it broke: the list changed
        continue;
      }
      best = lane;
      if (inFlight === 0) break;
    }
    return best;
  }

  /**
   * One more lane for every `depth` waiting queries, up to `max` connections in all. While
   * exclusive callers wait, at most one lane (so that queries keep moving, in the core's FIFO
   * order behind them).
   */
  grow(waiting: number): void {
    const lanes = this.#list.length;
    let wanted = Math.ceil(waiting / this.#settings.depth);
    if (this.#checkout.exclusiveWaiting > 0) wanted = lanes + this.#acquiring === 0 ? 1 : 0;
    const max = this.#checkout.options.max;
    while (this.#acquiring < wanted && lanes + this.#acquiring < max) this.#open();
  }

  /** `lane` has just had a query answered: if it is empty now, keep it for the turn or not. */
  emptied(lane: Lane): void {
    if (lane.inFlight !== 0 || (lane.state !== 'open' && lane.state !== 'draining')) return;
    if (!this.#mayKeep(lane)) {
      this.#releaseNow(lane);
    } else if (!this.#sweepScheduled) {
      this.#sweepScheduled = true;
      setImmediate(this.#sweep).unref(); // like every pool timer: never keeps the process alive
    }
  }

  /** The pool is ending: every lane drains; the empty ones go back now. */
  drainAll(): void {
    for (const lane of [...this.#list]) this.#drainOrRelease(lane);
  }

  /**
   * An exclusive caller must wait: every connection is checked out. Lanes would otherwise
   * keep theirs for as long as the load lasts, so one lane per waiting caller stops taking
   * queries (the least loaded, which empties soonest) and goes back when it empties.
   */
  yieldToExclusive(): void {
    for (let n = this.#checkout.exclusiveWaiting - this.#draining; n > 0; n--) {
      const lightest = this.#lightest();
      if (lightest === undefined) return;
      this.#drainOrRelease(lightest);
    }
  }

  /**
   * Frees a connection for a slow query to run apart: the lightest lane stops taking queries
   * and goes back when it empties; never the last lane, nor while one is already on its way.
   * True when one went back at once.
   */
  lighten(): boolean {
    if (this.#draining > 0 || this.#list.length < 2) return false;
    return this.#drainOrRelease(this.#lightest()!);
  }

  // --- LaneOwner ---------------------------------------------------------------------------

  answered: LaneOwner['answered'] = (lane, entry, answer, error, result) =>
    this.#owner.answered(lane, entry, answer, error, result);

  stuck: LaneOwner['stuck'] = (head, since, now) => this.#owner.stuck(head, since, now);

  large: LaneOwner['large'] = (head) => this.#owner.large(head);

  holdsBack(lane: Lane): boolean {
    const holding = this.#holdingBack;
    if (holding !== undefined && holding !== lane && holding.unproven) return false;
    this.#holdingBack = lane;
    return true;
  }

  broke(lane: Lane, previous: LaneState): void {
    this.#unlist(lane, previous);
    this.#checkout.release(lane.connection, lane.failure);
  }

  // --- coming and going --------------------------------------------------------------------

  #open(): void {
    this.#acquiring++;
    const startedAt = this.#clock.now();
    this.#checkout.acquireLane().then(
      (connection) => this.#opened(connection),
      (error: unknown) => {
        this.#acquiring--;
        this.#lastAcquireError = error;
        this.#owner.notOpened(error, startedAt);
      },
    );
  }

  #opened(connection: PgConnection): void {
    this.#acquiring--;
    this.#lastAcquireError = undefined;
    const checkout = this.#checkout;
    if (this.#owner.laneDemand === 0 || (checkout.exclusiveWaiting > 0 && this.#list.length > 0)) {
      // Not needed after all, or an exclusive caller is owed it: the core hands it on.
      checkout.release(connection);
      this.#owner.released();
      return;
    }
    if (!connection.supportsPipeline) {
      checkout.release(connection);
      this.#owner.unsupported();
      return;
    }
    let lane = this.#laneOf.get(connection);
    if (lane === undefined) {
      lane = new Lane(connection, this, this.#batch, this.#settings);
      this.#laneOf.set(connection, lane);
    }
    lane.open(this.#clock.now());
    lane.index = this.#list.length;
    this.#list.push(lane);
    this.#owner.opened();
  }

  /**
   * An emptied lane may be kept until the end of this turn (see the top of this file). Not
   * while someone else waits for a connection: a draining lane goes back at once, and so does
   * an unshared one (one query at a time, the exclusive path's pattern) when an exclusive
   * caller or another lane is waiting in the core.
   */
  #mayKeep(lane: Lane): boolean {
    if (lane.state === 'draining' || this.#settings.retiresAtOnce) return false;
    // Slow queries wait for a connection, and another lane carries on.
    if (this.#owner.isolatedWaiting > 0 && this.#list.length > 1) return false;
    if (lane.shared) return true;
    const checkout = this.#checkout;
    return checkout.exclusiveWaiting === 0 && checkout.coreWaiting <= this.#acquiring;
  }

  /** The end of the turn: the lanes still empty go back. */
  #releaseEmpty(): void {
    this.#sweepScheduled = false;
    let released = false;
    for (const lane of [...this.#list]) {
      if (lane.inFlight === 0 && lane.state === 'open') {
        this.#release(lane);
        released = true;
      }
    }
    if (released) this.#owner.released();
  }

  #releaseNow(lane: Lane): void {
    this.#release(lane);
    this.#owner.released();
  }

  /** Drains `lane`; gives it back at once if it is empty (then true). */
  #drainOrRelease(lane: Lane): boolean {
    this.#drain(lane);
    if (lane.inFlight !== 0) return false;
    this.#release(lane);
    return true;
  }

  #drain(lane: Lane): void {
    if (lane.drain()) this.#draining++;
  }

  /** Gives an empty lane back. pg's pipeline flag goes off first: no exclusive user sees it. */
  #release(lane: Lane): void {
    this.#unlist(lane, lane.state);
    lane.retire();
    const connection = lane.connection;
    const checkout = this.#checkout;
    if (!connection.busy) {
      connection.restorePipeline();
      checkout.release(connection);
      return;
    }
    // pg still runs a query it already called back for (parameters that failed to serialize,
    // a client-side query_timeout): switching modes now would confuse its queues.
    connection.whenDrained().then(
      () => {
        connection.restorePipeline();
        checkout.release(connection);
      },
      (error: unknown) => checkout.release(connection, error ?? closedConnection()),
    );
  }

  /** Takes `lane`, which was `state` until now, off the list. */
  #unlist(lane: Lane, state: LaneState): void {
    const list = this.#list;
    const last = list.pop()!;
    if (last !== lane) {
      list[lane.index] = last;
      last.index = lane.index;
    }
    lane.index = -1;
    if (state === 'draining') this.#draining--;
  }

  /** The open lane with the fewest queries in flight. */
  #lightest(): Lane | undefined {
    let lightest: Lane | undefined;
    for (const lane of this.#list) {
      if (lane.state !== 'open') continue;
      if (lightest === undefined || lane.inFlight < lightest.inFlight) lightest = lane;
    }
    return lightest;
  }
}

function closedConnection(): Error {
  return new Error('The connection was closed');
}

/** The lanes' settings, from the pool's. */
export function lanesSettings(
  settings: PipelineSettings,
  options: NormalizedOptions,
): LanesSettings {
  const idleTimeout = options.idleTimeoutMillis;
  return {
    depth: settings.depth,
    slowQueryMillis: settings.slowQueryMillis,
    queuedFactor: kQueuedFactor,
    largeResultBytes: settings.largeResultBytes > 0 ? settings.largeResultBytes : Infinity,
    maxLaneMillis: maxLaneMillis(options),
    retiresAtOnce: idleTimeout > 0 && idleTimeout < kKeepLaneMinIdleMillis,
  };
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

import { timerDelay, type Clock } from './clock.js';
import { QueueFullError } from './errors.js';
import { FifoQueue } from './fifo-queue.js';
import { OverloadControl } from './overload.js';

/**
 * Everything that waits, and everything about waiting: the FIFO, `maxWaiting`, the one timer
 * that times waiters out, overload shedding, and the timeout, shed and queue-full counters.
 * The core pool keeps its callers here (one band); the pipelined `pool.query()` of
 * `lifeguard/pg` keeps its queries here (several bands, see below). Neither has queue
 * machinery of its own.
 *
 * Waiters share one timeout and join each band in order, so the heads carry the earliest
 * deadlines: one timer armed for the oldest head covers them all. When it fires it expires
 * every head past its deadline and re-arms for the next one, so no push, serve or release
 * ever sets or clears a timer. A head that left early leaves the timer armed for a deadline
 * that is now nobody's; it fires once for nothing and re-arms.
 *
 * Bands: a waiter waits in one of `bands` FIFOs, which share `maxWaiting` (on the total), the
 * timer and the counters. Which band the owner serves first is the owner's business. Band 0
 * is the one overload control watches: `serve()` sheds from it, and it counts as busy from
 * the moment it holds a waiter until it holds none.
 *
 * Waiters that gave up (`settled`) are only flagged: they are dropped when they reach a head
 * (no O(n) removal); `cancel()` takes them out of the count at once.
 *
 * Overload control (overload.ts): while band 0 stands, `serve()` sheds the heads that waited
 * too long instead of handing them to the owner.
 */
export interface Waiter {
  /** Monotonic time it joined; its deadline is this plus the queue's timeout. */
  readonly enqueuedAt: number;
  /** Settled elsewhere (given up): skipped, and dropped once it reaches a head. */
  readonly settled?: boolean;
}

export interface WaitQueueOptions {
  /** How long a waiter may wait; Infinity for ever. */
  readonly acquireTimeoutMillis: number;
  /** How many may wait at once (all bands together). */
  readonly maxWaiting: number;
  /** Overload control (overload.ts): 0 turns shedding off. */
  readonly overloadTargetMillis: number;
  readonly overloadIntervalMillis: number;
}

/** The owner's part: each handler must settle the waiter it is given. */
export interface WaitQueueEvents<W> {
  /** `waiter` waited past the timeout. Still counted in `size`, so counts include it. */
  expired(waiter: W, now: number): void;
  /** `serve()` shed `waiter` as overload; band 0 has been busy for `busyFor` ms. */
  shed(waiter: W, now: number, busyFor: number): void;
  /** The timer has expired what it had to (after the `expired` calls). */
  afterExpiry?(): void;
}

/** The cumulative counters the queue bumps: its own, or the owner's statistics. */
export interface WaitCounters {
  timeouts: number;
  shed: number;
  rejectedQueueFull: number;
}

export class WaitQueue<W extends Waiter> {
  private readonly _bands: FifoQueue<W>[] = [];
  /** Live waiters per band, and in all. */
  private readonly _live: number[] = [];
  /** `_bands[0]`, the band the core pool uses, without the lookup. */
  private readonly _band0: FifoQueue<W>;
  private _total = 0;
  private _timer: NodeJS.Timeout | undefined;
  private readonly _timeoutMillis: number;
  private readonly _maxWaiting: number;
  private readonly _now: Clock;
  private readonly _events: WaitQueueEvents<W>;
  private readonly _overload: OverloadControl;
  private readonly _expire = (): void => this._expireHeads();
  readonly counters: WaitCounters;

  constructor(
    options: WaitQueueOptions,
    now: Clock,
    events: WaitQueueEvents<W>,
    counters: WaitCounters = { timeouts: 0, shed: 0, rejectedQueueFull: 0 },
    bands = 1,
  ) {
    this._timeoutMillis = options.acquireTimeoutMillis;
    this._maxWaiting = options.maxWaiting;
    this._now = now;
    this._events = events;
    this._overload = new OverloadControl(
      options.overloadTargetMillis,
      options.overloadIntervalMillis,
    );
    this.counters = counters;
    for (let band = 0; band < bands; band++) {
      this._bands.push(new FifoQueue<W>());
      this._live.push(0);
    }
    this._band0 = this._bands[0]!;
  }

  /** Waiters still waiting, in all bands (not those that gave up but are still queued). */
  get size(): number {
    return this._total;
  }

  /** Waiters still waiting in `band`. */
  sizeOf(band: number): number {
    return this._live[band]!;
  }

  /**
   * The refusal for one more waiter when `maxWaiting` already wait (counted as such), or
   * undefined when there is room.
   */
  full(): QueueFullError | undefined {
    if (this._total < this._maxWaiting) return undefined;
    this.counters.rejectedQueueFull++;
    return new QueueFullError(this._maxWaiting);
  }

  /** Adds `waiter` at the tail of `band`; its deadline runs from its `enqueuedAt`. */
  push(waiter: W, band = 0): void {
    this._bands[band]!.push(waiter);
    this._total++;
    if (this._live[band]!++ === 0 && band === 0) this._overload.becameBusy(waiter.enqueuedAt);
    if (this._timer === undefined) this._arm();
  }

  /** The oldest waiter of `band` still waiting, left in place. */
  peek(band = 0): W | undefined {
    const queue = this._bands[band]!;
    let head = queue.peek();
    while (head !== undefined && head.settled === true) {
      queue.shift();
      head = queue.peek();
    }
    return head;
  }

  /** Removes and returns the oldest waiter of `band` still waiting. */
  next(band = 0): W | undefined {
    const queue = this._bands[band]!;
    for (let waiter = queue.shift(); waiter !== undefined; waiter = queue.shift()) {
      if (waiter.settled !== true) {
        this._uncount(band);
        return waiter;
      }
    }
    return undefined;
  }

  /** `next(0)`, on the hot path of every hand-out: no band lookup, small enough to inline. */
  private _nextOfBand0(): W | undefined {
    const queue = this._band0;
    for (let waiter = queue.shift(); waiter !== undefined; waiter = queue.shift()) {
      if (waiter.settled !== true) {
        this._uncount(0);
        return waiter;
      }
    }
    return undefined;
  }

  /**
   * The oldest waiter of band 0 to serve at `t`: like `next()`, but while the band is
   * overloaded, heads that waited longer than the target are shed (through `events.shed`)
   * and the next one is tried.
   */
  serve(t: number): W | undefined {
    // Small, so that it inlines into the pool's release path; shedding is out of line.
    return this._overload.enabled ? this._serveShedding(t) : this._nextOfBand0();
  }

  private _serveShedding(t: number): W | undefined {
    const overload = this._overload;
    for (;;) {
      // Measured before `next()`, which may empty the band and reset its clock.
      const busyFor = overload.busyFor(t);
      const waiter = this.next();
      if (waiter === undefined || !overload.shouldShed(t - waiter.enqueuedAt, busyFor)) {
        return waiter;
      }
      this.counters.shed++;
      this._events.shed(waiter, t, busyFor);
    }
  }

  /**
   * Takes `waiter`, about to be flagged `settled` by its owner, out of the count at once.
   * False if it already is settled.
   */
  cancel(waiter: W, band = 0): boolean {
    if (waiter.settled === true) return false;
    this._uncount(band);
    return true;
  }

  /**
   * Removes and yields the waiters of `band` that joined at or before `until` (all by
   * default), oldest first, stopping at the first younger head. Not for the hot path.
   */
  *drain(band = 0, until = Infinity): Generator<W> {
    for (let head = this.peek(band); head !== undefined && head.enqueuedAt <= until;) {
      this.next(band);
      yield head;
      head = this.peek(band);
    }
  }

  /** Removes the waiters of `band` that match, keeping the others in order. Rare: O(n). */
  extract(band: number, matches: (waiter: W) => boolean): W[] {
    const queue = this._bands[band]!;
    const taken: W[] = [];
    if (this._live[band] === 0) return taken;
    const kept: W[] = [];
    for (const waiter of queue.drain()) {
      if (waiter.settled === true) continue;
      if (matches(waiter)) taken.push(waiter);
      else kept.push(waiter);
    }
    for (const waiter of kept) queue.push(waiter);
    for (let i = 0; i < taken.length; i++) this._uncount(band);
    return taken;
  }

  /** Stops the timer; the owner then drains what still waits. */
  close(): void {
    clearTimeout(this._timer);
    this._timer = undefined;
  }

  private _uncount(band: number): void {
    this._total--;
    if (--this._live[band]! === 0 && band === 0) this._overload.becameEmpty();
  }

  /** Arms the timer for the oldest head's deadline, if it is not armed and anyone waits. */
  private _arm(): void {
    if (this._timer !== undefined || this._timeoutMillis === Infinity) return;
    let oldest = Infinity;
    for (let band = 0; band < this._bands.length; band++) {
      const enqueuedAt = this.peek(band)?.enqueuedAt;
      if (enqueuedAt !== undefined && enqueuedAt < oldest) oldest = enqueuedAt;
    }
    if (oldest === Infinity) return;
    this._timer = setTimeout(this._expire, timerDelay(oldest + this._timeoutMillis - this._now()));
    this._timer.unref();
  }

  private _expireHeads(): void {
    this._timer = undefined;
    const t = this._now();
    const timeout = this._timeoutMillis;
    for (let band = 0; band < this._bands.length; band++) {
      const queue = this._bands[band]!;
      for (let head = this.peek(band); head !== undefined && head.enqueuedAt + timeout <= t;) {
        queue.shift();
        this.counters.timeouts++;
        // Reported before it is uncounted, so that the timeout's counts include it.
        this._events.expired(head, t);
        this._uncount(band);
        head = this.peek(band);
      }
    }
    this._arm();
    this._events.afterExpiry?.();
  }
}

import { timerDelay, type Clock } from './clock.js';
import { FifoQueue } from './fifo-queue.js';
import type { OverloadControl } from './overload.js';
import { PendingAcquire } from './pending-acquire.js';

/**
 * The callers waiting for a resource, oldest first, and the one timer that times them out.
 *
 * Waiters share one acquire timeout and join in order, so their deadlines are in queue order
 * too: a single timer armed for the head covers them all. When it fires it expires every head
 * past its deadline and re-arms for the next one, so no acquire or release ever sets or
 * clears a timer.
 *
 * Waiters that give up (abort) are only flagged; they are dropped when they reach the head.
 *
 * With overload control on, `serve()` sheds the heads that waited too long while the queue
 * stands (overload.ts) instead of handing them a resource.
 */
export class WaiterQueue<T> {
  private readonly _queue = new FifoQueue<PendingAcquire<T>>();
  private _live = 0;
  private _timer: NodeJS.Timeout | undefined;
  private readonly _timeoutMillis: number;
  private readonly _now: Clock;
  private readonly _onExpired: (waiter: PendingAcquire<T>, now: number) => void;
  private readonly _overload: OverloadControl;
  private readonly _onShed: (waiter: PendingAcquire<T>, now: number, busyFor: number) => void;

  constructor(
    timeoutMillis: number,
    now: Clock,
    onExpired: (waiter: PendingAcquire<T>, now: number) => void,
    overload: OverloadControl,
    onShed: (waiter: PendingAcquire<T>, now: number, busyFor: number) => void,
  ) {
    this._timeoutMillis = timeoutMillis;
    this._now = now;
    this._onExpired = onExpired;
    this._overload = overload;
    this._onShed = onShed;
  }

  /** Callers still waiting (not counting those that gave up but are still queued). */
  get size(): number {
    return this._live;
  }

  enqueue(t: number, stack: string | undefined): PendingAcquire<T> {
    const waiter = new PendingAcquire<T>(t, stack);
    this._queue.push(waiter);
    if (this._live++ === 0) this._overload.becameBusy(t);
    if (this._timer === undefined) this._armTimer();
    return waiter;
  }

  /** Removes and returns the oldest caller still waiting. */
  next(): PendingAcquire<T> | undefined {
    for (let waiter = this._queue.shift(); waiter !== undefined; waiter = this._queue.shift()) {
      if (!waiter.settled) {
        if (--this._live === 0) this._overload.becameEmpty();
        return waiter;
      }
    }
    return undefined;
  }

  /**
   * The oldest caller to hand a resource to at `t`: like `next()`, but while the queue is
   * overloaded, heads that waited longer than the target are shed (reported through `onShed`,
   * which must settle them) and the next one is tried.
   */
  serve(t: number): PendingAcquire<T> | undefined {
    const overload = this._overload;
    if (!overload.enabled) return this.next();
    for (;;) {
      // Measured before `next()`, which may empty the queue and reset the clock.
      const busyFor = overload.busyFor(t);
      const waiter = this.next();
      if (waiter === undefined || !overload.shouldShed(t - waiter.enqueuedAt, busyFor)) {
        return waiter;
      }
      this._onShed(waiter, t, busyFor);
    }
  }

  /** Takes a waiter out of the count before its owner rejects it; false if already settled. */
  cancel(waiter: PendingAcquire<T>): boolean {
    if (waiter.settled) return false;
    if (--this._live === 0) this._overload.becameEmpty();
    return true;
  }

  /** Stops the timer; `end()` then drains the queue with `next()`. */
  close(): void {
    clearTimeout(this._timer);
    this._timer = undefined;
  }

  private _armTimer(): void {
    if (this._timeoutMillis === Infinity) return;
    const head = this._peekLive();
    if (head === undefined) return;
    const delay = timerDelay(head.enqueuedAt + this._timeoutMillis - this._now());
    this._timer = setTimeout(() => this._expire(), delay);
    this._timer.unref();
  }

  private _expire(): void {
    this._timer = undefined;
    const t = this._now();
    for (
      let head = this._peekLive();
      head !== undefined && head.enqueuedAt + this._timeoutMillis <= t;
      head = this._peekLive()
    ) {
      this._queue.shift();
      // Report before uncounting, so the timeout's counts include the caller that timed out.
      this._onExpired(head, t);
      if (--this._live === 0) this._overload.becameEmpty();
    }
    this._armTimer();
  }

  private _peekLive(): PendingAcquire<T> | undefined {
    let head = this._queue.peek();
    while (head !== undefined && head.settled) {
      this._queue.shift();
      head = this._queue.peek();
    }
    return head;
  }
}

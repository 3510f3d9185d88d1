import { timerDelay, type Clock } from './clock.js';
import { FifoQueue } from './fifo-queue.js';
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
 */
export class WaiterQueue<T> {
  private readonly _queue = new FifoQueue<PendingAcquire<T>>();
  private _live = 0;
  private _timer: NodeJS.Timeout | undefined;
  private readonly _timeoutMillis: number;
  private readonly _now: Clock;
  private readonly _onExpired: (waiter: PendingAcquire<T>, now: number) => void;

  constructor(
    timeoutMillis: number,
    now: Clock,
    onExpired: (waiter: PendingAcquire<T>, now: number) => void,
  ) {
    this._timeoutMillis = timeoutMillis;
    this._now = now;
    this._onExpired = onExpired;
  }

  /** Callers still waiting (not counting those that gave up but are still queued). */
  get size(): number {
    return this._live;
  }

  enqueue(t: number, stack: string | undefined): PendingAcquire<T> {
    const waiter = new PendingAcquire<T>(t, this._timeoutMillis, stack);
    this._queue.push(waiter);
    this._live++;
    if (this._timer === undefined) this._armTimer();
    return waiter;
  }

  /** Removes and returns the oldest caller still waiting. */
  next(): PendingAcquire<T> | undefined {
    for (let waiter = this._queue.shift(); waiter !== undefined; waiter = this._queue.shift()) {
      if (!waiter.settled) {
        this._live--;
        return waiter;
      }
    }
    return undefined;
  }

  /** Takes a waiter out of the count before its owner rejects it; false if already settled. */
  cancel(waiter: PendingAcquire<T>): boolean {
    if (waiter.settled) return false;
    this._live--;
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
    const delay = timerDelay(head.deadline - this._now());
    this._timer = setTimeout(() => this._expire(), delay);
    this._timer.unref();
  }

  private _expire(): void {
    this._timer = undefined;
    const t = this._now();
    for (
      let head = this._peekLive();
      head !== undefined && head.deadline <= t;
      head = this._peekLive()
    ) {
      this._queue.shift();
      // Report before uncounting, so the timeout's counts include the caller that timed out.
      this._onExpired(head, t);
      this._live--;
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

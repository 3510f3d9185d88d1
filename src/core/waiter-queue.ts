import type { Clock } from './clock.js';
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
  readonly #queue = new FifoQueue<PendingAcquire<T>>();
  #live = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #timeoutMillis: number;
  readonly #now: Clock;
  readonly #onExpired: (waiter: PendingAcquire<T>, now: number) => void;

  constructor(
    timeoutMillis: number,
    now: Clock,
    onExpired: (waiter: PendingAcquire<T>, now: number) => void,
  ) {
    this.#timeoutMillis = timeoutMillis;
    this.#now = now;
    this.#onExpired = onExpired;
  }

  /** Callers still waiting (not counting those that gave up but are still queued). */
  get size(): number {
    return this.#live;
  }

  enqueue(t: number, stack: string | undefined): PendingAcquire<T> {
    const waiter = new PendingAcquire<T>(t, this.#timeoutMillis, stack);
    this.#queue.push(waiter);
    this.#live++;
    if (this.#timer === undefined) this.#armTimer();
    return waiter;
  }

  /** Removes and returns the oldest caller still waiting. */
  next(): PendingAcquire<T> | undefined {
    for (let waiter = this.#queue.shift(); waiter !== undefined; waiter = this.#queue.shift()) {
      if (!waiter.settled) {
        this.#live--;
        return waiter;
      }
    }
    return undefined;
  }

  /** Takes a waiter out of the count before its owner rejects it; false if already settled. */
  cancel(waiter: PendingAcquire<T>): boolean {
    if (waiter.settled) return false;
    this.#live--;
    return true;
  }

  /** Stops the timer; `end()` then drains the queue with `next()`. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #armTimer(): void {
    if (this.#timeoutMillis === Infinity) return;
    const head = this.#peekLive();
    if (head === undefined) return;
    const delay = Math.min(2_147_483_647, Math.max(1, Math.ceil(head.deadline - this.#now())));
    this.#timer = setTimeout(() => this.#expire(), delay);
    this.#timer.unref();
  }

  #expire(): void {
    this.#timer = undefined;
    const t = this.#now();
    for (
      let head = this.#peekLive();
      head !== undefined && head.deadline <= t;
      head = this.#peekLive()
    ) {
      this.#queue.shift();
      // Report before uncounting, so the timeout's counts include the caller that timed out.
      this.#onExpired(head, t);
      this.#live--;
    }
    this.#armTimer();
  }

  #peekLive(): PendingAcquire<T> | undefined {
    let head = this.#queue.peek();
    while (head !== undefined && head.settled) {
      this.#queue.shift();
      head = this.#queue.peek();
    }
    return head;
  }
}

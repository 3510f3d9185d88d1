import type { PoolError } from './errors.js';

/**
 * One caller waiting in the queue. It owns its promise's settle functions and its abort
 * listener; `settled` makes every settle after the first a no-op, so a waiter that times out,
 * is aborted and is then handed a resource can never resolve twice.
 *
 * Cancelled waiters stay in the FIFO queue, flagged, and are skipped when they reach the head
 * (no O(n) removal from the middle of the queue).
 */
export class PendingAcquire<T> {
  settled = false;
  readonly promise: Promise<T>;
  /** Monotonic time it joined the queue; its deadline is this plus the queue's timeout. */
  readonly enqueuedAt: number;
  private _resolve!: (value: T) => void;
  private _reject!: (reason: unknown) => void;
  /** The caller's signal and our listener on it; one object, made only when there is one. */
  private _abort: { signal: AbortSignal; listener: () => void } | undefined = undefined;

  constructor(
    enqueuedAt: number,
    /** The caller's stack, kept only when leak detection is on. */
    readonly stack: string | undefined,
  ) {
    this.enqueuedAt = enqueuedAt;
    // The executor stores the settle functions on the waiter directly (measured: cheaper than
    // locals copied afterwards, and than one shared executor writing module-level slots).
    this.promise = new Promise<T>((resolve, reject) => {
      this._resolve = resolve;
      this._reject = reject;
    });
  }

  watch(signal: AbortSignal, onAbort: () => void): void {
    this._abort = { signal, listener: onAbort };
    signal.addEventListener('abort', onAbort, { once: true });
  }

  resolve(value: T): void {
    this.settled = true;
    if (this._abort !== undefined) this._unwatch();
    this._resolve(value);
  }

  reject(error: PoolError): void {
    this.settled = true;
    this._unwatch();
    this._reject(error);
  }

  private _unwatch(): void {
    const abort = this._abort;
    if (abort !== undefined) {
      abort.signal.removeEventListener('abort', abort.listener);
      this._abort = undefined;
    }
  }
}

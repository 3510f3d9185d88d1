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
  readonly enqueuedAt: number;
  /** Monotonic time after which the acquire times out (Infinity: never). */
  readonly deadline: number;
  #resolve!: (value: T) => void;
  #reject!: (reason: unknown) => void;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;

  constructor(
    enqueuedAt: number,
    timeoutMillis: number,
    /** The caller's stack, kept only when leak detection is on. */
    readonly stack: string | undefined,
  ) {
    this.enqueuedAt = enqueuedAt;
    this.deadline = enqueuedAt + timeoutMillis;
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  watch(signal: AbortSignal, onAbort: () => void): void {
    this.#signal = signal;
    this.#onAbort = onAbort;
    signal.addEventListener('abort', onAbort, { once: true });
  }

  resolve(value: T): void {
    this.settled = true;
    if (this.#signal !== undefined) this.#unwatch();
    this.#resolve(value);
  }

  reject(error: PoolError): void {
    this.settled = true;
    this.#unwatch();
    this.#reject(error);
  }

  #unwatch(): void {
    if (this.#signal !== undefined) {
      this.#signal.removeEventListener('abort', this.#onAbort!);
      this.#signal = undefined;
      this.#onAbort = undefined;
    }
  }
}

import type { PoolError } from './errors.js';

let capturedResolve: ((value: never) => void) | undefined;
let capturedReject: ((reason: unknown) => void) | undefined;

function captureSettlers(resolve: (value: never) => void, reject: (reason: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

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
  private readonly _resolve: (value: T) => void;
  private readonly _reject: (reason: unknown) => void;
  private _signal: AbortSignal | undefined;
  private _onAbort: (() => void) | undefined;

  constructor(
    enqueuedAt: number,
    timeoutMillis: number,
    /** The caller's stack, kept only when leak detection is on. */
    readonly stack: string | undefined,
  ) {
    this.enqueuedAt = enqueuedAt;
    this.deadline = enqueuedAt + timeoutMillis;
    // One shared executor instead of a closure per waiter: it runs synchronously inside the
    // constructor, so the module-level slots are read back before anything else can run.
    this.promise = new Promise<T>(captureSettlers);
    this._resolve = capturedResolve as (value: T) => void;
    this._reject = capturedReject!;
  }

  watch(signal: AbortSignal, onAbort: () => void): void {
    this._signal = signal;
    this._onAbort = onAbort;
    signal.addEventListener('abort', onAbort, { once: true });
  }

  resolve(value: T): void {
    this.settled = true;
    if (this._signal !== undefined) this._unwatch();
    this._resolve(value);
  }

  reject(error: PoolError): void {
    this.settled = true;
    this._unwatch();
    this._reject(error);
  }

  private _unwatch(): void {
    if (this._signal !== undefined) {
      this._signal.removeEventListener('abort', this._onAbort!);
      this._signal = undefined;
      this._onAbort = undefined;
    }
  }
}

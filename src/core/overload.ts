/**
 * Queue management in the style of CoDel (Nichols and Jacobson), as Facebook applies it to
 * request queues: a queue that empties now and then is only absorbing bursts, and waiting in
 * it is fine; a queue that has not emptied for a whole `interval` is standing, the pool is
 * overloaded, and every caller served late is a caller whose own client has likely given up.
 * Then callers who have waited longer than the short `target` are shed, oldest first, so the
 * ones still served get their answer within about `target` of arriving.
 *
 * The decision is taken when a resource is about to be handed to the oldest waiter, so it
 * costs no timer and nothing at all while the queue is empty or shedding is off. The queue's
 * ordinary `acquireTimeoutMillis` still bounds every wait.
 */
export class OverloadControl {
  /** Monotonic time the queue last went from empty to non-empty; Infinity while empty. */
  private _busySince = Infinity;

  /** Shedding is on (a plain field: it is read on every hand-out). */
  readonly enabled: boolean;

  constructor(
    /** Waiters older than this are shed while overloaded; 0 turns shedding off. */
    readonly targetMillis: number,
    /** How long the queue must stay non-empty before the pool counts as overloaded. */
    readonly intervalMillis: number,
  ) {
    this.enabled = targetMillis > 0;
  }

  /** The queue went from empty to holding a waiter. */
  becameBusy(t: number): void {
    this._busySince = t;
  }

  /** The queue has no waiter left. */
  becameEmpty(): void {
    this._busySince = Infinity;
  }

  /** How long the queue has been non-empty (0 while empty). */
  busyFor(t: number): number {
    return this._busySince === Infinity ? 0 : t - this._busySince;
  }

  /**
   * Whether a waiter that has waited `waitedMillis` should be shed rather than served, the
   * queue having been non-empty for `busyFor` (read before the waiter left it).
   */
  shouldShed(waitedMillis: number, busyFor: number): boolean {
    return waitedMillis > this.targetMillis && busyFor >= this.intervalMillis;
  }
}

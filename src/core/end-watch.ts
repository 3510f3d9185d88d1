import { kMaxTimerMillis, type Clock } from './clock.js';

/**
 * What `end()` waits on: a condition over the pool's counts, checked after each change that
 * could meet it (`check()`, which the pool calls from its transitions), or a deadline.
 */
export class EndWatch {
  private _check: (() => void) | undefined;

  constructor(private readonly _now: Clock) {}

  /** Whether `end()` is waiting on a condition now. */
  get active(): boolean {
    return this._check !== undefined;
  }

  /** Called by the pool after a change that could meet the condition waited for. */
  check(): void {
    this._check?.();
  }

  /** Resolves once `condition` holds or at `deadline`, whichever comes first. */
  until(condition: () => boolean, deadline: number): Promise<void> {
    if (condition() || deadline <= this._now()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this._check = undefined;
        resolve();
      };
      const remaining = deadline - this._now();
      if (remaining <= kMaxTimerMillis) {
        timer = setTimeout(done, Math.max(0, remaining));
        timer.unref();
      }
      this._check = () => {
        if (condition()) done();
      };
    });
  }
}

import { timerDelay, type Clock } from './clock.js';

/**
 * One timer for the earliest idle deadline, so that an idle resource goes when its time is up
 * (pg.Pool's precision) without a timer per release: it is moved only when a resource must go
 * sooner than the one it waits for, which with one idle timeout for all is rare.
 */
export class IdleTimer {
  private _timer: NodeJS.Timeout | undefined;
  /** When the timer fires; Infinity when it is not armed. */
  private _at = Infinity;
  private readonly _onFire = (): void => {
    // Node's timers keep whole milliseconds of a loop time that lags the monotonic clock, so
    // one may fire a fraction early: its firing counts as reaching the deadline it was set for.
    const t = Math.max(this._now(), this._at);
    this._timer = undefined;
    this._at = Infinity;
    this._fire(t);
  };

  constructor(
    private readonly _now: Clock,
    private readonly _fire: (t: number) => void,
  ) {}

  /** When the timer fires; Infinity when it is not armed. */
  get at(): number {
    return this._at;
  }

  /** Brings the timer forward to `deadline` if that is sooner than the one it waits for. */
  armBy(deadline: number): void {
    if (deadline >= this._at) return;
    clearTimeout(this._timer);
    this._at = deadline;
    this._timer = setTimeout(this._onFire, timerDelay(deadline - this._now()));
    this._timer.unref();
  }

  stop(): void {
    clearTimeout(this._timer);
    this._timer = undefined;
    this._at = Infinity;
  }
}

import { timerDelay } from './clock.js';
import { Creator, type CircuitChange } from './creator.js';
import { CircuitOpenError, PoolClosedError, type CreateFailedError } from './errors.js';
import { IdleTimer } from './idle-timer.js';
import { PoolState } from './pool-state.js';
import { PooledResource } from './pooled-resource.js';
import { findLeaks, findOverdue, idleDeadline, nextIdleDeadline, sweepIdle } from './reaper.js';
import type { BudgetMember } from './budget.js';
import type { CreateErrorKind, Factory, PoolOptions } from './types.js';

/**
 * The second layer of the pool: keeping supply matched with demand. `_pump()` hands idle
 * resources to waiters and starts creations (through `Creator`, which keeps the backoff and
 * the circuit); idle resources retire on one timer; the reaper fills `min` and finds leaks;
 * and `end()` shuts everything down here.
 */
export abstract class PoolSupply<T> extends PoolState<T> {
  protected readonly _creator: Creator<T>;
  protected readonly _idleTimer: IdleTimer;
  protected _retryTimer: NodeJS.Timeout | undefined;
  protected readonly _reaper: NodeJS.Timeout;
  /**
   * `min` is not refilled until the next reap: the last creation failed for a reason of its
   * own (not an outage, so no backoff) and nobody was waiting for it, so trying again at once
   * would only loop.
   */
  protected _minPaused = false;
  /** This pool's place in its `budget`, if it has one. */
  protected readonly _seat: BudgetMember | undefined;
  /** The wanting last reported to the budget. */
  private _wanting = 0;

  constructor(factory: Factory<T>, options: PoolOptions) {
    super(factory, options);
    const o = this._options;
    this._creator = this._makeCreator();
    if (o.budget !== undefined) {
      const seat = o.budget.join(
        o.name,
        { min: o.min, max: o.max },
        {
          offer: () => this._acceptSlot(),
          shedIdle: (n) => this._shedIdle(n),
        },
      );
      this._seat = seat;
      this._onSlotFreed = () => seat.release();
    }
    this._idleTimer = new IdleTimer(this._now, (t) => {
      this._sweepIdle(t);
      this._pump();
    });
    // One reaper for idle timeouts, lifetimes, leaks and `min`: no timer per release.
    let interval = o.reapIntervalMillis;
    if (o.leakDetectionMillis > 0) interval = Math.min(interval, o.leakDetectionMillis);
    if (o.leakReclaimMillis > 0) interval = Math.min(interval, o.leakReclaimMillis);
    this._reaper = setInterval(() => this._reap(), interval);
    this._reaper.unref();
  }

  protected override _pendingCreates(): number {
    return this._creator.pending;
  }

  protected override _lastCreateError(): unknown {
    return this._creator.backoff.lastError;
  }

  /** A resource became idle: the idle timer is brought forward if it must retire sooner. */
  protected override _watchIdle(record: PooledResource<T>): void {
    // Usually the timer already waits for an earlier deadline: two comparisons, nothing to do.
    const at = this._idleTimer.at;
    if (record.expiresAt >= at && record.lastUsedAt + this._options.idleTimeoutMillis >= at) return;
    this._armForIdle(record);
  }

  private _armForIdle(record: PooledResource<T>): void {
    if (this._endPromise !== undefined) return;
    const o = this._options;
    this._idleTimer.armBy(idleDeadline(record, this._all.size > o.min, o.idleTimeoutMillis));
  }

  /**
   * Retires the idle resources whose time is up, then re-arms the idle timer. They leave the
   * idle stack and the pool before any is destroyed, so that every 'destroy' listener sees
   * the counts without all of them.
   */
  protected _sweepIdle(t: number): void {
    const o = this._options;
    const { kept, retired } = sweepIdle(this._idle, t, this._all.size - o.min, o.idleTimeoutMillis);
    this._idle = kept;
    this._destroyAll(retired, true);
    if (this._endPromise !== undefined) return;
    const next = nextIdleDeadline(this._idle, this._all.size > o.min, o.idleTimeoutMillis);
    this._idleTimer.armBy(next);
  }

  /**
   * Matches idle resources with waiters, then starts as many creations as demand and `max`
   * allow, and the backoff permits.
   */
  protected override _pump(): void {
    if (this._closed) return;
    const t = this._now();
    // Resources being validated are already promised to the oldest waiters.
    while (this._waiters.size > this._validating && this._idle.length > 0) {
      const record = this._idle[this._idle.length - 1]!;
      if (t >= record.expiresAt) {
        this._destroy(record, 'lifetime');
      } else if (this._needsValidation(record, t)) {
        this._validate(record);
      } else {
        const waiter = this._waiters.serve(t);
        if (waiter === undefined) break; // every waiter left was shed as overload
        this._handTo(waiter, record, t);
      }
    }
    // Draining: what is idle now is needed by nobody.
    if (this._endPromise !== undefined && this._waiters.size === 0) this._destroyIdle();
    this._createForDemand(t);
  }

  protected _createForDemand(t: number): void {
    while (this._wantsMore() && this._mayCreate(t, true)) this._creator.start();
    if (this._seat !== undefined) this._reportWanting();
  }

  /** Demand that creations in flight do not cover yet: waiters, or `min`. */
  private _wantsMore(): boolean {
    const o = this._options;
    const pending = this._creator.pending;
    if (this._waiters.size > pending + this._validating) return true;
    const fillsMin = o.warmMin && !this._minPaused && this._endPromise === undefined;
    return fillsMin && o.min > this._all.size + pending;
  }

  /**
   * Whether `max`, the backoff and the budget allow one more creation now. `takeSlot`: take a
   * budget slot for it (false when the budget has just offered one). A probe after failures
   * half-opens the circuit.
   */
  private _mayCreate(t: number, takeSlot: boolean): boolean {
    const creator = this._creator;
    const backoff = creator.backoff;
    if (this._all.size + creator.pending >= this._options.max) return false;
    if (backoff.failures > 0) {
      // Recovering from failures: one probe at a time, after its backoff delay.
      if (creator.pending > 0) return false;
      if (!backoff.mayAttempt(t)) {
        this._armRetryTimer(t);
        return false;
      }
    }
    if (takeSlot && this._seat !== undefined && !this._seat.tryTake()) return false;
    if (backoff.failures > 0) creator.probe();
    return true;
  }

  // --- the budget -----------------------------------------------------------------------------

  /** Tells the budget how many callers wait for a creation it did not allow. */
  private _reportWanting(): void {
    const pending = this._creator.pending;
    const room = this._options.max - this._all.size - pending;
    const want = Math.max(0, Math.min(room, this._waiters.size - (pending + this._validating)));
    if (want === this._wanting) return;
    this._wanting = want;
    this._seat!.setWanting(want);
  }

  /** The budget offers a slot (already counted as ours): create with it, if still needed. */
  private _acceptSlot(): boolean {
    this._wanting = Math.max(0, this._wanting - 1);
    if (this._closed || !this._wantsMore() || !this._mayCreate(this._now(), false)) {
      this._wanting = 0; // a refused offer counts as wanting nothing until the next report
      return false;
    }
    this._creator.start();
    return true;
  }

  /** The budget asks for idle resources back, for a pool below its share: the oldest go. */
  private _shedIdle(n: number): number {
    const count = this._closed ? 0 : Math.min(n, this._idle.length);
    if (count === 0) return 0;
    const oldest = this._idle.slice(0, count);
    this._idle = this._idle.slice(count);
    this._destroyAll(
      oldest.map((record) => [record, 'budget'] as const),
      true,
    );
    return count;
  }

  protected _armRetryTimer(t: number): void {
    if (this._retryTimer !== undefined) return;
    const delay = timerDelay(this._creator.backoff.retryAt - t);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = undefined;
      this._pump();
    }, delay);
    this._retryTimer.unref();
  }

  protected _makeCreator(): Creator<T> {
    return new Creator(this._factory, this._options, this._now, {
      pool: this,
      created: (resource, durationMillis) => this._created(resource, durationMillis),
      failed: (error, kind, circuit) => this._createFailed(error, kind, circuit),
      // Arrived after its attempt timed out, or after `end()`.
      late: (resource, done) => {
        const reason = this._endPromise === undefined ? 'error' : 'end';
        this._disposer.destroy(resource, reason, undefined, done);
      },
      slotFreed: () => this._onSlotFreed?.(),
      circuit: (event) => this.emit('circuit', event),
      track: (task) => this._disposer.track(task),
    });
  }

  protected _created(resource: T, durationMillis: number): void {
    const t = this._now();
    this._minPaused = false;
    this._stats.created(durationMillis);
    const o = this._options;
    const lifetime =
      o.maxLifetimeMillis > 0
        ? o.maxLifetimeMillis * (1 - Math.random() * o.maxLifetimeJitter)
        : Infinity;
    const record = new PooledResource(resource, t, lifetime);
    this._all.set(resource, record);
    this.emit('create', { resource, durationMillis });
    this._giveBackRecord(record, t);
    this._pump();
  }

  protected _createFailed(
    error: CreateFailedError,
    kind: CreateErrorKind,
    circuit: CircuitChange | undefined,
  ): void {
    this._stats.createFailures++;
    this.emit('error', { error });
    if (circuit !== undefined) this.emit('circuit', circuit);
    if (kind === 'unavailable') this._failFastIfOpen(error);
    else {
      // Tell whoever this attempt was for: the head waiter, or all of them when the error is
      // permanent (every attempt would fail the same way).
      let told = 0;
      for (
        let waiter = this._waiters.next();
        waiter !== undefined;
        waiter = kind === 'permanent' ? this._waiters.next() : undefined
      ) {
        waiter.reject(error);
        told++;
      }
      if (told === 0) this._minPaused = true;
    }
    this._endWatch.check();
    this._pump();
  }

  /** The server cannot be reached and the circuit opened: nobody waits out their timeout. */
  protected _failFastIfOpen(error: CreateFailedError): void {
    const backoff = this._creator.backoff;
    if (backoff.state !== 'open') return;
    const retryIn = backoff.retryAt - this._now();
    for (let waiter = this._waiters.next(); waiter !== undefined; waiter = this._waiters.next()) {
      this._stats.circuitRejections++;
      waiter.reject(new CircuitOpenError(error, retryIn, true));
    }
  }

  protected _reap(): void {
    if (this._endPromise !== undefined) return;
    const t = this._now();
    const o = this._options;
    this._minPaused = false;
    this._sweepIdle(t);
    if (o.leakDetectionMillis > 0) {
      findLeaks(this._all.values(), t, o.leakDetectionMillis, (record, heldMillis) => {
        this._stats.leaks++;
        const stack = record.acquireStack ?? '';
        this.emit('leak', { resource: record.resource, heldMillis, stack, reclaimed: false });
      });
    }
    if (o.leakReclaimMillis > 0) {
      for (const record of findOverdue(this._all.values(), t, o.leakReclaimMillis)) {
        this._reclaim(record, t);
      }
    }
    this._pump();
  }

  /** Takes a resource back from a borrower who held it past `leakReclaimMillis`. */
  protected _reclaim(record: PooledResource<T>, t: number): void {
    const heldMillis = t - record.acquiredAt;
    if (!record.leakReported) this._stats.leaks++;
    record.leakReported = true;
    this._stats.holdTime.record(heldMillis);
    this._revoke(record);
    const stack = record.acquireStack ?? '';
    this.emit('leak', { resource: record.resource, heldMillis, stack, reclaimed: true });
    this._destroy(record, 'leak');
  }

  protected async _shutdown(timeoutMillis: number, drain: boolean): Promise<void> {
    clearInterval(this._reaper);
    this._idleTimer.stop();
    const deadline = this._now() + timeoutMillis;
    if (drain) {
      // The work already asked for: waiters are served, idle resources nobody needs go now.
      this._pump();
      await this._endWatch.until(() => this._waiters.size === 0, deadline);
    }
    this._close();
    await this._endWatch.until(() => this._busyCount() === 0, deadline);
    for (const record of [...this._all.values()]) {
      this._revoke(record);
      this._destroy(record, 'end');
    }
    // Every destroy, validation, reset and late creation settles (each is bounded by a timeout).
    await this._disposer.settled();
    // Only now, with every connection closed, are its slots and its minimum free for others.
    this._seat?.leave();
  }

  /** Stops serving the queue: waiters rejected, creations aborted, idle resources destroyed. */
  protected _close(): void {
    this._closed = true;
    this._waiters.close();
    clearTimeout(this._retryTimer);
    this._retryTimer = undefined;
    for (let waiter = this._waiters.next(); waiter !== undefined; waiter = this._waiters.next()) {
      waiter.reject(new PoolClosedError('The pool was ended while this caller waited'));
    }
    this._creator.abortAll(new PoolClosedError('The pool was ended while creating'));
    this._destroyIdle();
  }
}

import { withCallerStack } from './caller-stack.js';
import { releaseChannel } from './channels.js';
import { monotonicClock } from './clock.js';
import { Disposer } from './disposer.js';
import { TypedEmitter } from './emitter.js';
import { EndWatch } from './end-watch.js';
import {
  AbortedError,
  AcquireTimeoutError,
  ListenerError,
  OverloadedError,
  PoolError,
  type HookFailedError,
  type PoolCounts,
} from './errors.js';
import { normalizeOptions, type NormalizedOptions } from './options.js';
import { PendingAcquire } from './pending-acquire.js';
import type { PooledResource, ResourceState } from './pooled-resource.js';
import { runReset, runValidate } from './resource-hooks.js';
import { PoolStatsRecorder } from './stats.js';
import type { DestroyReason, Factory, PoolEvents, PoolOptions } from './types.js';
import { WaitQueue } from './wait-queue.js';

/**
 * The first layer of the pool: its resources and their states. A resource changes state only
 * in `_move()`, which keeps the idle stack, the per-state counts and membership in step; the
 * rest of this layer hands resources out and takes them back (with validation and reset), and
 * keeps the waiters. `PoolSupply` adds creating and retiring, and `Pool` the public API; the
 * three are one object at run time, so the hot path makes no calls between objects.
 *
 * Internals use TypeScript `private`/`protected` members rather than `#private` ones on
 * purpose: with `#private`, V8 deoptimised acquire/release each time a pool was ended and
 * collected, and after a few pools the hot path ran about 2.5x slower for the rest of the
 * process (measured with bench/core.ts; the same holds for the small classes on the hot path).
 */
export abstract class PoolState<T> extends TypedEmitter<PoolEvents<T>> {
  protected readonly _factory: Factory<T>;
  protected readonly _now = monotonicClock();
  protected readonly _options: NormalizedOptions;
  /** Every live resource, in any state but `gone`, by identity. */
  protected readonly _all = new Map<T, PooledResource<T>>();
  /** Idle resources as a stack: the most recently used is handed out first, so the rest age
   * out under `idleTimeoutMillis` and the pool shrinks when load drops. */
  protected _idle: PooledResource<T>[] = [];
  /** How many resources are in each state that has no list of its own (kept by `_move`). */
  protected _inUse = 0;
  protected _validating = 0;
  protected _resetting = 0;
  protected readonly _waiters: WaitQueue<PendingAcquire<T>>;
  protected readonly _stats = new PoolStatsRecorder();
  protected readonly _disposer: Disposer<T>;
  protected readonly _endWatch: EndWatch;
  /**
   * Resources taken from their borrowers (by `end()` after its deadline, or reclaimed as
   * leaks) and destroyed; their late release is ignored.
   */
  protected readonly _revoked = new WeakSet<object>();
  /** `end()` was called: new acquires are refused; waiters may still be served (drain). */
  protected _endPromise: Promise<void> | undefined;
  /** The queue is no longer served: the drain is over (or was skipped). */
  protected _closed = false;
  /** Runs once each destroy has settled, when the pool has a budget: the slot is free again. */
  protected _onSlotFreed: (() => void) | undefined = undefined;

  constructor(factory: Factory<T>, options: PoolOptions) {
    super();
    if (typeof factory?.create !== 'function' || typeof factory.destroy !== 'function') {
      throw new PoolError(
        'ERR_POOL_INVALID_OPTION',
        'The factory must provide create(signal) and destroy(resource) functions',
      );
    }
    this._factory = factory;
    this._options = normalizeOptions(options);
    const o = this._options;
    // The queue bumps the timeout, shed and queue-full counters of the pool's statistics.
    this._waiters = new WaitQueue<PendingAcquire<T>>(
      o,
      this._now,
      {
        expired: (waiter, t) => this._timedOut(waiter, t),
        shed: (waiter, t, busyFor) => this._shed(waiter, t, busyFor),
      },
      this._stats,
    );
    this._disposer = new Disposer(factory, o.destroyTimeoutMillis, this._stats, {
      pool: this,
      name: o.name,
      destroyed: (event) => this.emit('destroy', event),
      failed: (error, resource) => this.emit('error', { error, resource }),
    });
    this._endWatch = new EndWatch(this._now);
  }

  /** Matches idle resources with waiters and creates what demand needs (`PoolSupply`). */
  protected abstract _pump(): void;
  /** A resource became idle: its retirement is scheduled (`PoolSupply`). */
  protected abstract _watchIdle(record: PooledResource<T>): void;
  /** Creations in flight (`PoolSupply`). */
  protected abstract _pendingCreates(): number;
  /** Why the last creation failed, for timeout errors (`PoolSupply`). */
  protected abstract _lastCreateError(): unknown;

  protected override onListenerError(event: keyof PoolEvents<T>, error: unknown): void {
    if (event === 'error') return; // an error listener that throws has nowhere left to go
    this.emit('error', { error: new ListenerError(String(event), error) });
  }

  /**
   * Moves a resource to another state, keeping the idle stack, the per-state counts and the
   * pool's membership in step with it, and telling a waiting `end()` when a resource comes to
   * rest. A resource leaving `idle` is normally the top of the stack (O(1)); `idleDetached`
   * says the caller has already taken it off the stack (the idle sweep, in bulk).
   */
  protected _move(record: PooledResource<T>, to: ResourceState, idleDetached?: boolean): void {
    // Kept this small, with the rest out of line, so that V8 inlines it into acquire and
    // release twice over: busy <-> returning, the most frequent moves, stay here.
    const from = record.state;
    record.state = to;
    if (from === 'busy') this._inUse--;
    else if (from !== 'returning') this._leave(record, from, idleDetached);
    if (to === 'busy') this._inUse++;
    else if (to !== 'returning') this._enter(record, to);
  }

  private _leave(record: PooledResource<T>, from: ResourceState, idleDetached?: boolean): void {
    if (from === 'idle') {
      if (idleDetached !== true) this._takeOffIdle(record);
    } else if (from === 'validating') this._validating--;
    else if (from === 'resetting') this._resetting--;
  }

  private _enter(record: PooledResource<T>, to: ResourceState): void {
    if (to === 'idle') this._idle.push(record);
    else this._enterRare(record, to);
    // Only end() waits on these counts, so only then is it told.
    if (this._endPromise !== undefined) this._endWatch.check();
  }

  private _enterRare(record: PooledResource<T>, to: ResourceState): void {
    if (to === 'gone') this._all.delete(record.resource);
    else if (to === 'validating') this._validating++;
    else if (to === 'resetting') this._resetting++;
  }

  protected _takeOffIdle(record: PooledResource<T>): void {
    const idle = this._idle;
    if (idle[idle.length - 1] === record) idle.pop();
    // Not a hot path (eviction of an idle resource): a linear search of the stack is fine.
    else this._idle = idle.filter((r) => r !== record);
  }

  /** Checked out, being checked, or on the way back: what `end()` waits for. */
  protected _busyCount(): number {
    return this._inUse + this._validating + this._resetting;
  }

  protected _waitFor(waiter: PendingAcquire<T>): Promise<T> {
    return this._options.asyncStackTraces ? withCallerStack(waiter.promise) : waiter.promise;
  }

  protected _enqueue(
    t: number,
    signal: AbortSignal | undefined,
    stack: string | undefined,
  ): PendingAcquire<T> {
    const waiter = new PendingAcquire<T>(t, stack);
    this._waiters.push(waiter);
    if (signal !== undefined) waiter.watch(signal, () => this._abortWaiter(waiter, signal.reason));
    return waiter;
  }

  protected _abortWaiter(waiter: PendingAcquire<T>, reason: unknown): void {
    if (!this._waiters.cancel(waiter)) return;
    this._stats.aborts++;
    waiter.reject(new AbortedError(reason));
    this._endWatch.check();
  }

  protected _shed(waiter: PendingAcquire<T>, t: number, busyFor: number): void {
    waiter.reject(new OverloadedError(t - waiter.enqueuedAt, busyFor, this._counts()));
    // Called from serve(), which has already taken it out of the count.
    this._endWatch.check();
  }

  protected _timedOut(waiter: PendingAcquire<T>, t: number): void {
    const lastError = this._lastCreateError();
    waiter.reject(new AcquireTimeoutError(t - waiter.enqueuedAt, this._counts(), lastError));
    // The queue uncounts it after this returns.
    if (this._endWatch.active) queueMicrotask(() => this._endWatch.check());
  }

  protected _checkout(record: PooledResource<T>, t: number, stack: string | undefined): void {
    this._move(record, 'busy');
    record.uses++;
    record.acquiredAt = t;
    record.acquireStack = stack;
    record.leakReported = false;
    if (this._options.allowExitOnIdle) this._factory.ref?.(record.resource);
  }

  protected _emitAcquire(resource: T, waitedMillis: number): void {
    if (this.listeners.acquire !== undefined) this.emit('acquire', { resource, waitedMillis });
  }

  protected _publishRelease(resource: T, heldMillis: number, error: unknown): void {
    if (this.listeners.release !== undefined) this.emit('release', { resource, heldMillis, error });
    if (releaseChannel.hasSubscribers) {
      const name = this._options.name;
      releaseChannel.publish({ pool: this, name, resource, heldMillis, error });
    }
  }

  /**
   * A resource that is fit for use goes straight to the oldest waiter, or to the idle stack.
   * The usual case is kept small, so that V8 inlines it into `release()` (its inlining budget
   * is cumulative over the whole path); the rest is `_giveBackRare`.
   */
  protected _giveBackRecord(record: PooledResource<T>, t: number): void {
    if (record.state === 'gone' || record.doomed || this._endPromise !== undefined) {
      this._giveBackRare(record, t);
      return;
    }
    record.lastUsedAt = t;
    const waiter = this._waiters.serve(t);
    if (waiter !== undefined) this._handTo(waiter, record, t);
    else this._rest(record);
  }

  /** `_giveBackRecord` for a resource already gone or evicted, or while the pool ends. */
  private _giveBackRare(record: PooledResource<T>, t: number): void {
    // end() may have destroyed it while a reset or validation was still running.
    if (record.state === 'gone') return;
    if (record.doomed) {
      // Evicted while it was being validated or reset.
      this._destroy(record, 'error');
      this._pump();
      return;
    }
    record.lastUsedAt = t;
    const waiter = this._closed ? undefined : this._waiters.serve(t);
    if (waiter !== undefined) this._handTo(waiter, record, t);
    else this._destroy(record, 'end');
  }

  /** Into the idle stack, with its retirement scheduled. */
  private _rest(record: PooledResource<T>): void {
    this._move(record, 'idle');
    this._watchIdle(record);
    if (this._options.allowExitOnIdle) this._factory.unref?.(record.resource);
  }

  /** Ending, but still serving the callers that were already waiting (the drain). */
  protected _servesWaiters(): boolean {
    return !this._closed && this._waiters.size > 0;
  }

  protected _handTo(waiter: PendingAcquire<T>, record: PooledResource<T>, t: number): void {
    const waited = t - waiter.enqueuedAt;
    this._checkout(record, t, waiter.stack);
    this._stats.acquired(waited, true);
    this._emitAcquire(record.resource, waited);
    waiter.resolve(record.resource);
  }

  protected _needsValidation(record: PooledResource<T>, t: number): boolean {
    return (
      this._factory.validate !== undefined &&
      t - record.lastUsedAt > this._options.validateAfterIdleMillis
    );
  }

  protected _validate(record: PooledResource<T>): void {
    this._move(record, 'validating');
    const check = runValidate(this._factory, record.resource, this._options.validateTimeoutMillis);
    this._disposer.track(
      check.then((outcome) => {
        if (outcome === true) this._giveBackRecord(record, this._now());
        else {
          this._stats.validationFailures++;
          this._destroy(record, 'validation', outcome);
        }
        this._pump();
      }),
    );
  }

  protected _reset(record: PooledResource<T>, t: number): void {
    this._move(record, 'resetting');
    const outcome = runReset(this._factory, record.resource, this._options.resetTimeoutMillis);
    // A reset that answers synchronously hands the resource on at once.
    if (outcome === undefined) this._giveBackRecord(record, t);
    else if (!(outcome instanceof Promise)) this._resetFailed(record, outcome);
    else {
      this._disposer.track(
        outcome.then((failure) => {
          if (failure === undefined) this._giveBackRecord(record, this._now());
          else this._resetFailed(record, failure);
        }),
      );
    }
  }

  protected _resetFailed(record: PooledResource<T>, failure: HookFailedError): void {
    this.emit('error', { error: failure, resource: record.resource });
    this._destroy(record, 'reset', failure);
    this._pump();
  }

  protected _destroy(record: PooledResource<T>, reason: DestroyReason, error?: unknown): void {
    if (record.state === 'gone') return;
    this._move(record, 'gone');
    this._disposer.destroy(record.resource, reason, error, this._onSlotFreed);
  }

  /**
   * Takes every record out of the pool first, then destroys each (see `_sweepIdle`).
   * `offIdle`: the records were idle and are already off the idle stack.
   */
  protected _destroyAll(
    records: readonly (readonly [PooledResource<T>, DestroyReason])[],
    offIdle: boolean,
  ): void {
    for (const [record] of records) this._move(record, 'gone', offIdle);
    for (const [record, reason] of records)
      this._disposer.destroy(record.resource, reason, undefined, this._onSlotFreed);
  }

  /** Destroys every idle resource, the idle stack emptied first. */
  protected _destroyIdle(): void {
    if (this._idle.length === 0) return;
    const idle = this._idle;
    this._idle = [];
    this._destroyAll(
      idle.map((record) => [record, 'end'] as const),
      true,
    );
  }

  /** Its borrower loses it: a late release of it is ignored rather than refused. */
  protected _revoke(record: PooledResource<T>): void {
    if (typeof record.resource === 'object' && record.resource !== null) {
      this._revoked.add(record.resource);
    }
  }

  protected _counts(): PoolCounts {
    return {
      total: this._all.size,
      idle: this._idle.length,
      inUse: this._inUse,
      pendingCreates: this._pendingCreates(),
      waiting: this._waiters.size,
    };
  }
}

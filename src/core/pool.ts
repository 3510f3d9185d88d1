import { boundedCall } from './bounded-call.js';
import { captureStack, withCallerStack } from './caller-stack.js';
import {
  acquireEndChannel,
  acquireStartChannel,
  createEndChannel,
  createStartChannel,
  destroyChannel,
  releaseChannel,
  type AcquireMessage,
  type CreateMessage,
} from './channels.js';
import { kMaxTimerMillis, monotonicClock, timerDelay } from './clock.js';
import { CreateBackoff } from './create-backoff.js';
import { TypedEmitter } from './emitter.js';
import {
  AbortedError,
  AcquireTimeoutError,
  CircuitOpenError,
  CreateFailedError,
  HookFailedError,
  ListenerError,
  OverloadedError,
  PoolClosedError,
  PoolError,
  ReleaseError,
  type PoolCounts,
} from './errors.js';
import { Lease } from './lease.js';
import { normalizeOptions, type NormalizedOptions } from './options.js';
import { PendingAcquire } from './pending-acquire.js';
import { PooledResource } from './pooled-resource.js';
import { findLeaks, findOverdue, idleDeadline, nextIdleDeadline, sweepIdle } from './reaper.js';
import { PoolStatsRecorder } from './stats.js';
import { attemptCreate } from './create-attempt.js';
import { WaitQueue } from './wait-queue.js';
import type {
  AcquireOptions,
  CircuitState,
  CreateErrorKind,
  DestroyReason,
  EndOptions,
  Factory,
  LeaseInfo,
  PoolEvents,
  PoolOptions,
  PoolStats,
} from './types.js';

/** `end()` waits this long for checked-out resources unless told otherwise. */
const kDefaultEndTimeoutMillis = 30_000;

/**
 * A pool of any resource. The driver plugs in through `Factory`; see `PoolOptions` for sizing,
 * timeouts, validation, backoff and leak detection.
 *
 * Every change of state ends in `_pump()`, the one place that matches idle resources with
 * waiters and decides whether to create more.
 *
 * Internals use TypeScript `private` members rather than `#private` ones on purpose: with
 * `#private`, V8 deoptimised acquire/release each time a pool was ended and collected, and
 * after a few pools the hot path ran about 2.5x slower for the rest of the process (measured
 * with bench/core.ts; the same holds for the small classes on the hot path).
 *
 * @example
 * const pool = new Pool(factory, { max: 10, acquireTimeoutMillis: 5_000 });
 * const answer = await pool.use((conn) => conn.query('SELECT 1'));
 * await pool.end();
 */
export class Pool<T> extends TypedEmitter<PoolEvents<T>> {
  private readonly _factory: Factory<T>;
  private readonly _now = monotonicClock();
  private readonly _options: NormalizedOptions;

  /** Every live resource (idle, busy or being checked), by identity. */
  private readonly _all = new Map<T, PooledResource<T>>();
  /** Idle resources as a stack: the most recently used is handed out first, so the rest age
   * out under `idleTimeoutMillis` and the pool shrinks when load drops. */
  private _idle: PooledResource<T>[] = [];
  private readonly _waiters: WaitQueue<PendingAcquire<T>>;
  private _inUse = 0;
  private _pendingCreates = 0;
  private _validating = 0;

  private readonly _backoff: CreateBackoff;
  private readonly _stats = new PoolStatsRecorder();
  private readonly _createControllers = new Set<AbortController>();
  private readonly _settling = new Set<Promise<unknown>>();
  /**
   * Resources taken from their borrowers (by `end()` after its deadline, or reclaimed as
   * leaks) and destroyed; their late release is ignored.
   */
  private readonly _revoked = new WeakSet<object>();

  /** Leak detection or reclaim is on: each acquire keeps its caller's stack. */
  private readonly _capturesStacks: boolean;
  private _retryTimer: NodeJS.Timeout | undefined;
  private readonly _reaper: NodeJS.Timeout;
  /** The one timer for idle timeouts and lifetimes of idle resources, and when it fires. */
  private _idleTimer: NodeJS.Timeout | undefined;
  private _idleTimerAt = Infinity;
  private readonly _onIdleTimer = (): void => {
    // Node's timers keep whole milliseconds of a loop time that lags the monotonic clock, so
    // one may fire a fraction early: its firing counts as reaching the deadline it was set for.
    const t = Math.max(this._now(), this._idleTimerAt);
    this._idleTimer = undefined;
    this._idleTimerAt = Infinity;
    this._sweepIdle(t);
    this._pump();
  };
  /**
   * `min` is not refilled until the next reap: the last creation failed for a reason of its
   * own (not an outage, so no backoff) and nobody was waiting for it, so trying again at once
   * would only loop.
   */
  private _minPaused = false;
  /** `end()` was called: new acquires are refused; waiters may still be served (drain). */
  private _endPromise: Promise<void> | undefined;
  /** The queue is no longer served: the drain is over (or was skipped). */
  private _closed = false;
  /** While `end()` waits for a condition: checks it after each change that could meet it. */
  private _endWatch: (() => void) | undefined;
  private readonly _giveBack = (resource: T, error?: unknown): void =>
    this.release(resource, error);

  constructor(factory: Factory<T>, options: PoolOptions = {}) {
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
    this._capturesStacks = o.leakDetectionMillis > 0 || o.leakReclaimMillis > 0;
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
    this._backoff = new CreateBackoff(
      o.createRetryBaseMillis,
      o.createRetryMaxMillis,
      o.circuitBreakerThreshold,
    );
    // One reaper for idle timeouts, lifetimes, leaks and `min`: no timer per release.
    let interval = o.reapIntervalMillis;
    if (o.leakDetectionMillis > 0) interval = Math.min(interval, o.leakDetectionMillis);
    if (o.leakReclaimMillis > 0) interval = Math.min(interval, o.leakReclaimMillis);
    this._reaper = setInterval(() => this._reap(), interval);
    this._reaper.unref();
    this._pump();
  }

  /** The validated, frozen options in force. */
  get options(): NormalizedOptions {
    return this._options;
  }

  /** The pool's name (option `name`), as metrics and diagnostics report it. */
  get name(): string {
    return this._options.name;
  }
  get total(): number {
    return this._all.size;
  }
  get idle(): number {
    return this._idle.length;
  }
  get inUse(): number {
    return this._inUse;
  }
  get waiting(): number {
    return this._waiters.size;
  }
  get pendingCreates(): number {
    return this._pendingCreates;
  }
  get ended(): boolean {
    return this._endPromise !== undefined;
  }
  get circuitState(): CircuitState {
    return this._backoff.state;
  }
  /** Checked-out resources past their lifetime, to be retired when they come back. */
  get expiredCount(): number {
    const t = this._now();
    let count = 0;
    for (const record of this._all.values()) {
      if (record.state === 'busy' && t >= record.expiresAt) count++;
    }
    return count;
  }

  /**
   * Resolves to a resource, which the caller must give back with `release`. When an idle
   * resource is ready this allocates no timer and resolves on the next microtask.
   */
  acquire(options?: AcquireOptions): Promise<T> {
    // One read per channel when nobody subscribes (docs/channels.md).
    if (acquireStartChannel.hasSubscribers || acquireEndChannel.hasSubscribers) {
      return this._acquireTraced(options);
    }
    return this._acquire(options);
  }

  private _acquire(options: AcquireOptions | undefined): Promise<T> {
    if (this._endPromise !== undefined) {
      return Promise.reject(new PoolClosedError('Cannot acquire: the pool has been ended'));
    }
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(new AbortedError(signal.reason));
    const t = this._now();
    const stack = this._capturesStacks ? captureStack() : undefined;
    // Fast path: nobody is ahead of us and an idle resource is ready.
    if (this._waiters.size === 0) {
      while (this._idle.length > 0) {
        const record = this._idle.pop()!;
        if (t >= record.expiresAt) {
          this._destroy(record, 'lifetime');
          continue;
        }
        if (this._needsValidation(record, t)) {
          // Queue first, so the validated resource goes to us (the head) by the FIFO rule.
          const waiter = this._enqueue(t, signal, stack);
          this._validate(record);
          return this._waitFor(waiter);
        }
        this._checkout(record, t, stack);
        this._stats.acquired(0, false);
        this._emitAcquire(record.resource, 0);
        return Promise.resolve(record.resource);
      }
    }
    if (this._backoff.rejectsCallers(t)) {
      this._stats.circuitRejections++;
      return Promise.reject(
        new CircuitOpenError(this._backoff.lastError, this._backoff.retryAt - t),
      );
    }
    const full = this._waiters.full();
    if (full !== undefined) return Promise.reject(full);
    const waiter = this._enqueue(t, signal, stack);
    // At capacity with nothing idle, only a release can help: skip the pump.
    if (this._idle.length > 0 || this._all.size + this._pendingCreates < this._options.max)
      this._pump();
    return this._waitFor(waiter);
  }

  /**
   * Gives a resource back. With an error (anything but `undefined`, `null` or `false`) the
   * resource is destroyed instead of reused. Throws `ERR_POOL_RELEASE_INVALID` when the
   * resource is not checked out from this pool (for example, released twice).
   */
  release(resource: T, error?: unknown): void {
    const record = this._all.get(resource);
    if (record === undefined || record.state !== 'busy') {
      if (typeof resource === 'object' && resource !== null && this._revoked.has(resource)) {
        return; // end() or leak reclaim already took it back and destroyed it.
      }
      throw new ReleaseError(
        record === undefined
          ? 'Cannot release a resource that is not checked out from this pool (released twice?)'
          : 'Cannot release a resource that is not checked out (released twice?)',
      );
    }
    const t = this._now();
    this._inUse--;
    const heldMillis = t - record.acquiredAt;
    this._stats.holdTime.record(heldMillis);
    const failed = error !== undefined && error !== null && error !== false;
    if (this.listeners.release !== undefined) {
      this.emit('release', { resource, heldMillis, error: failed ? error : undefined });
    }
    if (releaseChannel.hasSubscribers) {
      const name = this._options.name;
      releaseChannel.publish({
        pool: this,
        name,
        resource,
        heldMillis,
        error: failed ? error : undefined,
      });
    }
    if (failed || record.doomed) this._destroy(record, 'error', failed ? error : undefined);
    else if (this._endPromise !== undefined && !this._servesWaiters()) this._destroy(record, 'end');
    else if (record.uses >= this._options.maxUses) this._destroy(record, 'uses');
    else if (t >= record.expiresAt) this._destroy(record, 'lifetime');
    else if (this._factory.reset !== undefined) {
      this._reset(record, t);
      return;
    } else {
      this._giveBackRecord(record, t);
      return;
    }
    this._afterBusyEnded();
    this._pump();
  }

  /**
   * Takes a resource out of service because it is known to be broken, wherever it is: an idle
   * one is destroyed now (and replaced if callers wait or `min` requires), one that is checked
   * out or being checked is destroyed when it comes back. Returns false if the resource is not
   * in the pool (already gone). For drivers that learn of a dead connection from an event.
   */
  evict(resource: T, error?: unknown): boolean {
    const record = this._all.get(resource);
    if (record === undefined || record.state === 'gone') return false;
    if (record.state !== 'idle') {
      record.doomed = true;
      return true;
    }
    // Not a hot path (a connection died): a linear search of the idle stack is fine.
    this._idle = this._idle.filter((r) => r !== record);
    this._destroy(record, 'error', error);
    this._pump();
    return true;
  }

  /** Acquires, runs `fn`, and always releases, whether `fn` resolves or throws. */
  async use<R>(fn: (resource: T) => Promise<R> | R, options?: AcquireOptions): Promise<R> {
    const resource = await this.acquire(options);
    try {
      return await fn(resource);
    } finally {
      this.release(resource);
    }
  }

  /** Resolves to a `Lease`, released by `lease.release(error?)` or by `await using`. */
  async lease(options?: AcquireOptions): Promise<Lease<T>> {
    const resource: T = await this.acquire(options);
    return new Lease<T>(resource, this._giveBack);
  }

  /**
   * Closes the pool. Idempotent: every call returns the same promise. New acquires are refused
   * at once; callers already waiting are still served (`drain`, default true), then idle
   * resources are destroyed and checked-out ones as they come back. When `timeoutMillis`
   * (default 30 s) runs out, callers still waiting are rejected with `ERR_POOL_CLOSED` and
   * what is still checked out is destroyed. Never rejects.
   */
  end(options?: EndOptions): Promise<void> {
    if (this._endPromise === undefined) {
      let resolve!: () => void;
      this._endPromise = new Promise<void>((r) => (resolve = r));
      const timeoutMillis = options?.timeoutMillis ?? kDefaultEndTimeoutMillis;
      void this._shutdown(timeoutMillis, options?.drain ?? true).then(resolve);
    }
    return this._endPromise;
  }

  /**
   * The resources checked out right now, longest-held first: how long each has been held and
   * where it was acquired (stacks are captured only while leak detection or reclaim is on).
   * For finding leaks in a running process; O(total).
   */
  leases(): LeaseInfo<T>[] {
    const t = this._now();
    const result: LeaseInfo<T>[] = [];
    for (const record of this._all.values()) {
      if (record.state !== 'busy') continue;
      result.push({
        resource: record.resource,
        heldMillis: t - record.acquiredAt,
        uses: record.uses,
        stack: record.acquireStack,
      });
    }
    return result.sort((a, b) => b.heldMillis - a.heldMillis);
  }

  stats(): PoolStats {
    return this._stats.snapshot({
      total: this._all.size,
      idle: this._idle.length,
      inUse: this._inUse,
      pendingCreates: this._pendingCreates,
      waiting: this._waiters.size,
      max: this._options.max,
      min: this._options.min,
      circuit: this._backoff.state,
    });
  }

  /** `acquire()` with its start published now and its end once it settles. */
  private _acquireTraced(options: AcquireOptions | undefined): Promise<T> {
    const message: AcquireMessage<T> = { pool: this, name: this._options.name };
    const startedAt = this._now();
    if (acquireStartChannel.hasSubscribers) acquireStartChannel.publish(message);
    return this._acquire(options).then(
      (resource) => {
        message.resource = resource;
        message.waitedMillis = this._now() - startedAt;
        if (acquireEndChannel.hasSubscribers) acquireEndChannel.publish(message);
        return resource;
      },
      (error: unknown) => {
        message.waitedMillis = this._now() - startedAt;
        message.error = error;
        if (acquireEndChannel.hasSubscribers) acquireEndChannel.publish(message);
        throw error;
      },
    );
  }

  private _waitFor(waiter: PendingAcquire<T>): Promise<T> {
    return this._options.asyncStackTraces ? withCallerStack(waiter.promise) : waiter.promise;
  }

  protected override onListenerError(event: keyof PoolEvents<T>, error: unknown): void {
    if (event === 'error') return; // an error listener that throws has nowhere left to go
    this.emit('error', { error: new ListenerError(String(event), error) });
  }

  // --- waiting --------------------------------------------------------------------------------

  private _enqueue(
    t: number,
    signal: AbortSignal | undefined,
    stack: string | undefined,
  ): PendingAcquire<T> {
    const waiter = new PendingAcquire<T>(t, stack);
    this._waiters.push(waiter);
    if (signal !== undefined) waiter.watch(signal, () => this._abortWaiter(waiter, signal.reason));
    return waiter;
  }

  private _abortWaiter(waiter: PendingAcquire<T>, reason: unknown): void {
    if (!this._waiters.cancel(waiter)) return;
    this._stats.aborts++;
    waiter.reject(new AbortedError(reason));
    this._endWatch?.();
  }

  private _shed(waiter: PendingAcquire<T>, t: number, busyFor: number): void {
    waiter.reject(new OverloadedError(t - waiter.enqueuedAt, busyFor, this._counts()));
    // Called from serve(), which has already taken it out of the count.
    this._endWatch?.();
  }

  private _timedOut(waiter: PendingAcquire<T>, t: number): void {
    waiter.reject(
      new AcquireTimeoutError(t - waiter.enqueuedAt, this._counts(), this._backoff.lastError),
    );
    // The queue uncounts it after this returns.
    if (this._endWatch !== undefined) queueMicrotask(() => this._endWatch?.());
  }

  // --- handing out and taking back ----------------------------------------------------------

  private _checkout(record: PooledResource<T>, t: number, stack: string | undefined): void {
    record.state = 'busy';
    record.uses++;
    record.acquiredAt = t;
    record.acquireStack = stack;
    record.leakReported = false;
    this._inUse++;
    if (this._options.allowExitOnIdle) this._factory.ref?.(record.resource);
  }

  private _emitAcquire(resource: T, waitedMillis: number): void {
    if (this.listeners.acquire !== undefined) this.emit('acquire', { resource, waitedMillis });
  }

  /** A resource that is fit for use goes straight to the oldest waiter, or to the idle stack. */
  private _giveBackRecord(record: PooledResource<T>, t: number): void {
    // end() may have destroyed it while a reset or validation was still running.
    if (record.state === 'gone') return;
    if (record.doomed) {
      // Evicted while it was being validated or reset.
      this._destroy(record, 'error');
      this._afterBusyEnded();
      this._pump();
      return;
    }
    record.lastUsedAt = t;
    const waiter = this._closed ? undefined : this._waiters.serve(t);
    if (waiter !== undefined) {
      this._handTo(waiter, record, t);
      return;
    }
    if (this._endPromise !== undefined) {
      this._destroy(record, 'end');
      this._afterBusyEnded();
      return;
    }
    record.state = 'idle';
    this._idle.push(record);
    this._watchIdle(record);
    if (this._options.allowExitOnIdle) this._factory.unref?.(record.resource);
    this._afterBusyEnded();
  }

  /** Ending, but still serving the callers that were already waiting (the drain). */
  private _servesWaiters(): boolean {
    return !this._closed && this._waiters.size > 0;
  }

  /** A resource became idle: the idle timer is brought forward if it must retire sooner. */
  private _watchIdle(record: PooledResource<T>): void {
    const o = this._options;
    const deadline = idleDeadline(record, this._all.size > o.min, o.idleTimeoutMillis);
    if (deadline < this._idleTimerAt) this._armIdleTimer(deadline);
  }

  /**
   * One timer for the earliest idle deadline, so that an idle resource goes when its time is
   * up (pg.Pool's precision) without a timer per release: it is moved only when a resource
   * must go sooner than the one it waits for, which with one idle timeout for all is rare.
   */
  private _armIdleTimer(deadline: number): void {
    if (deadline === Infinity || this._endPromise !== undefined) return;
    clearTimeout(this._idleTimer);
    this._idleTimerAt = deadline;
    this._idleTimer = setTimeout(this._onIdleTimer, timerDelay(deadline - this._now()));
    this._idleTimer.unref();
  }

  /**
   * Retires the idle resources whose time is up, then re-arms the idle timer. They leave the
   * idle stack and the pool before any is destroyed, so that every 'destroy' listener sees
   * the counts without all of them.
   */
  private _sweepIdle(t: number): void {
    const o = this._options;
    const { kept, retired } = sweepIdle(this._idle, t, this._all.size - o.min, o.idleTimeoutMillis);
    this._idle = kept;
    this._destroyAll(retired);
    const next = nextIdleDeadline(this._idle, this._all.size > o.min, o.idleTimeoutMillis);
    if (next < this._idleTimerAt) this._armIdleTimer(next);
  }

  private _handTo(waiter: PendingAcquire<T>, record: PooledResource<T>, t: number): void {
    const waited = t - waiter.enqueuedAt;
    this._checkout(record, t, waiter.stack);
    this._stats.acquired(waited, true);
    this._emitAcquire(record.resource, waited);
    waiter.resolve(record.resource);
  }

  private _needsValidation(record: PooledResource<T>, t: number): boolean {
    return (
      this._factory.validate !== undefined &&
      t - record.lastUsedAt > this._options.validateAfterIdleMillis
    );
  }

  private _validate(record: PooledResource<T>): void {
    record.state = 'returning';
    this._validating++;
    const timeout = this._options.validateTimeoutMillis;
    const check = boundedCall(
      () => this._factory.validate!(record.resource),
      timeout,
      () => new HookFailedError('validate', undefined, timeout),
    );
    this._track(
      check.then(
        (ok) => {
          this._validating--;
          if (ok) this._giveBackRecord(record, this._now());
          else {
            this._validationFailed(record, undefined);
            this._afterBusyEnded();
          }
          this._pump();
        },
        (error: unknown) => {
          this._validating--;
          this._validationFailed(
            record,
            error instanceof HookFailedError ? error : new HookFailedError('validate', error),
          );
          this._afterBusyEnded();
          this._pump();
        },
      ),
    );
  }

  private _validationFailed(record: PooledResource<T>, error: unknown): void {
    this._stats.validationFailures++;
    this._destroy(record, 'validation', error);
  }

  private _reset(record: PooledResource<T>, t: number): void {
    record.state = 'returning';
    let outcome: Promise<void> | void;
    try {
      outcome = this._factory.reset!(record.resource);
    } catch (error) {
      this._resetFailed(record, error);
      return;
    }
    // A reset that answers synchronously (nothing to undo) hands the resource on at once, with
    // no promise hops between this release and the next waiter.
    if (!(outcome instanceof Promise)) {
      this._giveBackRecord(record, t);
      return;
    }
    const pending = outcome;
    const timeout = this._options.resetTimeoutMillis;
    this._track(
      boundedCall(
        () => pending,
        timeout,
        () => new HookFailedError('reset', undefined, timeout),
      ).then(
        () => this._giveBackRecord(record, this._now()),
        (error: unknown) => this._resetFailed(record, error),
      ),
    );
  }

  private _resetFailed(record: PooledResource<T>, error: unknown): void {
    const failure = error instanceof HookFailedError ? error : new HookFailedError('reset', error);
    this.emit('error', { error: failure, resource: record.resource });
    this._destroy(record, 'reset', failure);
    this._afterBusyEnded();
    this._pump();
  }

  // --- the pump -------------------------------------------------------------------------------

  /**
   * Matches idle resources with waiters, then starts as many creations as demand and `max`
   * allow, and the backoff permits.
   */
  private _pump(): void {
    if (this._closed) return;
    const t = this._now();
    // Resources being validated are already promised to the oldest waiters.
    while (this._waiters.size > this._validating && this._idle.length > 0) {
      const record = this._idle.pop()!;
      if (t >= record.expiresAt) {
        this._destroy(record, 'lifetime');
      } else if (this._needsValidation(record, t)) {
        this._validate(record);
      } else {
        const waiter = this._waiters.serve(t);
        if (waiter === undefined) {
          // Every waiter left was shed as overload.
          this._idle.push(record);
          break;
        }
        this._handTo(waiter, record, t);
      }
    }
    const o = this._options;
    if (this._endPromise !== undefined) {
      // Draining: what is idle now is needed by nobody.
      if (this._waiters.size === 0 && this._idle.length > 0) this._destroyIdle();
    }
    const fillsMin = o.warmMin && !this._minPaused && this._endPromise === undefined;
    for (;;) {
      const supply = this._pendingCreates + this._validating;
      const forWaiters = this._waiters.size - supply;
      const forMin = fillsMin ? o.min - (this._all.size + this._pendingCreates) : 0;
      if (forWaiters <= 0 && forMin <= 0) return;
      if (this._all.size + this._pendingCreates >= o.max) return;
      if (this._backoff.failures > 0) {
        // Recovering from failures: one probe at a time, after its backoff delay.
        if (this._pendingCreates > 0) return;
        if (!this._backoff.mayAttempt(t)) {
          this._armRetryTimer(t);
          return;
        }
        if (this._backoff.state === 'open') this._setCircuit('half-open');
      }
      this._create();
    }
  }

  private _armRetryTimer(t: number): void {
    if (this._retryTimer !== undefined) return;
    const delay = timerDelay(this._backoff.retryAt - t);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = undefined;
      this._pump();
    }, delay);
    this._retryTimer.unref();
  }

  // --- creating -------------------------------------------------------------------------------

  private _create(): void {
    this._pendingCreates++;
    const startedAt = this._now();
    const message: CreateMessage<T> | undefined =
      createStartChannel.hasSubscribers || createEndChannel.hasSubscribers
        ? { pool: this, name: this._options.name }
        : undefined;
    if (message !== undefined && createStartChannel.hasSubscribers) {
      createStartChannel.publish(message);
    }
    const { controller, settled } = attemptCreate(
      this._factory,
      this._options.createTimeoutMillis,
      {
        created: (resource) => {
          this._pendingCreates--;
          this._createControllers.delete(controller);
          if (message !== undefined) this._publishCreateEnd(message, startedAt, { resource });
          this._created(resource, startedAt);
        },
        failed: (error) => {
          this._pendingCreates--;
          this._createControllers.delete(controller);
          if (message !== undefined) this._publishCreateEnd(message, startedAt, { error });
          this._createFailed(error);
        },
        late: (resource) => this._destroyLate(resource),
      },
    );
    this._createControllers.add(controller);
    this._track(settled);
  }

  private _publishCreateEnd(
    message: CreateMessage<T>,
    startedAt: number,
    outcome: { resource: T } | { error: unknown },
  ): void {
    message.durationMillis = this._now() - startedAt;
    if ('resource' in outcome) message.resource = outcome.resource;
    else message.error = outcome.error;
    if (createEndChannel.hasSubscribers) createEndChannel.publish(message);
  }

  private _created(resource: T, startedAt: number): void {
    const t = this._now();
    const wasClosed = this._backoff.state === 'closed';
    const previous = this._backoff.state;
    this._backoff.recordSuccess();
    this._minPaused = false;
    if (!wasClosed) this.emit('circuit', { state: 'closed', previous, lastError: undefined });
    const durationMillis = t - startedAt;
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

  private _createFailed(cause: unknown): void {
    if (this._closed) return; // aborted by end(), not a failure
    const t = this._now();
    this._stats.createFailures++;
    const error = new CreateFailedError(cause, this._backoff.failures + 1);
    const kind = this._classify(cause);
    if (kind === 'unavailable') {
      this._outage(error, t);
    } else {
      // Not an outage, so the circuit stays closed; tell whoever this attempt was for. A
      // permanent error still delays the next attempt (each one costs the server a session).
      if (kind === 'permanent') this._backoff.recordFailure(error, t, false);
      this.emit('error', { error });
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
    this._endWatch?.();
    this._pump();
  }

  /** A creation failed because the server could not be reached: back off, maybe open. */
  private _outage(error: CreateFailedError, t: number): void {
    const previous = this._backoff.state;
    const state = this._backoff.recordFailure(error, t);
    this.emit('error', { error });
    if (state !== previous) {
      this.emit('circuit', { state, previous, lastError: error });
    }
    if (state !== 'open') return;
    // Fail fast: nobody waits out their whole timeout for a database that is down.
    const retryIn = this._backoff.retryAt - t;
    for (let waiter = this._waiters.next(); waiter !== undefined; waiter = this._waiters.next()) {
      this._stats.circuitRejections++;
      waiter.reject(new CircuitOpenError(error, retryIn, true));
    }
  }

  private _classify(error: unknown): CreateErrorKind {
    const factory = this._factory;
    try {
      if (factory.classifyCreateError !== undefined) return factory.classifyCreateError(error);
      if (factory.retryable?.(error) === false) return 'permanent';
    } catch {
      // A classifier that throws says nothing: treat it as the safe default.
    }
    return 'unavailable';
  }

  private _setCircuit(state: CircuitState): void {
    const previous = this._backoff.state;
    if (previous === state) return;
    this._backoff.state = state;
    this.emit('circuit', { state, previous, lastError: this._backoff.lastError });
  }

  /** A resource that arrived after its attempt timed out, or after `end()`. */
  private _destroyLate(resource: T): void {
    this._runDestroy(resource, this._endPromise === undefined ? 'error' : 'end');
  }

  // --- destroying -----------------------------------------------------------------------------

  private _destroy(record: PooledResource<T>, reason: DestroyReason, error?: unknown): void {
    if (record.state === 'gone') return;
    record.state = 'gone';
    this._all.delete(record.resource);
    this._runDestroy(record.resource, reason, error);
  }

  /** Takes every record out of the pool first, then destroys each (see `_sweepIdle`). */
  private _destroyAll(records: readonly (readonly [PooledResource<T>, DestroyReason])[]): void {
    for (const [record] of records) {
      record.state = 'gone';
      this._all.delete(record.resource);
    }
    for (const [record, reason] of records) this._runDestroy(record.resource, reason);
  }

  /** Destroys every idle resource, the idle stack emptied first. */
  private _destroyIdle(): void {
    const idle = this._idle;
    this._idle = [];
    this._destroyAll(idle.map((record) => [record, 'end'] as const));
  }

  private _runDestroy(resource: T, reason: DestroyReason, error?: unknown): void {
    this._stats.destroyed(reason);
    this.emit('destroy', error === undefined ? { resource, reason } : { resource, reason, error });
    if (destroyChannel.hasSubscribers) {
      const name = this._options.name;
      destroyChannel.publish(
        error === undefined
          ? { pool: this, name, resource, reason }
          : { pool: this, name, resource, reason, error },
      );
    }
    const timeout = this._options.destroyTimeoutMillis;
    this._track(
      boundedCall(
        () => this._factory.destroy(resource, reason),
        timeout,
        () => new HookFailedError('destroy', undefined, timeout),
      ).then(undefined, (failure: unknown) => {
        const wrapped =
          failure instanceof HookFailedError ? failure : new HookFailedError('destroy', failure);
        this.emit('error', { error: wrapped, resource });
      }),
    );
  }

  /** Keeps a background task visible to `end()`, which waits for all of them. */
  private _track(task: Promise<unknown>): void {
    this._settling.add(task);
    void task.finally(() => this._settling.delete(task));
  }

  // --- the reaper -----------------------------------------------------------------------------

  private _reap(): void {
    if (this._endPromise !== undefined) return;
    const t = this._now();
    const o = this._options;
    this._minPaused = false;
    this._sweepIdle(t);
    if (o.leakDetectionMillis > 0) {
      findLeaks(this._all.values(), t, o.leakDetectionMillis, (record, heldMillis) => {
        this._stats.leaks++;
        this.emit('leak', {
          resource: record.resource,
          heldMillis,
          stack: record.acquireStack ?? '',
          reclaimed: false,
        });
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
  private _reclaim(record: PooledResource<T>, t: number): void {
    const heldMillis = t - record.acquiredAt;
    if (!record.leakReported) this._stats.leaks++;
    record.leakReported = true;
    this._inUse--;
    this._stats.holdTime.record(heldMillis);
    if (typeof record.resource === 'object' && record.resource !== null) {
      this._revoked.add(record.resource);
    }
    this.emit('leak', {
      resource: record.resource,
      heldMillis,
      stack: record.acquireStack ?? '',
      reclaimed: true,
    });
    this._destroy(record, 'leak');
    this._afterBusyEnded();
  }

  // --- ending ---------------------------------------------------------------------------------

  private _afterBusyEnded(): void {
    this._endWatch?.();
  }

  /** Resources checked out or on their way back (reset). */
  private _busyCount(): number {
    let count = 0;
    for (const record of this._all.values())
      if (record.state === 'busy' || record.state === 'returning') count++;
    return count;
  }

  private async _shutdown(timeoutMillis: number, drain: boolean): Promise<void> {
    clearInterval(this._reaper);
    clearTimeout(this._idleTimer);
    this._idleTimer = undefined;
    const deadline = this._now() + timeoutMillis;
    if (drain) {
      // The work already asked for: waiters are served, idle resources nobody needs go now.
      this._pump();
      await this._waitUntil(() => this._waiters.size === 0, deadline);
    }
    this._close();
    await this._waitUntil(() => this._busyCount() === 0, deadline);
    for (const record of [...this._all.values()]) {
      if (typeof record.resource === 'object' && record.resource !== null) {
        this._revoked.add(record.resource);
      }
      if (record.state === 'busy') this._inUse--;
      this._destroy(record, 'end');
    }
    // Every destroy, validation, reset and late creation settles (each is bounded by a timeout).
    while (this._settling.size > 0) await Promise.allSettled([...this._settling]);
  }

  /** Stops serving the queue: waiters rejected, creations aborted, idle resources destroyed. */
  private _close(): void {
    this._closed = true;
    this._waiters.close();
    clearTimeout(this._retryTimer);
    this._retryTimer = undefined;
    for (let waiter = this._waiters.next(); waiter !== undefined; waiter = this._waiters.next()) {
      waiter.reject(new PoolClosedError('The pool was ended while this caller waited'));
    }
    for (const controller of this._createControllers) {
      controller.abort(new PoolClosedError('The pool was ended while creating'));
    }
    this._destroyIdle();
  }

  /** Resolves once `condition` holds (checked after each change that could meet it) or at `deadline`. */
  private _waitUntil(condition: () => boolean, deadline: number): Promise<void> {
    if (condition() || deadline <= this._now()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this._endWatch = undefined;
        resolve();
      };
      const remaining = deadline - this._now();
      if (remaining <= kMaxTimerMillis) {
        timer = setTimeout(done, Math.max(0, remaining));
        timer.unref();
      }
      this._endWatch = () => {
        if (condition()) done();
      };
    });
  }

  private _counts(): PoolCounts {
    return {
      total: this._all.size,
      idle: this._idle.length,
      inUse: this._inUse,
      pendingCreates: this._pendingCreates,
      waiting: this._waiters.size,
    };
  }
}

import { captureStack } from './caller-stack.js';
import { acquireEndChannel, acquireStartChannel, releaseChannel } from './channels.js';
import { AbortedError, CircuitOpenError, PoolClosedError, ReleaseError } from './errors.js';
import { Lease } from './lease.js';
import type { NormalizedOptions } from './options.js';
import type { PooledResource } from './pooled-resource.js';
import { PoolSupply } from './pool-supply.js';
import { countExpired, listLeases } from './reaper.js';
import { tracedAcquire } from './traced-acquire.js';
import type {
  AcquireOptions,
  CircuitState,
  DestroyReason,
  EndOptions,
  Factory,
  LeaseInfo,
  PoolOptions,
  PoolStats,
} from './types.js';

/** `end()` waits this long for checked-out resources unless told otherwise. */
const kDefaultEndTimeoutMillis = 30_000;

/**
 * A pool of any resource. The driver plugs in through `Factory`; see `PoolOptions` for sizing,
 * timeouts, validation, backoff and leak detection.
 *
 * Built in three layers that are one object at run time: `PoolState` (resources, their
 * states and the waiters), `PoolSupply` (creating, retiring, ending) and this class, the
 * public API with the acquire and release fast paths. Every change of state ends in
 * `_pump()`, the one place that matches idle resources with waiters and decides whether to
 * create more.
 *
 * @example
 * const pool = new Pool(factory, { max: 10, acquireTimeoutMillis: 5_000 });
 * const answer = await pool.use((conn) => conn.query('SELECT 1'));
 * await pool.end();
 */
export class Pool<T> extends PoolSupply<T> {
  /** Leak detection or reclaim is on: each acquire keeps its caller's stack. */
  private readonly _capturesStacks: boolean;
  private readonly _giveBack = (resource: T, error?: unknown): void =>
    this.release(resource, error);

  constructor(factory: Factory<T>, options: PoolOptions = {}) {
    super(factory, options);
    const o = this._options;
    this._capturesStacks = o.leakDetectionMillis > 0 || o.leakReclaimMillis > 0;
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
    return this._pendingCreates();
  }

  get ended(): boolean {
    return this._endPromise !== undefined;
  }

  get circuitState(): CircuitState {
    return this._creator.backoff.state;
  }

  /** Checked-out resources past their lifetime, to be retired when they come back. */
  get expiredCount(): number {
    return countExpired(this._all.values(), this._now());
  }

  /**
   * Resolves to a resource, which the caller must give back with `release`. When an idle
   * resource is ready this allocates no timer and resolves on the next microtask.
   */
  acquire(options?: AcquireOptions): Promise<T> {
    // One read per channel when nobody subscribes (docs/channels.md).
    if (acquireStartChannel.hasSubscribers || acquireEndChannel.hasSubscribers) {
      return tracedAcquire(this, this._options.name, this._now, () => this._acquire(options));
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
        const record = this._idle[this._idle.length - 1]!;
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
    const backoff = this._creator.backoff;
    if (backoff.rejectsCallers(t)) {
      this._stats.circuitRejections++;
      return Promise.reject(new CircuitOpenError(backoff.lastError, backoff.retryAt - t));
    }
    const full = this._waiters.full();
    if (full !== undefined) return Promise.reject(full);
    const waiter = this._enqueue(t, signal, stack);
    // At capacity with nothing idle, only a release can help: skip the pump.
    if (this._idle.length > 0 || this._all.size + this._pendingCreates() < this._options.max)
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
      this._refuseRelease(resource, record);
      return;
    }
    const t = this._now();
    this._move(record, 'returning');
    const heldMillis = t - record.acquiredAt;
    this._stats.holdTime.record(heldMillis);
    const failed = error !== undefined && error !== null && error !== false;
    if (this.listeners.release !== undefined || releaseChannel.hasSubscribers) {
      this._publishRelease(resource, heldMillis, failed ? error : undefined);
    }
    // The usual case in a few field reads; every other one is decided by `_releaseRare`. Kept
    // apart so that V8 inlines the usual path (its inlining budget is cumulative).
    if (failed || !this._plainlyReusable(record, t)) this._releaseRare(record, t, failed, error);
    else if (this._factory.reset !== undefined) this._reset(record, t);
    else this._giveBackRecord(record, t);
  }

  /** Nothing stands in the way of reusing it: no eviction, end, use limit, lifetime or budget. */
  private _plainlyReusable(record: PooledResource<T>, t: number): boolean {
    return (
      !record.doomed &&
      this._endPromise === undefined &&
      this._seat === undefined &&
      record.uses < this._options.maxUses &&
      t < record.expiresAt
    );
  }

  /** A release that may end in a destroy: decides why, or hands the resource on after all. */
  private _releaseRare(
    record: PooledResource<T>,
    t: number,
    failed: boolean,
    error: unknown,
  ): void {
    let reason: DestroyReason | undefined;
    if (failed || record.doomed) reason = 'error';
    else if (this._endPromise !== undefined && !this._servesWaiters()) reason = 'end';
    else if (record.uses >= this._options.maxUses) reason = 'uses';
    else if (t >= record.expiresAt) reason = 'lifetime';
    else if (this._seat?.shouldYield() === true) reason = 'budget';
    if (reason !== undefined) {
      this._destroy(record, reason, failed ? error : undefined);
      this._pump();
    } else if (this._factory.reset !== undefined) this._reset(record, t);
    else this._giveBackRecord(record, t);
  }

  /** A release of something not checked out: ignored if it was taken back, else an error. */
  private _refuseRelease(resource: T, record: PooledResource<T> | undefined): void {
    if (typeof resource === 'object' && resource !== null && this._revoked.has(resource)) {
      return; // end() or leak reclaim already took it back and destroyed it.
    }
    throw new ReleaseError(
      record === undefined
        ? 'Cannot release a resource that is not checked out from this pool (released twice?)'
        : 'Cannot release a resource that is not checked out (released twice?)',
    );
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
    return listLeases(this._all.values(), this._now());
  }

  stats(): PoolStats {
    return this._stats.snapshot({
      total: this._all.size,
      idle: this._idle.length,
      inUse: this._inUse,
      pendingCreates: this._pendingCreates(),
      waiting: this._waiters.size,
      max: this._options.max,
      min: this._options.min,
      circuit: this._creator.backoff.state,
    });
  }
}

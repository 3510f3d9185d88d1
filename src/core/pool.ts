import { boundedCall } from './bounded-call.js';
import { monotonicClock } from './clock.js';
import { CreateBackoff } from './create-backoff.js';
import { TypedEmitter } from './emitter.js';
import {
  AbortedError,
  AcquireTimeoutError,
  CircuitOpenError,
  CreateFailedError,
  HookFailedError,
  ListenerError,
  PoolClosedError,
  PoolError,
  QueueFullError,
  ReleaseError,
  type PoolCounts,
} from './errors.js';
import { Lease } from './lease.js';
import { normalizeOptions, type NormalizedOptions } from './options.js';
import type { PendingAcquire } from './pending-acquire.js';
import { PooledResource } from './pooled-resource.js';
import { PoolStatsRecorder } from './stats.js';
import { attemptCreate } from './create-attempt.js';
import { WaiterQueue } from './waiter-queue.js';
import type {
  AcquireOptions,
  CircuitState,
  DestroyReason,
  EndOptions,
  Factory,
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
 * Every change of state ends in `#pump()`, the one place that matches idle resources with
 * waiters and decides whether to create more.
 *
 * @example
 * const pool = new Pool(factory, { max: 10, acquireTimeoutMillis: 5_000 });
 * const answer = await pool.use((conn) => conn.query('SELECT 1'));
 * await pool.end();
 */
export class Pool<T> extends TypedEmitter<PoolEvents<T>> {
  readonly #factory: Factory<T>;
  readonly #now = monotonicClock();
  readonly #options: NormalizedOptions;

  /** Every live resource (idle, busy or being checked), by identity. */
  readonly #all = new Map<T, PooledResource<T>>();
  /** Idle resources as a stack: the most recently used is handed out first, so the rest age
   * out under `idleTimeoutMillis` and the pool shrinks when load drops. */
  #idle: PooledResource<T>[] = [];
  readonly #waiters: WaiterQueue<T>;
  #inUse = 0;
  #pendingCreates = 0;
  #validating = 0;

  readonly #backoff: CreateBackoff;
  readonly #stats = new PoolStatsRecorder();
  readonly #createControllers = new Set<AbortController>();
  readonly #settling = new Set<Promise<unknown>>();
  /** Resources `end()` destroyed while still checked out; their late release is ignored. */
  readonly #forceDestroyed = new WeakSet<object>();

  #retryTimer: NodeJS.Timeout | undefined;
  readonly #reaper: NodeJS.Timeout;
  #endPromise: Promise<void> | undefined;
  #onIdleDrained: (() => void) | undefined;
  readonly #giveBack = (resource: T, error?: unknown): void => this.release(resource, error);

  constructor(factory: Factory<T>, options: PoolOptions = {}) {
    super();
    if (typeof factory?.create !== 'function' || typeof factory.destroy !== 'function') {
      throw new PoolError(
        'ERR_POOL_INVALID_OPTION',
        'The factory must provide create(signal) and destroy(resource) functions',
      );
    }
    this.#factory = factory;
    this.#options = normalizeOptions(options);
    const o = this.#options;
    this.#waiters = new WaiterQueue<T>(o.acquireTimeoutMillis, this.#now, (waiter, t) =>
      this.#timedOut(waiter, t),
    );
    this.#backoff = new CreateBackoff(
      o.createRetryBaseMillis,
      o.createRetryMaxMillis,
      o.circuitBreakerThreshold,
    );
    // One reaper for idle timeouts, lifetimes, leaks and `min`: no timer per release.
    const interval =
      o.leakDetectionMillis > 0
        ? Math.min(o.reapIntervalMillis, o.leakDetectionMillis)
        : o.reapIntervalMillis;
    this.#reaper = setInterval(() => this.#reap(), interval);
    this.#reaper.unref();
    this.#pump();
  }

  /** The validated, frozen options in force. */
  get options(): NormalizedOptions {
    return this.#options;
  }

  get total(): number {
    return this.#all.size;
  }
  get idle(): number {
    return this.#idle.length;
  }
  get inUse(): number {
    return this.#inUse;
  }
  get waiting(): number {
    return this.#waiters.size;
  }
  get pendingCreates(): number {
    return this.#pendingCreates;
  }
  get ended(): boolean {
    return this.#endPromise !== undefined;
  }
  get circuitState(): CircuitState {
    return this.#backoff.state;
  }
  /** Checked-out resources past their lifetime, to be retired when they come back. */
  get expiredCount(): number {
    const t = this.#now();
    let count = 0;
    for (const record of this.#all.values()) {
      if (record.state === 'busy' && t >= record.expiresAt) count++;
    }
    return count;
  }

  /**
   * Resolves to a resource, which the caller must give back with `release`. When an idle
   * resource is ready this allocates no timer and resolves on the next microtask.
   */
  acquire(options?: AcquireOptions): Promise<T> {
    if (this.#endPromise !== undefined) {
      return Promise.reject(new PoolClosedError('Cannot acquire: the pool has been ended'));
    }
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(new AbortedError(signal.reason));
    const t = this.#now();
    const stack = this.#options.leakDetectionMillis > 0 ? captureStack() : undefined;
    // Fast path: nobody is ahead of us and an idle resource is ready.
    if (this.#waiters.size === 0) {
      while (this.#idle.length > 0) {
        const record = this.#idle.pop()!;
        if (t >= record.expiresAt) {
          this.#destroy(record, 'lifetime');
          continue;
        }
        if (this.#needsValidation(record, t)) {
          // Queue first, so the validated resource goes to us (the head) by the FIFO rule.
          const waiter = this.#enqueue(t, signal, stack);
          this.#validate(record);
          return withCallerStack(waiter.promise);
        }
        this.#checkout(record, t, stack);
        this.#stats.acquired(0, false);
        this.#emitAcquire(record.resource, 0);
        return Promise.resolve(record.resource);
      }
    }
    if (this.#backoff.rejectsCallers(t)) {
      this.#stats.circuitRejections++;
      return Promise.reject(
        new CircuitOpenError(this.#backoff.lastError, this.#backoff.retryAt - t),
      );
    }
    if (this.#waiters.size >= this.#options.maxWaiting) {
      this.#stats.rejectedQueueFull++;
      return Promise.reject(new QueueFullError(this.#options.maxWaiting));
    }
    const waiter = this.#enqueue(t, signal, stack);
    // At capacity with nothing idle, only a release can help: skip the pump.
    if (this.#idle.length > 0 || this.#all.size + this.#pendingCreates < this.#options.max)
      this.#pump();
    return withCallerStack(waiter.promise);
  }

  /**
   * Gives a resource back. With an error (anything but `undefined`, `null` or `false`) the
   * resource is destroyed instead of reused. Throws `ERR_POOL_RELEASE_INVALID` when the
   * resource is not checked out from this pool (for example, released twice).
   */
  release(resource: T, error?: unknown): void {
    const record = this.#all.get(resource);
    if (record === undefined || record.state !== 'busy') {
      if (typeof resource === 'object' && resource !== null && this.#forceDestroyed.has(resource)) {
        return; // end() already destroyed it after its deadline; nothing left to do.
      }
      throw new ReleaseError(
        record === undefined
          ? 'Cannot release a resource that is not checked out from this pool (released twice?)'
          : 'Cannot release a resource that is not checked out (released twice?)',
      );
    }
    const t = this.#now();
    this.#inUse--;
    const heldMillis = t - record.acquiredAt;
    this.#stats.holdTime.record(heldMillis);
    const failed = error !== undefined && error !== null && error !== false;
    if (this.listeners.release !== undefined) {
      this.emit('release', { resource, heldMillis, error: failed ? error : undefined });
    }
    if (failed) this.#destroy(record, 'error', error);
    else if (this.#endPromise !== undefined) this.#destroy(record, 'end');
    else if (record.uses >= this.#options.maxUses) this.#destroy(record, 'uses');
    else if (t >= record.expiresAt) this.#destroy(record, 'lifetime');
    else if (this.#factory.reset !== undefined) {
      this.#reset(record);
      return;
    } else {
      this.#giveBackRecord(record, t);
      return;
    }
    this.#afterBusyEnded();
    this.#pump();
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
    return new Lease<T>(resource, this.#giveBack);
  }

  /**
   * Closes the pool. Idempotent: every call returns the same promise. Waiters are rejected
   * with `ERR_POOL_CLOSED`, idle resources are destroyed, checked-out ones are destroyed as
   * they come back, or when `timeoutMillis` (default 30 s) runs out. Never rejects.
   */
  end(options?: EndOptions): Promise<void> {
    if (this.#endPromise === undefined) {
      let resolve!: () => void;
      this.#endPromise = new Promise<void>((r) => (resolve = r));
      void this.#shutdown(options?.timeoutMillis ?? kDefaultEndTimeoutMillis).then(resolve);
    }
    return this.#endPromise;
  }

  stats(): PoolStats {
    return this.#stats.snapshot({
      total: this.#all.size,
      idle: this.#idle.length,
      inUse: this.#inUse,
      pendingCreates: this.#pendingCreates,
      waiting: this.#waiters.size,
      max: this.#options.max,
      min: this.#options.min,
      circuit: this.#backoff.state,
    });
  }

  protected override onListenerError(event: keyof PoolEvents<T>, error: unknown): void {
    if (event === 'error') return; // an error listener that throws has nowhere left to go
    this.emit('error', { error: new ListenerError(String(event), error) });
  }

  // --- waiting --------------------------------------------------------------------------------

  #enqueue(
    t: number,
    signal: AbortSignal | undefined,
    stack: string | undefined,
  ): PendingAcquire<T> {
    const waiter = this.#waiters.enqueue(t, stack);
    if (signal !== undefined) waiter.watch(signal, () => this.#abortWaiter(waiter, signal.reason));
    return waiter;
  }

  #abortWaiter(waiter: PendingAcquire<T>, reason: unknown): void {
    if (!this.#waiters.cancel(waiter)) return;
    this.#stats.aborts++;
    waiter.reject(new AbortedError(reason));
  }

  #timedOut(waiter: PendingAcquire<T>, t: number): void {
    this.#stats.timeouts++;
    waiter.reject(
      new AcquireTimeoutError(t - waiter.enqueuedAt, this.#counts(), this.#backoff.lastError),
    );
  }

  // --- handing out and taking back ----------------------------------------------------------

  #checkout(record: PooledResource<T>, t: number, stack: string | undefined): void {
    record.state = 'busy';
    record.uses++;
    record.acquiredAt = t;
    record.acquireStack = stack;
    record.leakReported = false;
    this.#inUse++;
    if (this.#options.allowExitOnIdle) this.#factory.ref?.(record.resource);
  }

  #emitAcquire(resource: T, waitedMillis: number): void {
    if (this.listeners.acquire !== undefined) this.emit('acquire', { resource, waitedMillis });
  }

  /** A resource that is fit for use goes straight to the oldest waiter, or to the idle stack. */
  #giveBackRecord(record: PooledResource<T>, t: number): void {
    // end() may have destroyed it while a reset or validation was still running.
    if (record.state === 'gone') return;
    record.lastUsedAt = t;
    if (this.#endPromise !== undefined) {
      this.#destroy(record, 'end');
      this.#afterBusyEnded();
      return;
    }
    const waiter = this.#waiters.next();
    if (waiter !== undefined) {
      this.#handTo(waiter, record, t);
      return;
    }
    record.state = 'idle';
    this.#idle.push(record);
    if (this.#options.allowExitOnIdle) this.#factory.unref?.(record.resource);
    this.#afterBusyEnded();
  }

  #handTo(waiter: PendingAcquire<T>, record: PooledResource<T>, t: number): void {
    const waited = t - waiter.enqueuedAt;
    this.#checkout(record, t, waiter.stack);
    this.#stats.acquired(waited, true);
    this.#emitAcquire(record.resource, waited);
    waiter.resolve(record.resource);
  }

  #needsValidation(record: PooledResource<T>, t: number): boolean {
    return (
      this.#factory.validate !== undefined &&
      t - record.lastUsedAt > this.#options.validateAfterIdleMillis
    );
  }

  #validate(record: PooledResource<T>): void {
    record.state = 'returning';
    this.#validating++;
    const timeout = this.#options.validateTimeoutMillis;
    const check = boundedCall(
      () => this.#factory.validate!(record.resource),
      timeout,
      () => new HookFailedError('validate', undefined, timeout),
    );
    this.#track(
      check.then(
        (ok) => {
          this.#validating--;
          if (ok) this.#giveBackRecord(record, this.#now());
          else {
            this.#validationFailed(record, undefined);
            this.#afterBusyEnded();
          }
          this.#pump();
        },
        (error: unknown) => {
          this.#validating--;
          this.#validationFailed(
            record,
            error instanceof HookFailedError ? error : new HookFailedError('validate', error),
          );
          this.#afterBusyEnded();
          this.#pump();
        },
      ),
    );
  }

  #validationFailed(record: PooledResource<T>, error: unknown): void {
    this.#stats.validationFailures++;
    this.#destroy(record, 'validation', error);
  }

  #reset(record: PooledResource<T>): void {
    record.state = 'returning';
    const timeout = this.#options.resetTimeoutMillis;
    const reset = boundedCall(
      () => this.#factory.reset!(record.resource),
      timeout,
      () => new HookFailedError('reset', undefined, timeout),
    );
    this.#track(
      reset.then(
        () => this.#giveBackRecord(record, this.#now()),
        (error: unknown) => {
          const failure =
            error instanceof HookFailedError ? error : new HookFailedError('reset', error);
          this.emit('error', { error: failure, resource: record.resource });
          this.#destroy(record, 'reset', failure);
          this.#afterBusyEnded();
          this.#pump();
        },
      ),
    );
  }

  // --- the pump -------------------------------------------------------------------------------

  /**
   * Matches idle resources with waiters, then starts as many creations as demand and `max`
   * allow, and the backoff permits.
   */
  #pump(): void {
    if (this.#endPromise !== undefined) return;
    const t = this.#now();
    // Resources being validated are already promised to the oldest waiters.
    while (this.#waiters.size > this.#validating && this.#idle.length > 0) {
      const record = this.#idle.pop()!;
      if (t >= record.expiresAt) {
        this.#destroy(record, 'lifetime');
      } else if (this.#needsValidation(record, t)) {
        this.#validate(record);
      } else {
        this.#handTo(this.#waiters.next()!, record, t);
      }
    }
    const o = this.#options;
    for (;;) {
      const supply = this.#pendingCreates + this.#validating;
      const forWaiters = this.#waiters.size - supply;
      const forMin = o.min - (this.#all.size + this.#pendingCreates);
      if (forWaiters <= 0 && forMin <= 0) return;
      if (this.#all.size + this.#pendingCreates >= o.max) return;
      if (this.#backoff.failures > 0) {
        // Recovering from failures: one probe at a time, after its backoff delay.
        if (this.#pendingCreates > 0) return;
        if (!this.#backoff.mayAttempt(t)) {
          this.#armRetryTimer(t);
          return;
        }
        if (this.#backoff.state === 'open') this.#setCircuit('half-open');
      }
      this.#create();
    }
  }

  #armRetryTimer(t: number): void {
    if (this.#retryTimer !== undefined) return;
    const delay = Math.min(2_147_483_647, Math.max(1, Math.ceil(this.#backoff.retryAt - t)));
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#pump();
    }, delay);
    this.#retryTimer.unref();
  }

  // --- creating -------------------------------------------------------------------------------

  #create(): void {
    this.#pendingCreates++;
    const startedAt = this.#now();
    const { controller, settled } = attemptCreate(
      this.#factory,
      this.#options.createTimeoutMillis,
      {
        created: (resource) => {
          this.#pendingCreates--;
          this.#createControllers.delete(controller);
          this.#created(resource, startedAt);
        },
        failed: (error) => {
          this.#pendingCreates--;
          this.#createControllers.delete(controller);
          this.#createFailed(error);
        },
        late: (resource) => this.#destroyLate(resource),
      },
    );
    this.#createControllers.add(controller);
    this.#track(
      new Promise<void>((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        void settled.then(() => {
          clearTimeout(timer);
          resolve();
        });
        controller.signal.addEventListener(
          'abort',
          () => {
            timer = setTimeout(resolve, this.#options.createTimeoutMillis);
            timer.unref();
          },
          { once: true },
        );
      }),
    );
  }

  #created(resource: T, startedAt: number): void {
    const t = this.#now();
    const wasClosed = this.#backoff.state === 'closed';
    const previous = this.#backoff.state;
    this.#backoff.recordSuccess();
    if (!wasClosed) this.emit('circuit', { state: 'closed', previous, lastError: undefined });
    const durationMillis = t - startedAt;
    this.#stats.created(durationMillis);
    const o = this.#options;
    const lifetime =
      o.maxLifetimeMillis > 0
        ? o.maxLifetimeMillis * (1 - Math.random() * o.maxLifetimeJitter)
        : Infinity;
    const record = new PooledResource(resource, t, lifetime);
    this.#all.set(resource, record);
    this.emit('create', { resource, durationMillis });
    this.#giveBackRecord(record, t);
    this.#pump();
  }

  #createFailed(cause: unknown): void {
    if (this.#endPromise !== undefined) return; // aborted by end(), not a failure
    const t = this.#now();
    this.#stats.createFailures++;
    const error = new CreateFailedError(cause, this.#backoff.failures + 1);
    const previous = this.#backoff.state;
    const state = this.#backoff.recordFailure(error, t);
    this.emit('error', { error });
    if (state !== previous) {
      this.emit('circuit', { state, previous, lastError: error });
    }
    if (state === 'open') {
      // Fail fast: nobody waits out their whole timeout for a database that is down.
      const retryIn = this.#backoff.retryAt - t;
      for (let waiter = this.#waiters.next(); waiter !== undefined; waiter = this.#waiters.next()) {
        this.#stats.circuitRejections++;
        waiter.reject(new CircuitOpenError(error, retryIn));
      }
    }
    this.#pump();
  }

  #setCircuit(state: CircuitState): void {
    const previous = this.#backoff.state;
    if (previous === state) return;
    this.#backoff.state = state;
    this.emit('circuit', { state, previous, lastError: this.#backoff.lastError });
  }

  /** A resource that arrived after its attempt timed out, or after `end()`. */
  #destroyLate(resource: T): void {
    this.#runDestroy(resource, this.#endPromise === undefined ? 'error' : 'end');
  }

  // --- destroying -----------------------------------------------------------------------------

  #destroy(record: PooledResource<T>, reason: DestroyReason, error?: unknown): void {
    if (record.state === 'gone') return;
    record.state = 'gone';
    this.#all.delete(record.resource);
    this.#runDestroy(record.resource, reason, error);
  }

  #runDestroy(resource: T, reason: DestroyReason, error?: unknown): void {
    this.#stats.destroyed(reason);
    this.emit('destroy', error === undefined ? { resource, reason } : { resource, reason, error });
    const timeout = this.#options.destroyTimeoutMillis;
    this.#track(
      boundedCall(
        () => this.#factory.destroy(resource),
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
  #track(task: Promise<unknown>): void {
    this.#settling.add(task);
    void task.finally(() => this.#settling.delete(task));
  }

  // --- the reaper -----------------------------------------------------------------------------

  #reap(): void {
    if (this.#endPromise !== undefined) return;
    const t = this.#now();
    const o = this.#options;
    let surplus = this.#all.size - o.min;
    let kept: PooledResource<T>[] | undefined;
    // Oldest idle resources sit at the bottom of the stack.
    for (let i = 0; i < this.#idle.length; i++) {
      const record = this.#idle[i]!;
      let reason: DestroyReason | undefined;
      if (t >= record.expiresAt) reason = 'lifetime';
      else if (
        o.idleTimeoutMillis > 0 &&
        surplus > 0 &&
        t - record.lastUsedAt >= o.idleTimeoutMillis
      )
        reason = 'idle';
      if (reason === undefined) {
        kept?.push(record);
        continue;
      }
      kept ??= this.#idle.slice(0, i);
      surplus--;
      this.#destroy(record, reason);
    }
    if (kept !== undefined) this.#idle = kept;
    if (o.leakDetectionMillis > 0) this.#detectLeaks(t);
    this.#pump();
  }

  #detectLeaks(t: number): void {
    for (const record of this.#all.values()) {
      if (record.state !== 'busy' || record.leakReported) continue;
      const heldMillis = t - record.acquiredAt;
      if (heldMillis < this.#options.leakDetectionMillis) continue;
      record.leakReported = true;
      this.#stats.leaks++;
      this.emit('leak', {
        resource: record.resource,
        heldMillis,
        stack: record.acquireStack ?? '',
      });
    }
  }

  // --- ending ---------------------------------------------------------------------------------

  #afterBusyEnded(): void {
    if (this.#onIdleDrained !== undefined && this.#busyCount() === 0) this.#onIdleDrained();
  }

  /** Resources checked out or on their way back (reset). */
  #busyCount(): number {
    let count = 0;
    for (const record of this.#all.values())
      if (record.state === 'busy' || record.state === 'returning') count++;
    return count;
  }

  async #shutdown(timeoutMillis: number): Promise<void> {
    this.#waiters.close();
    clearTimeout(this.#retryTimer);
    clearInterval(this.#reaper);
    this.#retryTimer = undefined;
    for (let waiter = this.#waiters.next(); waiter !== undefined; waiter = this.#waiters.next()) {
      waiter.reject(new PoolClosedError('The pool was ended while this caller waited'));
    }
    for (const controller of this.#createControllers) {
      controller.abort(new PoolClosedError('The pool was ended while creating'));
    }
    for (const record of this.#idle) this.#destroy(record, 'end');
    this.#idle = [];
    if (this.#busyCount() > 0) await this.#waitForBusy(timeoutMillis);
    for (const record of [...this.#all.values()]) {
      if (typeof record.resource === 'object' && record.resource !== null) {
        this.#forceDestroyed.add(record.resource);
      }
      if (record.state === 'busy') this.#inUse--;
      this.#destroy(record, 'end');
    }
    // Every destroy, validation, reset and late creation settles (each is bounded by a timeout).
    while (this.#settling.size > 0) await Promise.allSettled([...this.#settling]);
  }

  #waitForBusy(timeoutMillis: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.#onIdleDrained = undefined;
        resolve();
      };
      if (timeoutMillis <= 2_147_483_647) {
        timer = setTimeout(done, timeoutMillis);
        timer.unref();
      }
      this.#onIdleDrained = done;
    });
  }

  #counts(): PoolCounts {
    return {
      total: this.#all.size,
      idle: this.#idle.length,
      inUse: this.#inUse,
      pendingCreates: this.#pendingCreates,
      waiting: this.#waiters.size,
    };
  }
}

/**
 * Waiters are rejected from timers and I/O callbacks, whose stacks say nothing about who
 * called `acquire`. Awaiting inside an async function makes V8 record the awaiting callers
 * ("at async handler"), so on failure the error's stack is extended with them, as Kysely
 * does. Only the waiting path pays for this; an idle resource is returned directly.
 */
async function withCallerStack<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof Error) {
      const callers = new Error().stack?.split('\n').slice(1).join('\n');
      if (callers)
        error.stack = `${error.stack ?? String(error)}\n    --- acquire() called from ---\n${callers}`;
    }
    throw error;
  }
}

function captureStack(): string {
  return new Error('Resource acquired here').stack ?? '';
}

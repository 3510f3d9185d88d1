/**
 * Public types of the driver-agnostic core. Drivers plug in through `Factory`; nothing in
 * `src/core/` knows what a resource is.
 */
import type { ConnectionBudget } from './budget.js';
import type { PoolError } from './errors.js';

/**
 * How the pool makes, checks and disposes of resources. This is the only way the pool ever
 * touches a driver.
 *
 * @example
 * const factory: Factory<Socket> = {
 *   create: (signal) => connect({ host, port, signal }),
 *   destroy: (socket) => socket.destroy(),
 *   validate: (socket) => !socket.destroyed,
 * };
 */
export interface Factory<T> {
  /**
   * Make one resource. `signal` aborts when the attempt times out (`createTimeoutMillis`) or
   * the pool ends; a resource that arrives after that is destroyed, never leaked.
   */
  create(signal: AbortSignal): Promise<T>;
  /**
   * Dispose of a resource. Bounded by `destroyTimeoutMillis`; errors go to the `error` event.
   * `reason` says why; `'leak'` means it was taken from a borrower who held it longer than
   * `leakReclaimMillis`, and the borrower may still try to use it.
   */
  destroy(resource: T, reason: DestroyReason): Promise<void> | void;
  /**
   * A liveness check, run only on resources that sat idle longer than `validateAfterIdleMillis`.
   * Return `false` or throw to have the resource destroyed instead of handed out.
   */
  validate?(resource: T): Promise<boolean> | boolean;
  /** Run when a resource comes back, before anyone else can get it. Throw to destroy it. */
  reset?(resource: T): Promise<void> | void;
  /**
   * What a `create` error says (see `CreateErrorKind`). Without this hook, `retryable` decides
   * (false: `'permanent'`), and without either every error counts as `'unavailable'`.
   */
  classifyCreateError?(error: unknown): CreateErrorKind;
  /**
   * What a failed `create` cost the server (see `CreateFailureCost`), which decides how soon
   * the next attempt may run. Without this hook every failure counts as `'costly'`.
   */
  createFailureCost?(error: unknown): CreateFailureCost;
  /**
   * Whether a `create` error may go away by retrying. Return false for errors retrying cannot
   * fix (a wrong password, an unknown database). Superseded by `classifyCreateError`.
   */
  retryable?(error: unknown): boolean;
  /**
   * With `allowExitOnIdle`, called when a resource becomes idle (e.g. `socket.unref()`), and
   * `ref` when it is handed out again, so idle resources do not keep the process alive.
   */
  unref?(resource: T): void;
  ref?(resource: T): void;
}

/**
 * How the pool treats a failed creation:
 * - `'unavailable'`: the server could not be reached or is not taking connections (refused,
 *   reset, timed out, starting up). Only these count as an outage: they back off and, after
 *   `circuitBreakerThreshold` in a row, open the circuit. Waiting callers keep waiting.
 * - `'rejected'`: this attempt failed for a reason of its own (a hook of the user's threw):
 *   not an outage. The oldest waiting caller gets the error; nothing backs off, so the next
 *   caller's attempt runs at once.
 * - `'permanent'`: retrying cannot fix it (a wrong password, an unknown database). Every
 *   waiting caller gets the error at once. The next attempt still waits its backoff delay
 *   (each one costs the server a session), but the circuit does not open.
 */
export type CreateErrorKind = 'unavailable' | 'rejected' | 'permanent';

/**
 * What a failed creation cost the server, which paces the next attempt (backing off by cost):
 * - `'free'`: the server never saw it (a refused TCP connect, a missing Unix socket). Trying
 *   again costs nothing, so the pool probes often: every `createProbeIntervalMillis` to 1.5
 *   times that (at random), without growth, and serves as soon as a probe succeeds.
 * - `'costly'` (the default): it reached the server and may have cost it a session (accepted,
 *   then failed: a handshake or authentication error, a reset, a timeout). Exponential backoff
 *   with full jitter (`createRetryBaseMillis`, `createRetryMaxMillis`), so that a struggling
 *   server is not hammered.
 * - `'starting'`: the server answered that it is starting up, shutting down or recovering, and
 *   will say more soon. The next attempt runs `createProbeIntervalMillis` later, fixed.
 *
 * No delay exceeds `createRetryMaxMillis`. Only `'costly'` failures grow the exponent.
 */
export type CreateFailureCost = 'free' | 'costly' | 'starting';

export interface PoolOptions {
  /**
   * A name for this pool, carried by metrics, diagnostics channels and health reports so that
   * several pools in one process can be told apart. Default `lifeguard-<n>`, n counting pools.
   */
  name?: string;
  /**
   * Idle resources above `min` are closed after `idleTimeoutMillis`; the pool never closes
   * idle ones below it. Default 0. With `warmMin` (the default) `min` resources are also
   * opened in the background and replaced when they go.
   */
  min?: number;
  /**
   * Open `min` resources in the background at start, and replace them when they are retired.
   * Default true. Off, `min` is only a floor for idle removal (pg.Pool's meaning).
   */
  warmMin?: boolean;
  /** Upper bound on resources that exist or are being created. Default 10. */
  max?: number;
  /**
   * A cap shared with other pools (`ConnectionBudget`): the pool joins it under its `name`,
   * with its `min` and `max`, takes a slot before each creation and gives it back once the
   * resource is destroyed. When the budget is full its waiters wait for a slot (fairly across
   * pools); a pool over its share closes idle resources, and resources coming back, for
   * others who wait (destroy reason `budget`). Default none.
   */
  budget?: ConnectionBudget | undefined;
  /** How long a caller may wait in the queue. Default 30 000. `Infinity` waits forever. */
  acquireTimeoutMillis?: number;
  /** One creation attempt. Default 10 000. */
  createTimeoutMillis?: number;
  /** One destroy call. Default 5 000. */
  destroyTimeoutMillis?: number;
  /** Idle resources above `min` are closed after this long. Default 30 000; 0 disables. */
  idleTimeoutMillis?: number;
  /** Retire a resource after this age (with jitter), on return, never while in use. 0 disables. */
  maxLifetimeMillis?: number;
  /** Fraction of `maxLifetimeMillis` removed at random per resource. Default 0.1. */
  maxLifetimeJitter?: number;
  /** Retire a resource after this many acquires. Default Infinity. */
  maxUses?: number;
  /** Only resources idle longer than this are validated on acquire. Default 500. */
  validateAfterIdleMillis?: number;
  /** Bound on one `validate` call; a hung check counts as a failed one. Default 5 000. */
  validateTimeoutMillis?: number;
  /** Bound on one `reset` call; a hung reset destroys the resource. Default 5 000. */
  resetTimeoutMillis?: number;
  /** Reject acquires at once when this many callers are waiting. Default Infinity. */
  maxWaiting?: number;
  /**
   * Overload shedding in the style of CoDel: once the queue has not emptied for
   * `overloadIntervalMillis`, callers that have waited longer than this are rejected with
   * `ERR_POOL_OVERLOADED` instead of being served late, oldest first. Keeps the latency of
   * those served near this target when more load arrives than the pool can serve. 0 (default)
   * disables. See docs/core.md for when to enable it.
   */
  overloadTargetMillis?: number;
  /** How long the queue must stay non-empty before shedding starts. Default 100. */
  overloadIntervalMillis?: number;
  /** Backoff after a failed create: full jitter over base * 2^n, capped. Defaults 100 / 10 000. */
  createRetryBaseMillis?: number;
  createRetryMaxMillis?: number;
  /**
   * The pace of probes after failures that cost the server nothing or that it answered with
   * "starting up" (see `CreateFailureCost`). Default 200: 4 to 5 attempts per second while
   * connects are refused, and service within about that long once the server is back.
   */
  createProbeIntervalMillis?: number;
  /** Consecutive create failures that open the circuit. Default 5; Infinity never opens it. */
  circuitBreakerThreshold?: number;
  /** Report a resource held longer than this as a `leak` event. 0 (default) disables. */
  leakDetectionMillis?: number;
  /**
   * The hard limit: a resource held longer than this is taken back and destroyed (reason
   * `'leak'`, with a `leak` event carrying `reclaimed: true`), so a leak cannot starve the
   * pool. The borrower's later `release` is ignored; using the resource is up to the driver
   * to refuse (`lifeguard/pg` fails it with `ERR_PG_CLIENT_RECLAIMED`). Set it well above
   * your longest legitimate checkout. 0 (default) disables.
   */
  leakReclaimMillis?: number;
  /** How often the one background reaper runs (idle, lifetime, leaks, min). Default 1 000. */
  reapIntervalMillis?: number;
  /**
   * Append the caller's async stack ("at async handler ...") to errors of acquires that fail
   * after waiting (timeouts, open circuit, shed, end), whose own stack otherwise shows only the
   * timer or event that failed them. Errors raised at once always carry the caller's stack.
   * It costs one derived promise per acquire that has to wait: about 20% of raw acquire/release
   * throughput with 100 callers on 10 trivial resources (BENCHMARKS.md), nothing measurable
   * next to a database round trip. So it is off by default in the core, whose resources may be
   * as cheap as an object, and on by default in `lifeguard/pg`.
   */
  asyncStackTraces?: boolean;
  /** Let the process exit while the pool only holds idle resources (calls factory.unref/ref). */
  allowExitOnIdle?: boolean;
}

export interface AcquireOptions {
  /** Cancels the acquire while it waits. The resource it would have got goes to someone else. */
  signal?: AbortSignal;
}

/** One checked-out resource, as `pool.leases()` lists it. */
export interface LeaseInfo<T> {
  readonly resource: T;
  /** How long it has been held, in milliseconds. */
  readonly heldMillis: number;
  /** Times it has been handed out, this checkout included. */
  readonly uses: number;
  /**
   * Where it was acquired: captured only while leak detection or reclaim is on, since taking
   * a stack on every acquire costs more than the rest of the acquire.
   */
  readonly stack: string | undefined;
}

export interface EndOptions {
  /**
   * Let the work already asked for finish first (default true): callers already waiting are
   * still served (resources are still created for them), and only then is everything closed.
   * New acquires are refused from the moment `end()` is called. With false, waiting callers
   * are rejected with `ERR_POOL_CLOSED` at once. `timeoutMillis` bounds both.
   */
  drain?: boolean;
  /**
   * How long to wait for waiting callers and checked-out resources before rejecting and
   * destroying them. Default 30 000, so that a leaked resource cannot make `end()` hang;
   * `Infinity` waits for every release.
   */
  timeoutMillis?: number;
}

/** Why a resource was destroyed. `budget`: given up for another pool of a shared budget. */
export type DestroyReason =
  'idle' | 'lifetime' | 'uses' | 'validation' | 'error' | 'reset' | 'leak' | 'end' | 'budget';

export type CircuitState = 'closed' | 'open' | 'half-open';

/** The events a pool emits, and the argument each listener gets. */
export interface PoolEvents<T> {
  create: { resource: T; durationMillis: number };
  acquire: { resource: T; waitedMillis: number };
  release: { resource: T; heldMillis: number; error: unknown };
  destroy: { resource: T; reason: DestroyReason; error?: unknown };
  error: { error: PoolError; resource?: T };
  /**
   * A resource held longer than `leakDetectionMillis` (once per checkout), or taken back after
   * `leakReclaimMillis` (`reclaimed: true`). `stack` is where it was acquired.
   */
  leak: { resource: T; heldMillis: number; stack: string; reclaimed: boolean };
  circuit: { state: CircuitState; previous: CircuitState; lastError: unknown };
}

/** count/sum/min/max plus a log2 histogram, enough for mean and approximate percentiles. */
export interface Summary {
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly p50: number;
  readonly p99: number;
}

export interface PoolStats {
  // gauges
  readonly total: number;
  readonly idle: number;
  readonly inUse: number;
  readonly pendingCreates: number;
  readonly waiting: number;
  readonly max: number;
  readonly min: number;
  readonly circuit: CircuitState;
  // cumulative counters
  readonly acquires: number;
  readonly waitedAcquires: number;
  readonly timeouts: number;
  readonly aborts: number;
  readonly rejectedQueueFull: number;
  /** Acquires rejected at once, or waiters failed, because the circuit was open. */
  readonly circuitRejections: number;
  /** Waiters shed with `ERR_POOL_OVERLOADED` by queue management (see `overload`). */
  readonly shed: number;
  readonly creates: number;
  readonly createFailures: number;
  readonly validationFailures: number;
  readonly leaks: number;
  readonly destroys: Readonly<Record<DestroyReason, number>>;
  // latency summaries in milliseconds
  readonly waitTime: Summary;
  readonly holdTime: Summary;
  readonly createTime: Summary;
}

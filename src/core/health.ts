/**
 * Health checks: "can this pool hand out a resource, and does that resource answer?", in a
 * form a load balancer or an orchestrator can poll.
 *
 * A check acquires one resource, runs a caller-supplied probe on it (`SELECT 1` for
 * PostgreSQL), gives it back and reports a status with the pool's stats. It is built to be
 * polled against a pool in trouble:
 *
 * - It always answers within `timeoutMillis`: the acquire is cancelled through its signal and
 *   a probe that never settles is abandoned. A resource whose probe failed or hung is released
 *   with the error, so the pool destroys it instead of handing it on.
 * - Checks of one pool never pile up: while one is running, every other caller gets the same
 *   report (one acquire, one probe). An acquire that the source cannot cancel (lifeguard/pg's
 *   `connect()`) is "parked" when the deadline passes, and the next check waits for that same
 *   acquire instead of queueing another; a resource that arrives with nobody waiting for it is
 *   released at once.
 * - With the circuit open it reports `down` without touching the pool at all.
 *
 * Statuses, decided in this order:
 * - `down`: the circuit is open (before or after the check); or the acquire failed (pool
 *   ended, circuit opened, creation failed) or did not finish within `timeoutMillis`; or the
 *   probe threw, answered `false` or did not finish within `timeoutMillis`. `error` says which.
 * - `degraded`: the probe answered, but something is wrong with the pool's capacity. `reasons`
 *   lists each of: `circuit-half-open` (creation failed lately; a probe creation is deciding),
 *   `waiting` (more callers queued than `degradedWaiting`, by default the pool's `max`),
 *   `slow-acquire` / `slow-probe` (the acquire or the probe took longer than `slowMillis`).
 *   Also `overloaded`, without a probe: the pool shed the check's acquire
 *   (`ERR_POOL_QUEUE_FULL`, `ERR_POOL_OVERLOADED`), which says the pool is busy, not that the
 *   resource behind it is down; answering `down` there would make a load balancer pull every
 *   busy instance at once.
 * - `ok`: otherwise.
 */
import { describeError, InvalidOptionError, PoolError } from './errors.js';
import type { Pool } from './pool.js';
import type { CircuitState, PoolStats } from './types.js';

export type HealthStatus = 'ok' | 'degraded' | 'down';

/** Why a check that got an answer still reports `degraded`. */
export type HealthReason =
  'circuit-half-open' | 'waiting' | 'slow-acquire' | 'slow-probe' | 'overloaded';

export interface HealthReport {
  readonly status: HealthStatus;
  /** The pool's name (option `name`). */
  readonly name: string;
  /** The whole check, acquire and probe, in milliseconds (until the failure when `down`). */
  readonly latencyMillis: number;
  /** Of which, waiting for the resource. Absent when the check never tried to acquire. */
  readonly acquireMillis?: number;
  /** The circuit breaker's state when the check ended. */
  readonly circuit: CircuitState;
  /** The pool's stats when the check ended (the check's own resource already given back). */
  readonly stats: PoolStats;
  /** For `degraded`: every reason that applied. */
  readonly reasons?: readonly HealthReason[];
  /** For `down` (and `overloaded`): what failed, with a stable code. Never carries credentials. */
  readonly error?: { readonly code: string; readonly message: string };
}

export interface HealthCheckOptions {
  /** The whole check (acquire + probe) answers within this. Default 5 000 ms. */
  timeoutMillis?: number | undefined;
  /** `degraded` when an acquire or the probe takes longer than this. Default 1 000 ms. */
  slowMillis?: number | undefined;
  /** `degraded` when more callers than this wait for a resource. Default: the pool's `max`. */
  degradedWaiting?: number | undefined;
}

/**
 * A liveness check on one acquired resource. Throw, reject or answer `false` to fail it. The
 * signal aborts when the check's deadline passes; the probe may ignore it (the resource is
 * then released with an error, and so destroyed).
 */
export type HealthProbe<R> = (resource: R, signal: AbortSignal) => unknown;

/**
 * Where a check gets its resource: the core pool itself, or a driver's own checkout (so that
 * the check goes through the same path as the application's callers, e.g. lifeguard/pg's
 * `connect()`, which also makes pipeline lanes give way).
 */
export interface HealthSource<R> {
  readonly name: string;
  stats(): PoolStats;
  /** The signal aborts at the deadline; a source that cannot cancel may ignore it. */
  acquire(signal: AbortSignal): Promise<R>;
  /** With an error (a failed or hung probe) the resource must be destroyed, not reused. */
  release(resource: R, error?: unknown): void;
  /** Callers waiting for a resource, as the driver counts them. Default: `stats().waiting`. */
  waiting?(): number;
}

/**
 * `ERR_HEALTH_TIMEOUT`: no answer within `timeoutMillis`; `ERR_HEALTH_PROBE_FAILED`: the probe
 * threw or answered false; `ERR_HEALTH_CHECK_FAILED`: anything else (a source or a target that
 * threw something that is not a pool error).
 */
export type HealthErrorCode =
  'ERR_HEALTH_TIMEOUT' | 'ERR_HEALTH_PROBE_FAILED' | 'ERR_HEALTH_CHECK_FAILED';

/** Why a check reported `down`, when the pool itself raised no error. */
export class HealthCheckError extends PoolError<HealthErrorCode> {
  /** Where the check was: waiting for a resource, or running the probe on it. */
  readonly stage: 'acquire' | 'probe';

  constructor(code: HealthErrorCode, stage: 'acquire' | 'probe', message: string, cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
    this.stage = stage;
  }
}

const kDefaultTimeoutMillis = 5_000;
const kDefaultSlowMillis = 1_000;
/** Acquire errors that mean "busy", not "broken": see the statuses above. */
const kOverloadCodes: ReadonlySet<string> = new Set(['ERR_POOL_QUEUE_FULL', 'ERR_POOL_OVERLOADED']);

/**
 * Runs checks against one source. Holds what makes checks cheap under trouble: the check in
 * flight (shared by concurrent callers) and a parked acquire (reused by the next check).
 */
export class HealthChecker<R> {
  readonly #source: HealthSource<R>;
  #inFlight: Promise<HealthReport> | undefined;
  #parked: Promise<R> | undefined;

  constructor(source: HealthSource<R>) {
    this.#source = source;
  }

  /**
   * Resolves to a report; never rejects, except for invalid options. Concurrent callers share
   * the check in flight, with the options and probe of the caller that started it.
   */
  check(probe: HealthProbe<R>, options: HealthCheckOptions = {}): Promise<HealthReport> {
    if (this.#inFlight !== undefined) return this.#inFlight;
    let settings: Settings;
    try {
      settings = settingsOf(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const startedAt = globalThis.performance.now();
    const running = this.#run(probe, settings, startedAt).then(undefined, (error: unknown) =>
      // A source that throws where it should not (stats(), release()): still an answer.
      this.#report('down', startedAt, undefined, [], errorOf(error, 'probe')),
    );
    this.#inFlight = running;
    void running.finally(() => {
      if (this.#inFlight === running) this.#inFlight = undefined;
    });
    return running;
  }

  async #run(probe: HealthProbe<R>, settings: Settings, startedAt: number): Promise<HealthReport> {
    const source = this.#source;
    const clock = globalThis.performance;
    const before = source.stats();
    if (before.circuit === 'open') {
      return this.#report('down', startedAt, undefined, [], circuitOpen());
    }
    const waitingBefore = source.waiting?.() ?? before.waiting;
    const deadline = new Deadline(settings.timeoutMillis);
    try {
      const acquiring = this.#parked ?? source.acquire(deadline.signal);
      this.#parked = undefined;
      let resource: R;
      try {
        resource = await deadline.race(acquiring);
      } catch (error) {
        const acquireMillis = clock.now() - startedAt;
        if (deadline.expired) {
          this.#park(acquiring);
          return this.#report('down', startedAt, acquireMillis, [], timedOut('acquire', settings));
        }
        const failure = errorOf(error, 'acquire');
        const overloaded = kOverloadCodes.has(failure.code);
        return this.#report(
          overloaded ? 'degraded' : 'down',
          startedAt,
          acquireMillis,
          overloaded ? ['overloaded'] : [],
          failure,
        );
      }
      const acquiredAt = clock.now();
      let failure: PoolError<string> | undefined;
      try {
        const answer = await deadline.race(callProbe(probe, resource, deadline.signal));
        if (answer === false) {
          failure = new HealthCheckError(
            'ERR_HEALTH_PROBE_FAILED',
            'probe',
            'The health probe answered false',
          );
        }
      } catch (error) {
        failure = deadline.expired
          ? timedOut('probe', settings)
          : new HealthCheckError(
              'ERR_HEALTH_PROBE_FAILED',
              'probe',
              `The health probe failed: ${describeError(error)}`,
              error,
            );
      }
      const probedAt = clock.now();
      // A resource whose probe failed or hung is destroyed, never handed to a caller.
      source.release(resource, failure);
      const acquireMillis = acquiredAt - startedAt;
      if (failure !== undefined) return this.#report('down', startedAt, acquireMillis, [], failure);
      const after = source.stats();
      if (after.circuit === 'open') {
        return this.#report('down', startedAt, acquireMillis, [], circuitOpen());
      }
      const reasons: HealthReason[] = [];
      if (after.circuit === 'half-open') reasons.push('circuit-half-open');
      const waiting = Math.max(waitingBefore, source.waiting?.() ?? after.waiting);
      if (waiting > (settings.degradedWaiting ?? after.max)) reasons.push('waiting');
      if (acquireMillis > settings.slowMillis) reasons.push('slow-acquire');
      if (probedAt - acquiredAt > settings.slowMillis) reasons.push('slow-probe');
      return this.#report(
        reasons.length > 0 ? 'degraded' : 'ok',
        startedAt,
        acquireMillis,
        reasons,
      );
    } finally {
      deadline.clear();
    }
  }

  /**
   * Keeps an acquire that outlived its check, so that the next check waits for it rather than
   * queueing another one. If it arrives while no check claims it, it goes straight back.
   */
  #park(acquiring: Promise<R>): void {
    this.#parked = acquiring;
    acquiring.then(
      (resource) => {
        if (this.#parked !== acquiring) return; // a later check claimed it
        this.#parked = undefined;
        this.#source.release(resource);
      },
      () => {
        if (this.#parked === acquiring) this.#parked = undefined;
      },
    );
  }

  #report(
    status: HealthStatus,
    startedAt: number,
    acquireMillis: number | undefined,
    reasons: readonly HealthReason[],
    error?: PoolError<string>,
  ): HealthReport {
    const stats = this.#source.stats();
    return {
      status,
      name: this.#source.name,
      latencyMillis: round(globalThis.performance.now() - startedAt),
      ...(acquireMillis === undefined ? {} : { acquireMillis: round(acquireMillis) }),
      circuit: stats.circuit,
      stats,
      ...(reasons.length === 0 ? {} : { reasons }),
      ...(error === undefined ? {} : { error: { code: error.code, message: error.message } }),
    };
  }
}

/**
 * Checks a core pool: acquires a resource (cancelled at the deadline), runs `probe` on it,
 * and reports. Concurrent checks of one pool share one run.
 *
 * @example
 * const report = await checkHealth(pool, (conn) => conn.ping(), { timeoutMillis: 2_000 });
 * if (report.status === 'down') console.warn(report.error);
 */
export function checkHealth<T>(
  pool: Pool<T>,
  probe: HealthProbe<T>,
  options?: HealthCheckOptions,
): Promise<HealthReport> {
  let checker = checkers.get(pool) as HealthChecker<T> | undefined;
  if (checker === undefined) {
    checker = new HealthChecker<T>({
      name: pool.name,
      stats: () => pool.stats(),
      acquire: (signal) => pool.acquire({ signal }),
      release: (resource, error) => pool.release(resource, error),
    });
    checkers.set(pool, checker);
  }
  return checker.check(probe, options);
}

const checkers = new WeakMap<object, HealthChecker<unknown>>();

// --- internals ------------------------------------------------------------------------------

interface Settings {
  readonly timeoutMillis: number;
  readonly slowMillis: number;
  readonly degradedWaiting: number | undefined;
}

function settingsOf(options: HealthCheckOptions): Settings {
  const timeoutMillis = options.timeoutMillis ?? kDefaultTimeoutMillis;
  const slowMillis = options.slowMillis ?? kDefaultSlowMillis;
  const degradedWaiting = options.degradedWaiting;
  // A health check must answer: an unbounded one would hang the load balancer's probe.
  if (!(timeoutMillis > 0 && Number.isFinite(timeoutMillis))) {
    throw new InvalidOptionError('timeoutMillis', 'must be a positive, finite number of ms');
  }
  if (!(slowMillis >= 0)) {
    throw new InvalidOptionError('slowMillis', 'must be a number of ms, 0 or more');
  }
  if (degradedWaiting !== undefined && !(degradedWaiting >= 0)) {
    throw new InvalidOptionError('degradedWaiting', 'must be a number, 0 or more');
  }
  return { timeoutMillis, slowMillis, degradedWaiting };
}

/** One timer and one signal for the whole check. */
class Deadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;

  constructor(timeoutMillis: number) {
    this.#timer = setTimeout(() => this.#controller.abort(), timeoutMillis);
    this.#timer.unref();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get expired(): boolean {
    return this.#controller.signal.aborted;
  }

  /** Settles like `promise`, or rejects at the deadline; `promise` is always observed. */
  race<V>(promise: Promise<V>): Promise<V> {
    const signal = this.#controller.signal;
    return new Promise<V>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

/** The probe as a promise, whether it answers synchronously, asynchronously or throws. */
function callProbe<R>(probe: HealthProbe<R>, resource: R, signal: AbortSignal): Promise<unknown> {
  try {
    return Promise.resolve(probe(resource, signal));
  } catch (error) {
    return Promise.reject(error);
  }
}

function timedOut(stage: 'acquire' | 'probe', settings: Settings): HealthCheckError {
  const what = stage === 'acquire' ? 'waiting for a resource' : 'running the health probe';
  return new HealthCheckError(
    'ERR_HEALTH_TIMEOUT',
    stage,
    `The health check timed out after ${settings.timeoutMillis} ms ${what}`,
  );
}

function circuitOpen(): PoolError<string> {
  return new PoolError(
    'ERR_POOL_CIRCUIT_OPEN',
    'The circuit breaker is open: creating resources keeps failing, callers fail fast',
  );
}

/** The pool's own typed errors pass through; anything else is wrapped, chained as `cause`. */
function errorOf(error: unknown, stage: 'acquire' | 'probe'): PoolError<string> {
  if (error instanceof PoolError) return error as PoolError<string>;
  // A driver layer may hand over its driver's own error, with the pool's error as its cause.
  const cause = (error as { cause?: unknown } | null | undefined)?.cause;
  if (cause instanceof PoolError) return cause as PoolError<string>;
  return new HealthCheckError(
    'ERR_HEALTH_CHECK_FAILED',
    stage,
    `The health check failed: ${describeError(error)}`,
    error,
  );
}

function round(millis: number): number {
  return Math.round(millis * 100) / 100;
}

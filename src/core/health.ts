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
import { Deadline } from './health-deadline.js';
import {
  circuitOpen,
  healthErrorOf,
  healthTimedOut,
  probeAnsweredFalse,
  probeThrew,
} from './health-errors.js';
import {
  healthSettingsOf,
  type HealthCheckOptions,
  type HealthSettings,
} from './health-settings.js';
import type { PoolError } from './errors.js';
import type { Pool } from './pool.js';
import type { CircuitState, PoolStats } from './types.js';

export { HealthCheckError, type HealthErrorCode } from './health-errors.js';
export type { HealthCheckOptions } from './health-settings.js';

export type HealthStatus = 'ok' | 'degraded' | 'down';

/**
 * Why a check that got an answer still reports `degraded`. `member-down`: a router (see
 * lifeguard/routing) has a member that is down but that it can do without, such as a replica.
 */
export type HealthReason =
  'circuit-half-open' | 'waiting' | 'slow-acquire' | 'slow-probe' | 'overloaded' | 'member-down';

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

/** Acquire errors that mean "busy", not "broken": see the statuses above. */
const kOverloadCodes: ReadonlySet<string> = new Set(['ERR_POOL_QUEUE_FULL', 'ERR_POOL_OVERLOADED']);

/** When a check whose probe answered started, and how long its two stages took. */
interface Timing {
  readonly startedAt: number;
  readonly acquireMillis: number;
  readonly probeMillis: number;
  /** Callers waiting when the check started: a queue drained by the check still counts. */
  readonly waitingBefore: number;
}

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
    let settings: HealthSettings;
    try {
      settings = healthSettingsOf(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const startedAt = globalThis.performance.now();
    const running = this.#run(probe, settings, startedAt).then(undefined, (error: unknown) =>
      // A source that throws where it should not (stats(), release()): still an answer.
      this.#report('down', startedAt, undefined, [], healthErrorOf(error, 'probe')),
    );
    this.#inFlight = running;
    void running.finally(() => {
      if (this.#inFlight === running) this.#inFlight = undefined;
    });
    return running;
  }

  /** Acquire, probe, release, judge: the stages of one check, all within one deadline. */
  async #run(
    probe: HealthProbe<R>,
    settings: HealthSettings,
    startedAt: number,
  ): Promise<HealthReport> {
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
        return this.#acquireFailed(error, acquiring, deadline, settings, startedAt);
      }
      const acquiredAt = clock.now();
      const failure = await probeFailure(probe, resource, deadline, settings);
      const probedAt = clock.now();
      // A resource whose probe failed or hung is destroyed, never handed to a caller.
      source.release(resource, failure);
      const acquireMillis = acquiredAt - startedAt;
      if (failure !== undefined) return this.#report('down', startedAt, acquireMillis, [], failure);
      const probeMillis = probedAt - acquiredAt;
      return this.#verdict({ startedAt, acquireMillis, probeMillis, waitingBefore }, settings);
    } finally {
      deadline.clear();
    }
  }

  /**
   * The report of a check that got no resource: `down`, except when the pool shed the acquire
   * for being busy (`degraded`, `overloaded`). An acquire still pending at the deadline is
   * parked for the next check.
   */
  #acquireFailed(
    error: unknown,
    acquiring: Promise<R>,
    deadline: Deadline,
    settings: HealthSettings,
    startedAt: number,
  ): HealthReport {
    const acquireMillis = globalThis.performance.now() - startedAt;
    if (deadline.expired) {
      this.#park(acquiring);
      const failure = healthTimedOut('acquire', settings.timeoutMillis);
      return this.#report('down', startedAt, acquireMillis, [], failure);
    }
    const failure = healthErrorOf(error, 'acquire');
    const overloaded = kOverloadCodes.has(failure.code);
    return this.#report(
      overloaded ? 'degraded' : 'down',
      startedAt,
      acquireMillis,
      overloaded ? ['overloaded'] : [],
      failure,
    );
  }

  /** The report of a check whose probe answered: `ok`, or `degraded` with every reason. */
  #verdict(timing: Timing, settings: HealthSettings): HealthReport {
    const source = this.#source;
    const { startedAt, acquireMillis } = timing;
    const after = source.stats();
    if (after.circuit === 'open') {
      return this.#report('down', startedAt, acquireMillis, [], circuitOpen());
    }
    const reasons: HealthReason[] = [];
    if (after.circuit === 'half-open') reasons.push('circuit-half-open');
    const waiting = Math.max(timing.waitingBefore, source.waiting?.() ?? after.waiting);
    if (waiting > (settings.degradedWaiting ?? after.max)) reasons.push('waiting');
    if (acquireMillis > settings.slowMillis) reasons.push('slow-acquire');
    if (timing.probeMillis > settings.slowMillis) reasons.push('slow-probe');
    const status = reasons.length > 0 ? 'degraded' : 'ok';
    return this.#report(status, startedAt, acquireMillis, reasons);
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

/**
 * Runs the probe within the deadline. Undefined when it answered; otherwise why it failed:
 * it answered `false`, threw or rejected, or was still running at the deadline.
 */
async function probeFailure<R>(
  probe: HealthProbe<R>,
  resource: R,
  deadline: Deadline,
  settings: HealthSettings,
): Promise<PoolError<string> | undefined> {
  try {
    const answer = await deadline.race(callProbe(probe, resource, deadline.signal));
    return answer === false ? probeAnsweredFalse() : undefined;
  } catch (error) {
    return deadline.expired ? healthTimedOut('probe', settings.timeoutMillis) : probeThrew(error);
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

function round(millis: number): number {
  return Math.round(millis * 100) / 100;
}

/**
 * Why a health check (src/core/health.ts) reported `down`: the pool's own typed error when it
 * raised one, else a `HealthCheckError` saying which stage failed and how. A report carries
 * only the code and the message, never the error itself, so nothing with credentials leaks
 * into a load balancer's answer.
 */
import { describeError, PoolError } from './errors.js';

/**
 * `ERR_HEALTH_TIMEOUT`: no answer within `timeoutMillis`; `ERR_HEALTH_PROBE_FAILED`: the probe
 * threw or answered false; `ERR_HEALTH_CHECK_FAILED`: anything else (a source or a target that
 * threw something that is not a pool error).
 */
export type HealthErrorCode =
  'ERR_HEALTH_TIMEOUT' | 'ERR_HEALTH_PROBE_FAILED' | 'ERR_HEALTH_CHECK_FAILED';

/** Where a check was when it failed: waiting for a resource, or running the probe on it. */
export type HealthStage = 'acquire' | 'probe';

/** Why a check reported `down`, when the pool itself raised no error. */
export class HealthCheckError extends PoolError<HealthErrorCode> {
  /** Where the check was: waiting for a resource, or running the probe on it. */
  readonly stage: HealthStage;

  constructor(code: HealthErrorCode, stage: HealthStage, message: string, cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
    this.stage = stage;
  }
}

export function healthTimedOut(stage: HealthStage, timeoutMillis: number): HealthCheckError {
  const what = stage === 'acquire' ? 'waiting for a resource' : 'running the health probe';
  return new HealthCheckError(
    'ERR_HEALTH_TIMEOUT',
    stage,
    `The health check timed out after ${timeoutMillis} ms ${what}`,
  );
}

export function probeAnsweredFalse(): HealthCheckError {
  return new HealthCheckError(
    'ERR_HEALTH_PROBE_FAILED',
    'probe',
    'The health probe answered false',
  );
}

export function probeThrew(error: unknown): HealthCheckError {
  return new HealthCheckError(
    'ERR_HEALTH_PROBE_FAILED',
    'probe',
    `The health probe failed: ${describeError(error)}`,
    error,
  );
}

/** Reported without acquiring: with the circuit open, an acquire would fail fast anyway. */
export function circuitOpen(): PoolError<string> {
  return new PoolError(
    'ERR_POOL_CIRCUIT_OPEN',
    'The circuit breaker is open: creating resources keeps failing, callers fail fast',
  );
}

/** The pool's own typed errors pass through; anything else is wrapped, chained as `cause`. */
export function healthErrorOf(error: unknown, stage: HealthStage): PoolError<string> {
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

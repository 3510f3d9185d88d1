/**
 * Errors of `lifeguard/metrics`. They join the PoolError family (so `err instanceof PoolError`
 * and `err.code` work across the whole library) with stable `ERR_METRICS_*` codes.
 */
import { PoolError } from '../core/index.js';

export type MetricsErrorCode =
  /** What was passed is no lifeguard pool (nor has one at `.core`), budget or router. */
  | 'ERR_METRICS_INVALID_POOL'
  /** A bad option: a prefix Prometheus would reject, buckets that are not increasing, ... */
  | 'ERR_METRICS_INVALID_OPTION'
  /** The exporter's library (the Prometheus client or the OpenTelemetry API) is not installed. */
  | 'ERR_METRICS_PEER_MISSING'
  /** A pool of this name is already instrumented into this registry (or meter). */
  | 'ERR_METRICS_DUPLICATE_POOL'
  /** Another budget of this name is already instrumented into this registry (or meter). */
  | 'ERR_METRICS_DUPLICATE_BUDGET'
  /** The registry already holds a metric of one of our names that we did not register. */
  | 'ERR_METRICS_CONFLICT';

export class MetricsError extends PoolError<MetricsErrorCode> {}

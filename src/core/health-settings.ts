/**
 * The options of a health check (src/core/health.ts), checked once per check into settings
 * with their defaults.
 */
import { InvalidOptionError } from './errors.js';

export interface HealthCheckOptions {
  /** The whole check (acquire + probe) answers within this. Default 5 000 ms. */
  timeoutMillis?: number | undefined;
  /** `degraded` when an acquire or the probe takes longer than this. Default 1 000 ms. */
  slowMillis?: number | undefined;
  /** `degraded` when more callers than this wait for a resource. Default: the pool's `max`. */
  degradedWaiting?: number | undefined;
}

export interface HealthSettings {
  readonly timeoutMillis: number;
  readonly slowMillis: number;
  /** Undefined: the pool's `max`, read when the check ends. */
  readonly degradedWaiting: number | undefined;
}

const kDefaultTimeoutMillis = 5_000;
const kDefaultSlowMillis = 1_000;

/** Throws `InvalidOptionError` for an option out of range. */
export function healthSettingsOf(options: HealthCheckOptions): HealthSettings {
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

/**
 * The dashboard's options, checked once when it is created: a typo fails there with a
 * `DashboardError`, not later as a dashboard that samples every millisecond or never.
 */
import { DashboardError } from './errors.js';

export interface DashboardOptions {
  /** How often the pool is sampled and browsers are updated. Default 1 000 ms; at least 50. */
  intervalMillis?: number;
  /** Samples kept for the charts over time. Default 300 (5 minutes at the default interval). */
  historySize?: number;
  /**
   * Where the page lives, as the handler sees `req.url`. Default `/`. With Express, mount the
   * handler with `app.use('/dashboard', ...)` and keep the default: Express strips the prefix.
   */
  path?: string;
}

export interface DashboardSettings {
  readonly intervalMillis: number;
  readonly historySize: number;
  /** Always ending in `/`. */
  readonly path: string;
}

const kDefaultIntervalMillis = 1_000;
const kMinIntervalMillis = 50;
/** The largest delay `setInterval` takes. */
const kMaxIntervalMillis = 2 ** 31 - 1;
const kDefaultHistorySize = 300;
const kMaxHistorySize = 100_000;

export function dashboardSettingsOf(options: DashboardOptions): DashboardSettings {
  const intervalMillis = integerOption(
    'intervalMillis',
    options.intervalMillis,
    kDefaultIntervalMillis,
    kMinIntervalMillis,
    kMaxIntervalMillis,
  );
  const historySize = integerOption(
    'historySize',
    options.historySize,
    kDefaultHistorySize,
    1,
    kMaxHistorySize,
  );
  return { intervalMillis, historySize, path: normalizePath(options.path ?? '/') };
}

function normalizePath(path: string): string {
  if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path)) {
    throw new DashboardError(
      `path must be an absolute URL path such as "/dashboard", got ${JSON.stringify(path)}`,
    );
  }
  return path.endsWith('/') ? path : `${path}/`;
}

function integerOption(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new DashboardError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/**
 * The OpenTelemetry exporter: the metrics of a pool, a budget or a router as `@opentelemetry/api`
 * instruments.
 *
 * Counts and counters are observable instruments, read off the pool in one batch callback when
 * the SDK collects; the duration histograms are recorded from pool events, in seconds. Every
 * point carries `db.client.connection.pool.name`.
 *
 * Only types are imported from `@opentelemetry/api`: with a `meter` or `meterProvider` given,
 * the API package is never loaded, and `lifeguard/metrics` imports fine without it.
 */
import { createRequire } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';

import {
  budgetMetrics,
  checkBuckets,
  defaultDurationBuckets,
  observedMetrics,
  otelBudgetNameAttribute,
  otelPoolNameAttribute,
} from './catalog.js';
import { MetricsError } from './errors.js';
import type { Attributes, OpenTelemetryMeter, OpenTelemetryMeterProvider } from './otel-api.js';
import { closer, type BudgetInstrumentation, type RouterInstrumentation } from './handle.js';
import { claimPoolName, observeReadings, recordDurations } from './opentelemetry-instruments.js';
import { MetricsSource, type Instrumentable } from './source.js';
import {
  BudgetClaims,
  MemberTracker,
  isBudget,
  isRouter,
  type InstrumentableBudget,
  type InstrumentableRouter,
  type InstrumentTarget,
} from './targets.js';

export type { OpenTelemetryMeter, OpenTelemetryMeterProvider } from './otel-api.js';

export interface OpenTelemetryOptions {
  /** The meter to create the instruments on. Wins over `meterProvider`. */
  meter?: OpenTelemetryMeter;
  /**
   * Where to get a meter named `lifeguard` from. Default the global provider
   * (`metrics.getMeterProvider()` of the OpenTelemetry API).
   */
  meterProvider?: OpenTelemetryMeterProvider;
  /** Bucket boundaries, in seconds, advised for the three duration histograms. */
  buckets?: readonly number[];
}

/** What `instrumentOpenTelemetry` returns for a pool. */
export interface OpenTelemetryInstrumentation {
  /** The pool's name, as `db.client.connection.pool.name` carries it. */
  readonly poolName: string;
  /**
   * Stops: unsubscribes from the pool and removes its observable callback, so its counts and
   * counters are no longer reported. Histogram points already recorded stay with the SDK (the
   * API has no way to delete them). Idempotent.
   */
  close(): void;
  [Symbol.dispose](): void;
}

/**
 * What `instrumentOpenTelemetry` returns for a ConnectionBudget. `close()` stops reporting the
 * budget, unless a router sharing it is still instrumented on this meter. Idempotent.
 */
export type OpenTelemetryBudgetInstrumentation = BudgetInstrumentation;

/**
 * What `instrumentOpenTelemetry` returns for a router. `close()` stops every member pool as a
 * pool's `close()` does, then the budget. Idempotent.
 */
export type OpenTelemetryRouterInstrumentation = RouterInstrumentation;

export const meterName = 'lifeguard';

/**
 * Exports metrics through OpenTelemetry. Of a pool (a core pool or a `lifeguard/pg` Pool):
 * `db.client.connection.*` per the semantic conventions for database client connection pools,
 * and Lifeguard's own `lifeguard.pool.*`. Of a ConnectionBudget: `lifeguard.budget.*`, by
 * `lifeguard.budget.name` and `lifeguard.budget.member`. Of a router (`lifeguard/routing`):
 * every member pool under its own pool name, members added later included, and the budget
 * they share. See docs/metrics.md.
 *
 * @example
 * const handle = instrumentOpenTelemetry(pool, { meter: metrics.getMeter('my-service') });
 */
export function instrumentOpenTelemetry(
  router: InstrumentableRouter,
  options?: OpenTelemetryOptions,
): OpenTelemetryRouterInstrumentation;
export function instrumentOpenTelemetry(
  pool: Instrumentable,
  options?: OpenTelemetryOptions,
): OpenTelemetryInstrumentation;
export function instrumentOpenTelemetry(
  budget: InstrumentableBudget,
  options?: OpenTelemetryOptions,
): OpenTelemetryBudgetInstrumentation;
export function instrumentOpenTelemetry(
  target: InstrumentTarget,
  options: OpenTelemetryOptions = {},
):
  | OpenTelemetryInstrumentation
  | OpenTelemetryBudgetInstrumentation
  | OpenTelemetryRouterInstrumentation {
  const source = isRouter(target) || isBudget(target) ? undefined : new MetricsSource(target);
  checkBuckets(options.buckets);
  const meter =
    options.meter ?? (options.meterProvider ?? globalMeterProvider()).getMeter(meterName);
  const buckets = [...(options.buckets ?? defaultDurationBuckets)];
  if (source !== undefined) {
    const { startObserving, stop } = instrumentPool(meter, source, buckets);
    startObserving();
    return { poolName: source.name, ...closer(stop) };
  }
  if (isRouter(target)) return instrumentRouter(meter, target, buckets);
  const budget = target as InstrumentableBudget;
  return { budgetName: budget.name, ...closer(attachBudget(meter, budget)) };
}

/**
 * One pool on a meter: its name claimed and its histograms recorded at once; its counts
 * observed by a callback of its own (`startObserving`), or by its router's.
 */
function instrumentPool(
  meter: OpenTelemetryMeter,
  source: MetricsSource,
  buckets: number[],
): { attributes: Attributes; startObserving: () => void; stop: () => void } {
  const releaseName = claimPoolName(meter, source.name);
  const attributes: Attributes = Object.freeze({ [otelPoolNameAttribute]: source.name });
  const stopRecording = recordDurations(meter, source, buckets, attributes);
  let stopObserving = (): void => {};
  return {
    attributes,
    startObserving: () => {
      stopObserving = observeReadings(meter, observedMetrics, () => [[attributes, source.read()]]);
    },
    stop: () => {
      stopRecording();
      stopObserving();
      releaseName();
    },
  };
}

/**
 * A router's members: instrumented as they come (see MemberTracker), and observed by one
 * callback that follows the members before it reads them, so a pool added since the last
 * collection is in this one.
 */
function instrumentRouter(
  meter: OpenTelemetryMeter,
  router: InstrumentableRouter,
  buckets: number[],
): OpenTelemetryRouterInstrumentation {
  const budget = router.budget;
  const stopBudget = budget === undefined ? undefined : attachBudget(meter, budget);
  const members = new Map<MetricsSource, Attributes>();
  const tracker = new MemberTracker(router, (pool) => {
    const source = new MetricsSource(pool);
    const member = instrumentPool(meter, source, buckets);
    members.set(source, member.attributes);
    return () => {
      members.delete(source);
      member.stop();
    };
  });
  try {
    tracker.start();
  } catch (error) {
    stopBudget?.();
    throw error;
  }
  const stopObserving = observeReadings(meter, observedMetrics, () => {
    tracker.refresh();
    return [...members].map(([source, attributes]) => [attributes, source.read()] as const);
  });
  return {
    routerName: router.name,
    budgetName: budget?.name,
    ...closer(() => {
      stopObserving();
      tracker.close();
      stopBudget?.();
    }),
  };
}

/** Budgets reported on each meter, and the function that stops reporting each. */
const budgetsByMeter = new WeakMap<
  OpenTelemetryMeter,
  { claims: BudgetClaims; stops: Map<InstrumentableBudget, () => void> }
>();

/** Reports `budget` on `meter` (once, however many routers share it); returns the stop. */
function attachBudget(meter: OpenTelemetryMeter, budget: InstrumentableBudget): () => void {
  let held = budgetsByMeter.get(meter);
  if (held === undefined) {
    held = { claims: new BudgetClaims(), stops: new Map() };
    budgetsByMeter.set(meter, held);
  }
  const { claims, stops } = held;
  if (claims.claim(budget, 'on this meter')) {
    const attributes: Attributes = Object.freeze({ [otelBudgetNameAttribute]: budget.name });
    stops.set(
      budget,
      observeReadings(meter, budgetMetrics, () => [[attributes, budget.stats()]]),
    );
  }
  return () => {
    if (!claims.release(budget)) return;
    stops.get(budget)?.();
    stops.delete(budget);
  };
}

function globalMeterProvider(): OpenTelemetryMeterProvider {
  try {
    const api = createRequire(import.meta.url)('@opentelemetry/api') as typeof OtelApi;
    return api.metrics.getMeterProvider();
  } catch (cause) {
    if ((cause as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw cause;
    throw new MetricsError(
      'ERR_METRICS_PEER_MISSING',
      'instrumentOpenTelemetry needs @opentelemetry/api (npm install @opentelemetry/api), ' +
        'or a meter or meterProvider passed in',
      { cause },
    );
  }
}

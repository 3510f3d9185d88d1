/**
 * The Prometheus exporter: the metrics of a pool, a budget or a router in a prom-client registry.
 *
 * Several pools can share one registry: the metrics are registered once per registry (and
 * prefix) and carry the pool's name as the `pool_name` label (a budget's, `budget_name`).
 * Gauges and counters are read off each pool and budget when the registry is scraped; the
 * duration histograms are fed from pool events. See prometheus-registry.ts.
 *
 * prom-client is an optional peer dependency, loaded on the first call only, so that
 * `lifeguard/metrics` can be imported by an application that uses OpenTelemetry alone.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

import { checkBuckets, defaultDurationBuckets } from './catalog.js';
import { MetricsError } from './errors.js';
import {
  closer,
  type BudgetInstrumentation,
  type Closable,
  type RouterInstrumentation,
} from './handle.js';
import { RegistryInstruments, type PromClientModule } from './prometheus-registry.js';
import { MetricsSource, type Instrumentable } from './source.js';
import {
  MemberTracker,
  isBudget,
  isRouter,
  type InstrumentableBudget,
  type InstrumentableRouter,
  type InstrumentTarget,
} from './targets.js';

/**
 * A `Registry` of the Prometheus client, as far as `instrumentPrometheus` uses one. Declared here,
 * not imported, so that these declarations type-check without that optional peer (with
 * `skipLibCheck: false` and OpenTelemetry alone). Any of the client's registries is one.
 */
export interface PrometheusRegistry {
  getSingleMetric(name: string): unknown;
  removeSingleMetric(name: string): void;
  /** Called by the metrics that lifeguard creates in this registry. */
  registerMetric(metric: object): void;
}

export interface PrometheusOptions {
  /** Where the metrics go. Default the Prometheus client's global `register`. */
  registry?: PrometheusRegistry;
  /** Prepended to every metric name, e.g. `myapp_`. Default none. */
  prefix?: string;
  /** Bucket upper bounds, in seconds, of the three duration histograms. */
  buckets?: readonly number[];
}

/** What `instrumentPrometheus` returns for a pool. */
export interface PrometheusInstrumentation {
  /** The pool's name, as the `pool_name` label carries it. */
  readonly poolName: string;
  /**
   * Stops: unsubscribes from the pool and removes its series. The last pool of a registry
   * also unregisters the metrics. Idempotent.
   */
  close(): void;
  [Symbol.dispose](): void;
}

/**
 * What `instrumentPrometheus` returns for a ConnectionBudget. `close()` stops exporting the
 * budget, unless a router sharing it is still instrumented into this registry: the last one
 * removes its series. Idempotent.
 */
export type PrometheusBudgetInstrumentation = BudgetInstrumentation;

/**
 * What `instrumentPrometheus` returns for a router. `close()` stops every member pool as a
 * pool's `close()` does, then the budget. Idempotent.
 */
export type PrometheusRouterInstrumentation = RouterInstrumentation;

let promClient: PromClientModule | undefined;

function loadPromClient(): PromClientModule {
  if (promClient !== undefined) return promClient;
  try {
    promClient = createRequire(import.meta.url)('prom-client') as PromClientModule;
  } catch (cause) {
    if ((cause as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw cause;
    throw new MetricsError(
      'ERR_METRICS_PEER_MISSING',
      'instrumentPrometheus needs the prom-client package: npm install prom-client',
      { cause },
    );
  }
  return promClient;
}

const kValidPrefix = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** One set of instruments per registry and prefix; gone with the registry. */
const instrumentsByRegistry = new WeakMap<PromClient.Registry, Map<string, RegistryInstruments>>();

function sameBuckets(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** A registry's shared instruments for `options`, and the call that drops them once unused. */
function instrumentsFor(options: PrometheusOptions): {
  instruments: RegistryInstruments;
  done: () => void;
} {
  const prefix = options.prefix ?? '';
  if (prefix !== '' && !kValidPrefix.test(prefix)) {
    throw new MetricsError(
      'ERR_METRICS_INVALID_OPTION',
      `prefix must be a valid Prometheus metric name prefix, got ${JSON.stringify(prefix)}`,
    );
  }
  checkBuckets(options.buckets);
  const prom = loadPromClient();
  // The user's registry is a prom-client Registry; PrometheusRegistry only names what we call.
  const registry = (options.registry as PromClient.Registry | undefined) ?? prom.register;
  let byPrefix = instrumentsByRegistry.get(registry);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    instrumentsByRegistry.set(registry, byPrefix);
  }
  let instruments = byPrefix.get(prefix);
  if (instruments === undefined) {
    const buckets = options.buckets ?? defaultDurationBuckets;
    instruments = new RegistryInstruments(prom, registry, prefix, buckets);
    byPrefix.set(prefix, instruments);
  } else if (options.buckets !== undefined && !sameBuckets(options.buckets, instruments.buckets)) {
    throw new MetricsError(
      'ERR_METRICS_INVALID_OPTION',
      'buckets differ from those of the pools already instrumented in this registry',
    );
  }
  const shared = instruments;
  const sharedByPrefix = byPrefix;
  return {
    instruments,
    done: () => {
      if (shared.empty && sharedByPrefix.get(prefix) === shared) sharedByPrefix.delete(prefix);
    },
  };
}

/** Undoes `undo` (in that order) if `step` throws, then rethrows. */
function orUndo<T>(step: () => T, ...undo: (() => void)[]): T {
  try {
    return step();
  } catch (error) {
    for (const u of undo) u();
    throw error;
  }
}

/**
 * Exports metrics to a Prometheus client registry. Of a pool (a core pool or a `lifeguard/pg`
 * Pool): the OpenTelemetry database connection pool metrics under their Prometheus names
 * (`db_client_connection_count{pool_name,state}`, `db_client_connection_wait_time_seconds`,
 * ...) and Lifeguard's own (`lifeguard_pool_*`). Of a ConnectionBudget: `lifeguard_budget_*`,
 * by `budget_name` and `member`. Of a router (`lifeguard/routing`): every member pool, under
 * its own `pool_name`, members added later included, and the budget they share. See
 * docs/metrics.md.
 *
 * @example
 * const registry = new Registry();
 * const metrics = instrumentPrometheus(pool, { registry });
 * app.get('/metrics', async (_req, res) => res.type(registry.contentType).send(await registry.metrics()));
 */
export function instrumentPrometheus(
  router: InstrumentableRouter,
  options?: PrometheusOptions,
): PrometheusRouterInstrumentation;
export function instrumentPrometheus(
  pool: Instrumentable,
  options?: PrometheusOptions,
): PrometheusInstrumentation;
export function instrumentPrometheus(
  budget: InstrumentableBudget,
  options?: PrometheusOptions,
): PrometheusBudgetInstrumentation;
export function instrumentPrometheus(
  target: InstrumentTarget,
  options: PrometheusOptions = {},
): PrometheusInstrumentation | PrometheusBudgetInstrumentation | PrometheusRouterInstrumentation {
  if (isRouter(target)) return instrumentRouter(target, options);
  if (isBudget(target)) {
    return { budgetName: target.name, ...attachTo(options, (i) => i.attachBudget(target)) };
  }
  const source = new MetricsSource(target);
  return { poolName: source.name, ...attachTo(options, (i) => i.attach(source)) };
}

/** Attaches one pool or budget to the registry's instruments; closing detaches it. */
function attachTo(
  options: PrometheusOptions,
  attach: (instruments: RegistryInstruments) => () => void,
): Closable {
  const { instruments, done } = instrumentsFor(options);
  const detach = orUndo(() => attach(instruments), done);
  return closer(() => {
    detach();
    done();
  });
}

function instrumentRouter(
  router: InstrumentableRouter,
  options: PrometheusOptions,
): PrometheusRouterInstrumentation {
  const { instruments, done } = instrumentsFor(options);
  const budget = router.budget;
  const detachBudget = orUndo(() => budget && instruments.attachBudget(budget), done);
  const undoBudget = (): void => detachBudget?.();
  const tracker = new MemberTracker(router, (pool) => instruments.attach(new MetricsSource(pool)));
  const unfollow = instruments.follow(tracker);
  orUndo(() => tracker.start(), unfollow, undoBudget, done);
  return {
    routerName: router.name,
    budgetName: budget?.name,
    ...closer(() => {
      tracker.close();
      unfollow();
      undoBudget();
      done();
    }),
  };
}

/**
 * The metrics of one prom-client registry and prefix, shared by every pool, budget and router
 * instrumented into it. Each family (the pool metrics with their histograms, the budget
 * metrics) is registered when its first user attaches and unregistered when its last one
 * leaves; gauges and counters are read off their sources when the registry is scraped.
 */
import type * as PromClient from 'prom-client';

import type { BudgetStats } from '../core/index.js';
import {
  budgetMetrics,
  durationHistograms,
  observedMetrics,
  promBudgetNameLabel,
  promLabel,
  promPoolNameLabel,
  type ObservedMetric,
  type PointAttributes,
} from './catalog.js';
import { MetricsError } from './errors.js';
import type { DurationEvent, MetricsSource, PoolReading } from './source.js';
import { BudgetClaims, type InstrumentableBudget, type MemberTracker } from './targets.js';

export type PromClientModule = typeof PromClient;
type Labels = Record<string, string>;

function labelsOf(
  identityLabel: string,
  identity: string,
  keys: ObservedMetric<unknown>['attributeKeys'],
  attributes: PointAttributes,
): Labels {
  const labels: Labels = { [identityLabel]: identity };
  for (const key of keys) {
    const value = attributes[key];
    if (value !== undefined) labels[promLabel[key]] = value;
  }
  return labels;
}

/**
 * One reading per source per scrape. prom-client calls every metric's collect in one
 * synchronous pass, so a cache cleared on the next microtask gives each scrape one reading per
 * source: the metrics of one scrape agree with each other.
 */
class ScrapeCache<R> {
  #readings: readonly (readonly [string, R])[] | undefined;

  constructor(private readonly readAll: () => readonly (readonly [string, R])[]) {}

  get(): readonly (readonly [string, R])[] {
    if (this.#readings === undefined) {
      this.#readings = this.readAll();
      queueMicrotask(() => (this.#readings = undefined));
    }
    return this.#readings;
  }
}

export class RegistryInstruments {
  readonly #prom: PromClientModule;
  readonly #registry: PromClient.Registry;
  readonly #prefix: string;
  readonly buckets: readonly number[];
  readonly #pools = new Map<string, MetricsSource>();
  readonly #trackers = new Set<MemberTracker>();
  readonly #claims = new BudgetClaims();
  readonly #budgets = new Set<InstrumentableBudget>();
  readonly #histograms = new Map<DurationEvent, PromClient.Histogram>();
  #poolNames: string[] | undefined;
  #budgetNames: string[] | undefined;
  readonly #poolReadings = new ScrapeCache<PoolReading>(() => {
    // Routers' members are followed here, before reading, so a pool added since the last
    // scrape is in this one.
    for (const tracker of this.#trackers) tracker.refresh();
    return [...this.#pools.values()].map((source) => [source.name, source.read()] as const);
  });
  readonly #budgetReadings = new ScrapeCache<BudgetStats>(() =>
    [...this.#budgets].map((budget) => [budget.name, budget.stats()] as const),
  );

  constructor(
    prom: PromClientModule,
    registry: PromClient.Registry,
    prefix: string,
    buckets: readonly number[],
  ) {
    this.#prom = prom;
    this.#registry = registry;
    this.#prefix = prefix;
    this.buckets = buckets;
  }

  get empty(): boolean {
    return this.#pools.size === 0 && this.#trackers.size === 0 && this.#budgets.size === 0;
  }

  /** Starts exporting one pool; returns the function that stops it. */
  attach(source: MetricsSource): () => void {
    if (this.#pools.has(source.name)) {
      throw new MetricsError(
        'ERR_METRICS_DUPLICATE_POOL',
        `A pool named ${JSON.stringify(source.name)} is already instrumented in this registry; ` +
          'give each pool its own name (option `name`)',
      );
    }
    this.#ensurePoolMetrics();
    this.#pools.set(source.name, source);
    const labels = { [promPoolNameLabel]: source.name };
    const observer = (event: DurationEvent): ((seconds: number) => void) => {
      const histogram = this.#histograms.get(event)!;
      histogram.zero(labels); // a pool that has not created or acquired yet still shows 0s
      const child = histogram.labels(labels);
      return (seconds) => child.observe(seconds);
    };
    const unsubscribe = source.watchDurations({
      create: observer('create'),
      acquire: observer('acquire'),
      release: observer('release'),
    });
    return () => {
      unsubscribe();
      this.#pools.delete(source.name);
      for (const histogram of this.#histograms.values()) histogram.remove(labels);
      this.#dropPoolMetricsIfUnused();
    };
  }

  /** Follows a router's members at every scrape; returns the function that stops. */
  follow(tracker: MemberTracker): () => void {
    this.#ensurePoolMetrics();
    this.#trackers.add(tracker);
    return () => {
      this.#trackers.delete(tracker);
      this.#dropPoolMetricsIfUnused();
    };
  }

  /** Starts exporting a budget (once, however many routers share it); returns the stop. */
  attachBudget(budget: InstrumentableBudget): () => void {
    if (this.#claims.claim(budget, 'in this registry')) {
      try {
        this.#budgetNames ??= this.#registerBudgetMetrics();
      } catch (error) {
        this.#claims.release(budget); // a name taken by a metric of someone else's
        throw error;
      }
      this.#budgets.add(budget);
    }
    return () => {
      if (!this.#claims.release(budget)) return;
      this.#budgets.delete(budget);
      if (this.#budgets.size > 0 || this.#budgetNames === undefined) return;
      this.#unregister(this.#budgetNames);
      this.#budgetNames = undefined;
    };
  }

  #ensurePoolMetrics(): void {
    if (this.#poolNames !== undefined) return;
    const names = [
      ...observedMetrics.map((m) => this.#prefix + m.promName),
      ...durationHistograms.map((h) => this.#prefix + h.promName),
    ];
    this.#checkFree(names);
    for (const metric of observedMetrics) {
      this.#observe(metric, promPoolNameLabel, () => this.#poolReadings.get());
    }
    for (const histogram of durationHistograms) {
      this.#histograms.set(
        histogram.event,
        new this.#prom.Histogram({
          name: this.#prefix + histogram.promName,
          help: histogram.description,
          labelNames: [promPoolNameLabel],
          buckets: [...this.buckets],
          registers: [this.#registry],
        }),
      );
    }
    this.#poolNames = names;
  }

  #dropPoolMetricsIfUnused(): void {
    if (this.#pools.size > 0 || this.#trackers.size > 0 || this.#poolNames === undefined) return;
    this.#unregister(this.#poolNames);
    this.#histograms.clear();
    this.#poolNames = undefined;
  }

  #registerBudgetMetrics(): string[] {
    const names = budgetMetrics.map((m) => this.#prefix + m.promName);
    this.#checkFree(names);
    for (const metric of budgetMetrics) {
      this.#observe(metric, promBudgetNameLabel, () => this.#budgetReadings.get());
    }
    return names;
  }

  #checkFree(names: readonly string[]): void {
    const taken = names.find((name) => this.#registry.getSingleMetric(name) !== undefined);
    if (taken !== undefined) {
      throw new MetricsError(
        'ERR_METRICS_CONFLICT',
        `The registry already has a metric named ${taken} that lifeguard did not register`,
      );
    }
  }

  #unregister(names: readonly string[]): void {
    for (const name of names) this.#registry.removeSingleMetric(name);
  }

  #observe<R>(
    metric: ObservedMetric<R>,
    identityLabel: string,
    read: () => readonly (readonly [string, R])[],
  ): void {
    const labelNames = [identityLabel, ...metric.attributeKeys.map((key) => promLabel[key])];
    // Read the sources into the metric at scrape time: a gauge is set, a counter is reset and
    // brought to the pool's cumulative count (prom-client counters only go up by increments).
    const fill = (write: (labels: Labels, value: number) => void): void => {
      for (const [identity, reading] of read()) {
        for (const point of metric.points(reading)) {
          write(
            labelsOf(identityLabel, identity, metric.attributeKeys, point.attributes),
            point.value,
          );
        }
      }
    };
    const common = {
      name: this.#prefix + metric.promName,
      help: metric.description,
      labelNames,
      registers: [this.#registry],
    };
    if (metric.kind === 'counter') {
      new this.#prom.Counter({
        ...common,
        collect(this: PromClient.Counter) {
          this.reset();
          fill((labels, value) => this.inc(labels, value));
        },
      });
    } else {
      new this.#prom.Gauge({
        ...common,
        collect(this: PromClient.Gauge) {
          this.reset();
          fill((labels, value) => this.set(labels, value));
        },
      });
    }
  }
}

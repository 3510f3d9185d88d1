/**
 * The Prometheus exporter: the pool's metrics in a prom-client registry.
 *
 * Several pools can share one registry: the metrics are registered once per registry (and
 * prefix) and carry the pool's name as the `pool_name` label. Gauges and counters are read off
 * each pool when the registry is scraped; the duration histograms are fed from pool events.
 *
 * prom-client is an optional peer dependency, loaded on the first call only, so that
 * `lifeguard/metrics` can be imported by an application that uses OpenTelemetry alone.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

import {
  checkBuckets,
  defaultDurationBuckets,
  durationHistograms,
  observedMetrics,
  promLabel,
  promPoolNameLabel,
  type ObservedMetric,
  type PointAttributes,
} from './catalog.js';
import { MetricsError } from './errors.js';
import {
  MetricsSource,
  type DurationEvent,
  type Instrumentable,
  type PoolReading,
} from './source.js';

type PromClientModule = typeof PromClient;
type Labels = Record<string, string>;

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

/** What `instrumentPrometheus` returns. */
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

function labelsOf(poolName: string, attributes: PointAttributes): Labels {
  const labels: Labels = { [promPoolNameLabel]: poolName };
  if (attributes.state !== undefined) labels[promLabel.state] = attributes.state;
  if (attributes.reason !== undefined) labels[promLabel.reason] = attributes.reason;
  return labels;
}

/** The metrics of one registry and prefix, shared by every pool instrumented into it. */
class RegistryInstruments {
  readonly #registry: PromClient.Registry;
  readonly #names: string[] = [];
  readonly #histograms = new Map<DurationEvent, PromClient.Histogram>();
  readonly #pools = new Map<string, MetricsSource>();
  readonly buckets: readonly number[];
  /**
   * Readings of every pool for the scrape in progress. prom-client calls every metric's collect
   * in one synchronous pass, so a cache cleared on the next microtask gives each scrape one
   * reading per pool: the metrics of one scrape agree with each other.
   */
  #readings: Map<MetricsSource, PoolReading> | undefined;

  constructor(
    prom: PromClientModule,
    registry: PromClient.Registry,
    prefix: string,
    buckets: readonly number[],
  ) {
    this.#registry = registry;
    this.buckets = buckets;
    const names = [
      ...observedMetrics.map((m) => prefix + m.promName),
      ...durationHistograms.map((h) => prefix + h.promName),
    ];
    const taken = names.find((name) => registry.getSingleMetric(name) !== undefined);
    if (taken !== undefined) {
      throw new MetricsError(
        'ERR_METRICS_CONFLICT',
        `The registry already has a metric named ${taken} that lifeguard did not register`,
      );
    }
    for (const metric of observedMetrics) this.#observe(prom, prefix + metric.promName, metric);
    for (const histogram of durationHistograms) {
      const name = prefix + histogram.promName;
      this.#names.push(name);
      this.#histograms.set(
        histogram.event,
        new prom.Histogram({
          name,
          help: histogram.description,
          labelNames: [promPoolNameLabel],
          buckets: [...buckets],
          registers: [registry],
        }),
      );
    }
  }

  get empty(): boolean {
    return this.#pools.size === 0;
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
    };
  }

  /** Takes the metrics out of the registry, once no pool uses them. */
  unregister(): void {
    for (const name of this.#names) this.#registry.removeSingleMetric(name);
  }

  #observe(prom: PromClientModule, name: string, metric: ObservedMetric): void {
    this.#names.push(name);
    const labelNames = [promPoolNameLabel, ...metric.attributeKeys.map((key) => promLabel[key])];
    // Read the pools into the metric at scrape time: a gauge is set, a counter is reset and
    // brought to the pool's cumulative count (prom-client counters only go up by increments).
    const fill = (write: (labels: Labels, value: number) => void): void => {
      for (const [source, reading] of this.#read()) {
        for (const point of metric.points(reading)) {
          write(labelsOf(source.name, point.attributes), point.value);
        }
      }
    };
    const common = { name, help: metric.description, labelNames, registers: [this.#registry] };
    if (metric.kind === 'counter') {
      new prom.Counter({
        ...common,
        collect(this: PromClient.Counter) {
          this.reset();
          fill((labels, value) => this.inc(labels, value));
        },
      });
    } else {
      new prom.Gauge({
        ...common,
        collect(this: PromClient.Gauge) {
          this.reset();
          fill((labels, value) => this.set(labels, value));
        },
      });
    }
  }

  #read(): Map<MetricsSource, PoolReading> {
    if (this.#readings === undefined) {
      const readings = new Map<MetricsSource, PoolReading>();
      for (const source of this.#pools.values()) readings.set(source, source.read());
      this.#readings = readings;
      queueMicrotask(() => (this.#readings = undefined));
    }
    return this.#readings;
  }
}

/** One set of instruments per registry and prefix; gone with the registry. */
const instrumentsByRegistry = new WeakMap<PromClient.Registry, Map<string, RegistryInstruments>>();

function sameBuckets(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Exports a pool's metrics to a Prometheus client registry: the OpenTelemetry database connection
 * pool metrics under their Prometheus names (`db_client_connection_count{pool_name,state}`,
 * `db_client_connection_wait_time_seconds`, ...) and Lifeguard's own (`lifeguard_pool_*`).
 * Accepts a core pool or a `lifeguard/pg` Pool. See docs/metrics.md.
 *
 * @example
 * const registry = new Registry();
 * const metrics = instrumentPrometheus(pool, { registry });
 * app.get('/metrics', async (_req, res) => res.type(registry.contentType).send(await registry.metrics()));
 */
export function instrumentPrometheus(
  pool: Instrumentable,
  options: PrometheusOptions = {},
): PrometheusInstrumentation {
  const source = new MetricsSource(pool);
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
    instruments = new RegistryInstruments(
      prom,
      registry,
      prefix,
      options.buckets ?? defaultDurationBuckets,
    );
    byPrefix.set(prefix, instruments);
  } else if (options.buckets !== undefined && !sameBuckets(options.buckets, instruments.buckets)) {
    throw new MetricsError(
      'ERR_METRICS_INVALID_OPTION',
      'buckets differ from those of the pools already instrumented in this registry',
    );
  }
  const detach = instruments.attach(source);
  const shared = instruments;
  const sharedByPrefix = byPrefix;
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    detach();
    if (shared.empty) {
      shared.unregister();
      sharedByPrefix.delete(prefix);
    }
  };
  return { poolName: source.name, close, [Symbol.dispose]: close };
}

/**
 * The OpenTelemetry exporter: the pool's metrics as `@opentelemetry/api` instruments.
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
  checkBuckets,
  defaultDurationBuckets,
  durationHistograms,
  observedMetrics,
  otelAttribute,
  otelPoolNameAttribute,
  type ObservedMetric,
  type PointAttributes,
} from './catalog.js';
import { MetricsError } from './errors.js';
import type {
  Attributes,
  BatchObservableResult,
  Histogram,
  Observable,
  OpenTelemetryMeter,
  OpenTelemetryMeterProvider,
} from './otel-api.js';
import { MetricsSource, type DurationEvent, type Instrumentable } from './source.js';

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

/** What `instrumentOpenTelemetry` returns. */
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

export const meterName = 'lifeguard';

/** `ValueType.INT`, written out so that the API package is not loaded for an enum. */
const kInt = 0 satisfies OtelApi.ValueType.INT;

/** Pool names instrumented on each meter: two pools of one name would overwrite each other. */
const poolsByMeter = new WeakMap<OpenTelemetryMeter, Set<string>>();

/**
 * Exports a pool's metrics through OpenTelemetry: `db.client.connection.*` per the semantic
 * conventions for database client connection pools, and Lifeguard's own `lifeguard.pool.*`.
 * Accepts a core pool or a `lifeguard/pg` Pool. See docs/metrics.md.
 *
 * @example
 * const handle = instrumentOpenTelemetry(pool, { meter: metrics.getMeter('my-service') });
 */
export function instrumentOpenTelemetry(
  pool: Instrumentable,
  options: OpenTelemetryOptions = {},
): OpenTelemetryInstrumentation {
  const source = new MetricsSource(pool);
  checkBuckets(options.buckets);
  const meter =
    options.meter ?? (options.meterProvider ?? globalMeterProvider()).getMeter(meterName);
  const releaseName = claimPoolName(meter, source.name);
  const poolAttributes: Attributes = Object.freeze({ [otelPoolNameAttribute]: source.name });
  const stopObserving = observeReadings(meter, source, poolAttributes);
  const buckets = [...(options.buckets ?? defaultDurationBuckets)];
  const stopRecording = recordDurations(meter, source, buckets, poolAttributes);
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    stopRecording();
    stopObserving();
    releaseName();
  };
  return { poolName: source.name, close, [Symbol.dispose]: close };
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

/** Reserves `name` on `meter`, or throws if a pool of that name is instrumented there. */
function claimPoolName(meter: OpenTelemetryMeter, name: string): () => void {
  let names = poolsByMeter.get(meter);
  if (names === undefined) {
    names = new Set();
    poolsByMeter.set(meter, names);
  }
  if (names.has(name)) {
    throw new MetricsError(
      'ERR_METRICS_DUPLICATE_POOL',
      `A pool named ${JSON.stringify(name)} is already instrumented on this meter; ` +
        'give each pool its own name (option `name`)',
    );
  }
  names.add(name);
  const claimed = names;
  return () => claimed.delete(name);
}

/**
 * Creates the observable instruments and one batch callback that reads the pool once per
 * collection for all of them. Returns the function that removes the callback.
 */
function observeReadings(
  meter: OpenTelemetryMeter,
  source: MetricsSource,
  poolAttributes: Attributes,
): () => void {
  // Creating an instrument that already exists on the meter returns the same stream, so every
  // pool on one meter reports into the same metrics, told apart by the pool name attribute.
  const observed = observedMetrics.map((metric) => ({
    metric,
    observable: createObservable(meter, metric),
  }));
  const observables = observed.map((o) => o.observable);
  const callback = (result: BatchObservableResult): void => {
    const reading = source.read();
    for (const { metric, observable } of observed) {
      for (const point of metric.points(reading)) {
        result.observe(observable, point.value, attributesOf(poolAttributes, point.attributes));
      }
    }
  };
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}

/**
 * Creates the duration histograms and records the pool's create, acquire and release events
 * into them. Returns the function that unsubscribes.
 */
function recordDurations(
  meter: OpenTelemetryMeter,
  source: MetricsSource,
  buckets: number[],
  poolAttributes: Attributes,
): () => void {
  const histograms = new Map<DurationEvent, Histogram>();
  for (const h of durationHistograms) {
    histograms.set(
      h.event,
      meter.createHistogram(h.otelName, {
        description: h.description,
        unit: 's',
        advice: { explicitBucketBoundaries: buckets },
      }),
    );
  }
  const recorder = (event: DurationEvent): ((seconds: number) => void) => {
    const histogram = histograms.get(event)!;
    return (seconds) => histogram.record(seconds, poolAttributes);
  };
  return source.watchDurations({
    create: recorder('create'),
    acquire: recorder('acquire'),
    release: recorder('release'),
  });
}

function attributesOf(poolAttributes: Attributes, attributes: PointAttributes): Attributes {
  if (attributes.state === undefined && attributes.reason === undefined) return poolAttributes;
  const result: Attributes = { ...poolAttributes };
  if (attributes.state !== undefined) result[otelAttribute.state] = attributes.state;
  if (attributes.reason !== undefined) result[otelAttribute.reason] = attributes.reason;
  return result;
}

function createObservable(meter: OpenTelemetryMeter, metric: ObservedMetric): Observable {
  const options = { description: metric.description, unit: metric.unit, valueType: kInt };
  switch (metric.kind) {
    case 'counter':
      return meter.createObservableCounter(metric.otelName, options);
    case 'updowncounter':
      return meter.createObservableUpDownCounter(metric.otelName, options);
    case 'gauge':
      return meter.createObservableGauge(metric.otelName, options);
  }
}

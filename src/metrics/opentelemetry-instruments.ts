/**
 * The OpenTelemetry instruments lifeguard creates on a meter, and the callbacks and listeners
 * that feed them: shared by the pool, budget and router instrumentations of opentelemetry.ts.
 */
import type * as OtelApi from '@opentelemetry/api';

import {
  durationHistograms,
  otelAttribute,
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
} from './otel-api.js';
import type { DurationEvent, MetricsSource } from './source.js';

/** `ValueType.INT`, written out so that the API package is not loaded for an enum. */
const kInt = 0 satisfies OtelApi.ValueType.INT;

/** Pool names instrumented on each meter: two pools of one name would overwrite each other. */
const poolsByMeter = new WeakMap<OpenTelemetryMeter, Set<string>>();

/** Reserves `name` on `meter`, or throws if a pool of that name is instrumented there. */
export function claimPoolName(meter: OpenTelemetryMeter, name: string): () => void {
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
 * Creates the observable instruments of `metrics` and one batch callback that reads every
 * source once per collection for all of them (each reading with the attributes that name its
 * source). Returns the function that removes the callback.
 */
export function observeReadings<R>(
  meter: OpenTelemetryMeter,
  metrics: readonly ObservedMetric<R>[],
  readAll: () => readonly (readonly [Attributes, R])[],
): () => void {
  // Creating an instrument that already exists on the meter returns the same stream, so every
  // pool on one meter reports into the same metrics, told apart by the pool name attribute.
  const observed = metrics.map((metric) => ({
    metric,
    observable: createObservable(meter, metric),
  }));
  const observables = observed.map((o) => o.observable);
  const callback = (result: BatchObservableResult): void => {
    for (const [identity, reading] of readAll()) {
      for (const { metric, observable } of observed) {
        for (const point of metric.points(reading)) {
          const attributes = attributesOf(identity, metric.attributeKeys, point.attributes);
          result.observe(observable, point.value, attributes);
        }
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
export function recordDurations(
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

function attributesOf(
  identity: Attributes,
  keys: ObservedMetric<unknown>['attributeKeys'],
  attributes: PointAttributes,
): Attributes {
  if (keys.length === 0) return identity;
  const result: Attributes = { ...identity };
  for (const key of keys) {
    const value = attributes[key];
    if (value !== undefined) result[otelAttribute[key]] = value;
  }
  return result;
}

function createObservable(
  meter: OpenTelemetryMeter,
  metric: Pick<ObservedMetric<unknown>, 'kind' | 'otelName' | 'description' | 'unit'>,
): Observable {
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

/**
 * The parts of `@opentelemetry/api` that lifeguard uses, declared here rather than imported so
 * that lifeguard/metrics' declarations type-check without that optional peer (with
 * `skipLibCheck: false` and prom-client alone). Any Meter and MeterProvider of the API or the
 * SDK is one.
 */

/** Attributes as lifeguard records them: string values only. */
export type Attributes = Record<string, string>;

/** An observable instrument, as the meter creates it: lifeguard only hands it back. */
export type Observable = object;

export interface BatchObservableResult {
  observe(observable: Observable, value: number, attributes?: Attributes): void;
}

export interface Histogram {
  record(value: number, attributes?: Attributes): void;
}

export interface InstrumentOptions {
  description?: string;
  unit?: string;
  /** The API's `ValueType`: 0 is INT. */
  valueType?: number;
  advice?: { explicitBucketBoundaries?: number[] };
}

/** An OpenTelemetry `Meter`, as far as `instrumentOpenTelemetry` uses one. */
export interface OpenTelemetryMeter {
  createObservableCounter(name: string, options?: InstrumentOptions): Observable;
  createObservableUpDownCounter(name: string, options?: InstrumentOptions): Observable;
  createObservableGauge(name: string, options?: InstrumentOptions): Observable;
  createHistogram(name: string, options?: InstrumentOptions): Histogram;
  addBatchObservableCallback(
    callback: (result: BatchObservableResult) => void,
    observables: Observable[],
  ): void;
  removeBatchObservableCallback(
    callback: (result: BatchObservableResult) => void,
    observables: Observable[],
  ): void;
}

/** An OpenTelemetry `MeterProvider`, as far as `instrumentOpenTelemetry` uses one. */
export interface OpenTelemetryMeterProvider {
  getMeter(name: string): OpenTelemetryMeter;
}

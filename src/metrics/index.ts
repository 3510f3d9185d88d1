/**
 * `lifeguard/metrics`: a pool's metrics for Prometheus (its Node.js client) and OpenTelemetry
 * (its JavaScript API), named after OpenTelemetry's semantic conventions for database client
 * connection pools. Both libraries are optional peer dependencies, loaded only by the exporter
 * that needs them. See docs/metrics.md.
 */
export { instrumentPrometheus } from './prometheus.js';
export type {
  PrometheusInstrumentation,
  PrometheusOptions,
  PrometheusRegistry,
} from './prometheus.js';
export { instrumentOpenTelemetry, meterName } from './opentelemetry.js';
export type {
  OpenTelemetryInstrumentation,
  OpenTelemetryMeter,
  OpenTelemetryMeterProvider,
  OpenTelemetryOptions,
} from './opentelemetry.js';
export {
  defaultDurationBuckets,
  durationHistograms,
  observedMetrics,
  otelAttribute,
  otelPoolNameAttribute,
  promLabel,
  promPoolNameLabel,
} from './catalog.js';
export type { DurationHistogram, ObservedMetric, Point, PointAttributes } from './catalog.js';
export { circuitStateValue } from './source.js';
export type { Instrumentable, PoolReading } from './source.js';
export { MetricsError } from './errors.js';
export type { MetricsErrorCode } from './errors.js';

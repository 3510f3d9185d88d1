/**
 * `lifeguard/metrics`: the metrics of a pool, a ConnectionBudget or a router of pools, for
 * Prometheus (its Node.js client) and OpenTelemetry (its JavaScript API), named after
 * OpenTelemetry's semantic conventions for database client connection pools. Both libraries
 * are optional peer dependencies, loaded only by the exporter that needs them. See
 * docs/metrics.md.
 */
export { instrumentPrometheus } from './prometheus.js';
export type {
  PrometheusBudgetInstrumentation,
  PrometheusInstrumentation,
  PrometheusRouterInstrumentation,
  PrometheusOptions,
  PrometheusRegistry,
} from './prometheus.js';
export { instrumentOpenTelemetry, meterName } from './opentelemetry.js';
export type {
  OpenTelemetryBudgetInstrumentation,
  OpenTelemetryInstrumentation,
  OpenTelemetryRouterInstrumentation,
  OpenTelemetryMeter,
  OpenTelemetryMeterProvider,
  OpenTelemetryOptions,
} from './opentelemetry.js';
export {
  budgetMetrics,
  defaultDurationBuckets,
  durationHistograms,
  observedMetrics,
  otelAttribute,
  otelBudgetNameAttribute,
  otelPoolNameAttribute,
  promBudgetNameLabel,
  promLabel,
  promPoolNameLabel,
} from './catalog.js';
export type { DurationHistogram, ObservedMetric, Point, PointAttributes } from './catalog.js';
export { circuitStateValue } from './source.js';
export type { Instrumentable, PoolReading } from './source.js';
export type { InstrumentableBudget, InstrumentableRouter } from './targets.js';
export { MetricsError } from './errors.js';
export type { MetricsErrorCode } from './errors.js';

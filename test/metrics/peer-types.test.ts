/**
 * The exporters' options take lifeguard's own structural types for the registry, the meter and
 * the meter provider (so that lifeguard's declarations need neither optional peer), and the real
 * ones must still fit: a prom-client Registry, the @opentelemetry/api meter and provider, and
 * the SDK's. The type assertions are checked by `npm run typecheck`; the calls also run, so
 * each real object is seen to work where its type is accepted.
 */
import { metrics, type Meter, type MeterProvider as ApiMeterProvider } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { Registry, register, type OpenMetricsContentType } from 'prom-client';
import { describe, expect, expectTypeOf, it } from 'vitest';

import { Pool } from '../../src/core/index.js';
import {
  instrumentOpenTelemetry,
  instrumentPrometheus,
  type OpenTelemetryMeter,
  type OpenTelemetryMeterProvider,
  type OpenTelemetryOptions,
  type PrometheusOptions,
  type PrometheusRegistry,
} from '../../src/metrics/index.js';

function makePool(name: string): Pool<object> {
  return new Pool({ create: () => Promise.resolve({}), destroy() {} }, { name, max: 1 });
}

describe('the real peer types fit the exporters', () => {
  it('prom-client registries', async () => {
    expectTypeOf<Registry>().toExtend<PrometheusRegistry>();
    expectTypeOf<Registry<OpenMetricsContentType>>().toExtend<PrometheusRegistry>();
    expectTypeOf(register).toExtend<PrometheusRegistry>();

    const registry = new Registry();
    const options: PrometheusOptions = { registry };
    const pool = makePool('prom-types');
    const handle = instrumentPrometheus(pool, options);
    expect(registry.getSingleMetric('db_client_connection_max')).toBeDefined();
    handle.close();
    const openMetrics = new Registry<OpenMetricsContentType>();
    instrumentPrometheus(pool, { registry: openMetrics }).close();
    await pool.end();

    // Not anything goes: the types still describe a registry.
    // @ts-expect-error an object without the registry's methods
    expectTypeOf(instrumentPrometheus).toBeCallableWith(pool, { registry: {} });
  });

  it('OpenTelemetry meters and meter providers, of the API and of the SDK', async () => {
    expectTypeOf<Meter>().toExtend<OpenTelemetryMeter>();
    expectTypeOf<ApiMeterProvider>().toExtend<OpenTelemetryMeterProvider>();
    expectTypeOf<MeterProvider>().toExtend<OpenTelemetryMeterProvider>();

    const provider = new MeterProvider();
    const sdkMeter = provider.getMeter('peer-types');
    const pool = makePool('otel-types');
    const options: OpenTelemetryOptions[] = [
      { meter: sdkMeter },
      { meterProvider: provider },
      { meter: metrics.getMeter('peer-types') },
      { meterProvider: metrics.getMeterProvider() },
    ];
    for (const o of options) instrumentOpenTelemetry(pool, o).close();
    await pool.end();
    await provider.shutdown();

    // @ts-expect-error a meter provider is not a meter
    expectTypeOf(instrumentOpenTelemetry).toBeCallableWith(pool, { meter: provider });
  });
});

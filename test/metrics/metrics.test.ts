/**
 * lifeguard/metrics against a core pool over the fake factory, on the fake clock: a scripted
 * load (waiters, timeouts, a full queue, a failed release, a leak, failed creates that open the
 * circuit, idle reaping, end) and, at each step, the metrics of both exporters compared with
 * the pool's own stats() and with the numbers the script implies.
 */
import { Registry } from 'prom-client';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';

import { PoolError, type PoolStats } from '../../src/core/index.js';
import {
  MetricsError,
  instrumentOpenTelemetry,
  instrumentPrometheus,
  type OpenTelemetryInstrumentation,
  type PrometheusInstrumentation,
} from '../../src/metrics/index.js';
import { fail, ok } from '../core/support/fake-factory.js';
import {
  advance,
  endWithin,
  flush,
  makePool,
  rejectionOf,
  track,
  useFakeClock,
  type TestPool,
} from '../core/support/harness.js';
import {
  againstStats,
  otelSetup,
  promNames,
  readOpenTelemetry,
  readPrometheus,
  type Exported,
  type TestReader,
} from './support.js';

useFakeClock();

interface Instrumented extends TestPool {
  readonly registry: Registry;
  readonly reader: TestReader;
  readonly prom: PrometheusInstrumentation;
  readonly otel: OpenTelemetryInstrumentation;
  /** Both exporters' view, read now. */
  exported(): Promise<{ prometheus: Exported; opentelemetry: Exported }>;
}

function instrumented(made: TestPool): Instrumented {
  const registry = new Registry();
  const { reader, provider } = otelSetup();
  const prom = instrumentPrometheus(made.pool, { registry });
  const otel = instrumentOpenTelemetry(made.pool, { meterProvider: provider });
  return {
    ...made,
    registry,
    reader,
    prom,
    otel,
    exported: async () => ({
      prometheus: await readPrometheus(registry),
      opentelemetry: await readOpenTelemetry(reader),
    }),
  };
}

/** Both exporters agree with stats(), point by point, and show `literal` where given. */
async function expectMatchesPool(
  t: Instrumented,
  literal: Partial<Record<string, number>> = {},
): Promise<PoolStats> {
  const stats = t.pool.stats();
  const exported = await t.exported();
  for (const [exporter, view] of Object.entries(exported)) {
    const { expected, actual } = againstStats(view, t.pool.name, stats);
    expect(actual, exporter).toEqual(expected);
    for (const [key, value] of Object.entries(literal)) {
      const [name, attr] = key.split('|') as [string, string | undefined];
      const attrs =
        attr === undefined
          ? {}
          : name === 'lifeguard.pool.destroys'
            ? { reason: attr }
            : { state: attr as 'idle' | 'used' };
      expect(view.value(name, t.pool.name, attrs), `${exporter} ${key}`).toBe(value);
    }
  }
  return stats;
}

async function expectHistogram(
  t: Instrumented,
  name: string,
  count: number,
  sumSeconds: number,
): Promise<void> {
  const exported = await t.exported();
  for (const [exporter, view] of Object.entries(exported)) {
    const h = view.histogram(name, t.pool.name);
    if (count === 0 && exporter === 'opentelemetry') {
      // The SDK has no point for a histogram nothing was recorded in; prom-client shows zeros.
      expect(h, `${exporter} ${name}`).toBeUndefined();
      continue;
    }
    expect(h?.count, `${exporter} ${name} count`).toBe(count);
    expect(h?.sum, `${exporter} ${name} sum`).toBeCloseTo(sumSeconds, 9);
  }
}

describe('a scripted load, seen through both exporters', () => {
  it('waiters, timeouts, a full queue, a failed release, a leak, an open circuit, end', async () => {
    const t = instrumented(
      makePool({
        name: 'orders',
        max: 2,
        acquireTimeoutMillis: 1_000,
        maxWaiting: 2,
        leakDetectionMillis: 3_000,
        reapIntervalMillis: 100,
        circuitBreakerThreshold: 2,
        createRetryBaseMillis: 10,
        createRetryMaxMillis: 10,
      }),
    );
    const { pool, fake } = t;
    expect(t.prom.poolName).toBe('orders');

    // Nothing yet: every point exists, at zero.
    await expectMatchesPool(t, {
      'db.client.connection.max': 2,
      'db.client.connection.count|idle': 0,
    });
    await expectHistogram(t, 'db.client.connection.wait_time', 0, 0);

    // Two callers wait 50 ms for two connections being created.
    fake.script('create', ok(50), ok(50));
    const a = track(pool.acquire());
    const b = track(pool.acquire());
    await flush();
    await expectMatchesPool(t, {
      'db.client.connection.pending_requests': 2,
      'lifeguard.pool.pending_creates': 2,
      'db.client.connection.count|used': 0,
    });
    await advance(50);
    expect([a.status, b.status]).toEqual(['resolved', 'resolved']);
    await expectMatchesPool(t, {
      'db.client.connection.pending_requests': 0,
      'db.client.connection.count|used': 2,
      'db.client.connection.count|idle': 0,
    });
    await expectHistogram(t, 'db.client.connection.create_time', 2, 0.1);
    await expectHistogram(t, 'db.client.connection.wait_time', 2, 0.1);

    // Two more wait and time out; a third finds the queue full.
    const c = track(pool.acquire());
    const d = track(pool.acquire());
    const full = await rejectionOf(pool.acquire());
    expect((full as PoolError).code).toBe('ERR_POOL_QUEUE_FULL');
    await flush();
    await expectMatchesPool(t, {
      'db.client.connection.pending_requests': 2,
      'lifeguard.pool.queue_full_rejections': 1,
    });
    await advance(1_000);
    expect([c.status, d.status]).toEqual(['rejected', 'rejected']);
    await expectMatchesPool(t, {
      'db.client.connection.timeouts': 2,
      'db.client.connection.pending_requests': 0,
    });
    // A wait that timed out obtained nothing: it is not in wait_time.
    await expectHistogram(t, 'db.client.connection.wait_time', 2, 0.1);

    // a comes back fine after holding it 1000 ms, b (also 1000 ms) with an error: destroyed.
    pool.release(a.value!);
    pool.release(b.value!, new Error('broken'));
    await flush();
    await expectMatchesPool(t, {
      'lifeguard.pool.destroys|error': 1,
      'db.client.connection.count|idle': 1,
      'db.client.connection.count|used': 0,
    });
    await expectHistogram(t, 'db.client.connection.use_time', 2, 2.0);

    // Held past leakDetectionMillis: one leak; served from idle, so a wait of 0.
    const leaked = await pool.acquire();
    await advance(3_100);
    await expectMatchesPool(t, { 'lifeguard.pool.leaks': 1, 'db.client.connection.count|used': 1 });
    await expectHistogram(t, 'db.client.connection.wait_time', 3, 0.1);
    pool.release(leaked);
    await expectHistogram(t, 'db.client.connection.use_time', 3, 5.1);

    // The database goes away: two failed creates open the circuit and fail the waiter.
    const held = await pool.acquire();
    fake.script('create', fail(new Error('down')), fail(new Error('down')));
    const waiter = track(pool.acquire());
    await advance(50);
    expect((waiter.error as PoolError).code).toBe('ERR_POOL_CIRCUIT_OPEN');
    expect(pool.circuitState).toBe('open');
    await expectMatchesPool(t, {
      'lifeguard.pool.create_failures': 2,
      'lifeguard.pool.circuit_state': 2,
      'lifeguard.pool.circuit_rejections': 1,
    });
    // Failed creates are not creations: create_time still counts two.
    await expectHistogram(t, 'db.client.connection.create_time', 2, 0.1);

    pool.release(held);
    const ended = await endWithin(pool);
    expect(ended.status).toBe('resolved');
    await expectMatchesPool(t, {
      'lifeguard.pool.destroys|end': 1,
      'db.client.connection.count|idle': 0,
      'db.client.connection.count|used': 0,
    });
  });

  it('counts idle connections reaped, and shows the circuit closed again after a success', async () => {
    const t = instrumented(
      makePool({
        name: 'reaped',
        min: 0,
        idleTimeoutMillis: 1_000,
        reapIntervalMillis: 100,
        circuitBreakerThreshold: 1,
        createRetryBaseMillis: 10,
        createRetryMaxMillis: 10,
      }),
    );
    t.fake.script('create', fail(new Error('down')));
    await rejectionOf(t.pool.acquire());
    await expectMatchesPool(t, { 'lifeguard.pool.circuit_state': 2 });
    await advance(20);
    t.pool.release(await t.pool.acquire());
    await expectMatchesPool(t, {
      'lifeguard.pool.circuit_state': 0,
      'db.client.connection.count|idle': 1,
    });
    await advance(1_200);
    await expectMatchesPool(t, {
      'lifeguard.pool.destroys|idle': 1,
      'db.client.connection.count|idle': 0,
    });
  });
});

describe('names, types and units', () => {
  it('exports exactly the documented names', async () => {
    const t = instrumented(makePool({ name: 'names' }));
    t.pool.release(await t.pool.acquire()); // OpenTelemetry shows a histogram once it has data
    const { prometheus, opentelemetry } = await t.exported();
    expect(prometheus.names().sort()).toEqual(Object.values(promNames).sort());
    expect(opentelemetry.names().sort()).toEqual(Object.keys(promNames).sort());
  });

  it('uses the semantic conventions instrument types and units for OpenTelemetry', async () => {
    const t = instrumented(makePool({ name: 'types' }));
    t.pool.release(await t.pool.acquire());
    const { metrics } = await readOpenTelemetry(t.reader);
    const shape = Object.fromEntries(
      metrics.map((m) => [
        m.descriptor.name,
        [
          m.descriptor.unit,
          m.dataPointType === DataPointType.SUM
            ? m.isMonotonic
              ? 'counter'
              : 'updowncounter'
            : m.dataPointType === DataPointType.GAUGE
              ? 'gauge'
              : 'histogram',
        ],
      ]),
    );
    expect(shape).toEqual({
      'db.client.connection.count': ['{connection}', 'updowncounter'],
      'db.client.connection.idle.max': ['{connection}', 'updowncounter'],
      'db.client.connection.idle.min': ['{connection}', 'updowncounter'],
      'db.client.connection.max': ['{connection}', 'updowncounter'],
      'db.client.connection.pending_requests': ['{request}', 'updowncounter'],
      'db.client.connection.timeouts': ['{timeout}', 'counter'],
      'db.client.connection.create_time': ['s', 'histogram'],
      'db.client.connection.wait_time': ['s', 'histogram'],
      'db.client.connection.use_time': ['s', 'histogram'],
      'lifeguard.pool.pending_creates': ['{connection}', 'updowncounter'],
      'lifeguard.pool.create_failures': ['{failure}', 'counter'],
      'lifeguard.pool.destroys': ['{connection}', 'counter'],
      'lifeguard.pool.circuit_state': ['{state}', 'gauge'],
      'lifeguard.pool.circuit_rejections': ['{request}', 'counter'],
      'lifeguard.pool.leaks': ['{leak}', 'counter'],
      'lifeguard.pool.shed': ['{request}', 'counter'],
      'lifeguard.pool.queue_full_rejections': ['{request}', 'counter'],
    });
  });

  it('writes Prometheus text with counter, gauge and histogram types', async () => {
    const t = instrumented(makePool({ name: 'text' }));
    t.pool.release(await t.pool.acquire());
    const text = await t.registry.metrics();
    expect(text).toContain('# TYPE db_client_connection_timeouts_total counter');
    expect(text).toContain('# TYPE db_client_connection_count gauge');
    expect(text).toContain('# TYPE db_client_connection_wait_time_seconds histogram');
    expect(text).toContain('db_client_connection_count{pool_name="text",state="idle"} 1');
    expect(text).toContain('db_client_connection_wait_time_seconds_count{pool_name="text"} 1');
  });

  it('puts durations in the given buckets, in seconds', async () => {
    const { pool, fake } = makePool({ name: 'buckets' });
    const registry = new Registry();
    const { reader, provider } = otelSetup();
    instrumentPrometheus(pool, { registry, buckets: [0.01, 0.1] });
    instrumentOpenTelemetry(pool, { meterProvider: provider, buckets: [0.01, 0.1] });
    fake.script('create', ok(5), ok(50), ok(500));
    const held = await Promise.all([
      pool.acquire(),
      pool.acquire(),
      pool.acquire(),
      advance(500).then(() => undefined),
    ]);
    for (const r of held.slice(0, 3)) pool.release(r!);
    for (const view of [await readPrometheus(registry), await readOpenTelemetry(reader)]) {
      expect(view.histogram('db.client.connection.create_time', 'buckets')?.counts).toEqual([
        1, 1, 1,
      ]);
    }
  });
});

describe('several pools, and closing', () => {
  it('keeps pools apart by name in one registry and on one meter', async () => {
    const first = instrumented(makePool({ name: 'first', max: 3 }));
    const second = makePool({ name: 'second', max: 7 });
    instrumentPrometheus(second.pool, { registry: first.registry });
    const { prometheus } = await first.exported();
    expect(prometheus.value('db.client.connection.max', 'first')).toBe(3);
    expect(prometheus.value('db.client.connection.max', 'second')).toBe(7);

    // The same meter provider for the second pool: one stream per metric, two pools in it.
    const { reader, provider: shared } = otelSetup();
    instrumentOpenTelemetry(first.pool, { meterProvider: shared });
    instrumentOpenTelemetry(second.pool, { meterProvider: shared });
    const otel = await readOpenTelemetry(reader);
    expect(otel.value('db.client.connection.max', 'first')).toBe(3);
    expect(otel.value('db.client.connection.max', 'second')).toBe(7);
  });

  it('refuses a second pool of the same name on one registry or meter', () => {
    const registry = new Registry();
    const { provider } = otelSetup();
    const a = makePool({ name: 'same' }).pool;
    const b = makePool({ name: 'same' }).pool;
    instrumentPrometheus(a, { registry });
    instrumentOpenTelemetry(a, { meterProvider: provider });
    expect(() => instrumentPrometheus(b, { registry })).toThrow(
      expect.objectContaining({ code: 'ERR_METRICS_DUPLICATE_POOL' }),
    );
    expect(() => instrumentOpenTelemetry(b, { meterProvider: provider })).toThrow(
      expect.objectContaining({ code: 'ERR_METRICS_DUPLICATE_POOL' }),
    );
  });

  it('close() unsubscribes from the pool and removes its series; the last one unregisters', async () => {
    const t = instrumented(makePool({ name: 'closing' }));
    const other = makePool({ name: 'other' });
    const otherProm = instrumentPrometheus(other.pool, { registry: t.registry });
    expect(t.pool.listenerCount('acquire')).toBe(2);
    t.prom.close();
    t.prom.close(); // idempotent
    t.otel.close();
    expect(t.pool.listenerCount('acquire')).toBe(0);
    expect(t.pool.listenerCount('release')).toBe(0);
    expect(t.pool.listenerCount('create')).toBe(0);
    t.pool.release(await t.pool.acquire());
    const { prometheus, opentelemetry } = await t.exported();
    expect(prometheus.value('db.client.connection.max', 'closing')).toBeUndefined();
    expect(prometheus.histogram('db.client.connection.wait_time', 'closing')).toBeUndefined();
    expect(prometheus.value('db.client.connection.max', 'other')).toBe(10);
    expect(opentelemetry.value('db.client.connection.max', 'closing')).toBeUndefined();
    otherProm.close();
    expect(t.registry.getMetricsAsArray()).toEqual([]);
    // And it can be instrumented again afterwards.
    instrumentPrometheus(t.pool, { registry: t.registry }).close();
  });

  it('accepts anything with the pool at .core, and takes idle/waiting counts from it', async () => {
    const { pool } = makePool({ name: 'wrapped' });
    pool.release(await pool.acquire());
    pool.release(await pool.acquire());
    const registry = new Registry();
    const wrapper = { core: pool, idleCount: 0, waitingCount: 4 };
    instrumentPrometheus(wrapper, { registry });
    const view = await readPrometheus(registry);
    expect(view.value('db.client.connection.count', 'wrapped', { state: 'idle' })).toBe(0);
    expect(view.value('db.client.connection.count', 'wrapped', { state: 'used' })).toBe(1);
    expect(view.value('db.client.connection.pending_requests', 'wrapped')).toBe(4);
  });
});

describe('bad input', () => {
  it('is a MetricsError with a stable code', () => {
    const { pool } = makePool({ name: 'bad' });
    const registry = new Registry();
    const codeOf = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (error) {
        expect(error).toBeInstanceOf(MetricsError);
        expect(error).toBeInstanceOf(PoolError);
        return (error as MetricsError).code;
      }
      return 'no error';
    };
    expect(codeOf(() => instrumentPrometheus({} as never, { registry }))).toBe(
      'ERR_METRICS_INVALID_POOL',
    );
    expect(codeOf(() => instrumentOpenTelemetry({ core: 42 } as never))).toBe(
      'ERR_METRICS_INVALID_POOL',
    );
    expect(codeOf(() => instrumentPrometheus(pool, { registry, prefix: 'my-app' }))).toBe(
      'ERR_METRICS_INVALID_OPTION',
    );
    expect(codeOf(() => instrumentPrometheus(pool, { registry, buckets: [1, 0.5] }))).toBe(
      'ERR_METRICS_INVALID_OPTION',
    );
    expect(codeOf(() => instrumentOpenTelemetry(pool, { buckets: [] }))).toBe(
      'ERR_METRICS_INVALID_OPTION',
    );
    registry.registerMetric({ name: 'db_client_connection_max' } as never);
    expect(codeOf(() => instrumentPrometheus(pool, { registry }))).toBe('ERR_METRICS_CONFLICT');
    // A prefix keeps apart from what the registry already has.
    const prefixed = instrumentPrometheus(pool, { registry, prefix: 'app_' });
    expect(registry.getSingleMetric('app_db_client_connection_max')).toBeDefined();
    prefixed.close();
    expect(registry.getSingleMetric('app_db_client_connection_max')).toBeUndefined();
  });
});

/**
 * lifeguard/metrics for a ConnectionBudget and for routers of pools: core pools over the fake
 * factory sharing a budget, on the fake clock. At each step both exporters are compared with
 * the budget's own stats() (and the pools' with theirs) and with the numbers the script
 * implies; then routers whose members change, budgets shared or refused, and a real LaneRouter.
 */
import { Registry } from 'prom-client';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import { describe, expect, expectTypeOf, it } from 'vitest';

import { ConnectionBudget, type BudgetStats, type Pool } from '../../src/core/index.js';
import {
  instrumentOpenTelemetry,
  instrumentPrometheus,
  type InstrumentableBudget,
  type InstrumentableRouter,
} from '../../src/metrics/index.js';
import { createLanes, type LaneRouter, type PoolRouter } from '../../src/routing/index.js';
import { ok } from '../core/support/fake-factory.js';
import { advance, flush, makePool, track, useFakeClock } from '../core/support/harness.js';
import type { FakeResource } from '../core/support/fake-factory.js';
import {
  againstStats,
  budgetPromNames,
  expectedFromBudget,
  otelSetup,
  readOpenTelemetry,
  readPrometheus,
  type Exported,
} from './support.js';

useFakeClock();

interface Views {
  registry: Registry;
  read(): Promise<Record<'prometheus' | 'opentelemetry', Exported>>;
  meterProvider: ReturnType<typeof otelSetup>['provider'];
}

function views(): Views {
  const registry = new Registry();
  const { reader, provider } = otelSetup();
  return {
    registry,
    meterProvider: provider,
    read: async () => ({
      prometheus: await readPrometheus(registry),
      opentelemetry: await readOpenTelemetry(reader),
    }),
  };
}

/** Both exporters agree with budget.stats(), point by point; returns those stats. */
async function expectMatchesBudget(v: Views, budget: ConnectionBudget): Promise<BudgetStats> {
  const stats = budget.stats();
  const expected = expectedFromBudget(stats);
  for (const [exporter, view] of Object.entries(await v.read())) {
    const actual = expected.map(([name, member]) => [
      name,
      member,
      view.budget(name, stats.name, member),
    ]);
    expect(actual, exporter).toEqual(expected);
  }
  return stats;
}

function memberOf(stats: BudgetStats, name: string): BudgetStats['members'][number] {
  return stats.members.find((m) => m.name === name)!;
}

/** A router as lifeguard/metrics sees one: a name, a budget, and members that may change. */
function stubRouter(
  name: string,
  budget: ConnectionBudget | undefined,
  members: Map<string, Pool<FakeResource>>,
): InstrumentableRouter {
  return { name, budget, members: () => members };
}

describe("a budget's metrics", () => {
  it('follow budget.stats() as members take, wait, shed and are served', async () => {
    const budget = new ConnectionBudget({ max: 2, name: 'shared' });
    const v = views();
    const prom = instrumentPrometheus(budget, { registry: v.registry });
    const otel = instrumentOpenTelemetry(budget, { meterProvider: v.meterProvider });
    expect([prom.budgetName, otel.budgetName]).toEqual(['shared', 'shared']);
    const { pool: a, fake: fakeA } = makePool({ name: 'a', max: 2, budget });
    const { pool: b } = makePool({ name: 'b', min: 0, max: 2, budget });

    let stats = await expectMatchesBudget(v, budget);
    expect(stats.members.map((m) => m.name)).toEqual(['a', 'b']);
    expect((await v.read()).prometheus.budget('lifeguard.budget.connection.max', 'shared')).toBe(2);

    // a takes the whole budget, then both connections go idle.
    const held = [await a.acquire(), await a.acquire()];
    for (const r of held) a.release(r);
    await flush();
    stats = await expectMatchesBudget(v, budget);
    expect(memberOf(stats, 'a').used).toBe(2);

    // b needs one: the budget asks a to close an idle one, which takes 50 ms to close.
    fakeA.script('destroy', ok(50));
    const fromB = track(b.acquire());
    await flush();
    stats = await expectMatchesBudget(v, budget);
    expect(fromB.status).toBe('pending');
    expect(memberOf(stats, 'a')).toMatchObject({ used: 2, shedding: 1 });
    expect(
      (await v.read()).opentelemetry.budget('lifeguard.budget.connection.shedding', 'shared', 'a'),
    ).toBe(1);

    // Closed: the slot goes to b.
    await advance(50);
    expect(fromB.status).toBe('resolved');
    stats = await expectMatchesBudget(v, budget);
    expect(memberOf(stats, 'a')).toMatchObject({ used: 1, shedding: 0 });
    expect(memberOf(stats, 'b')).toMatchObject({ used: 1, wanting: 0 });

    // A member that ends leaves the budget, and its series go with it.
    b.release(fromB.value!);
    await b.end();
    stats = await expectMatchesBudget(v, budget);
    expect(stats.members.map((m) => m.name)).toEqual(['a']);
    // Prometheus drops the series; the OpenTelemetry SDK (cumulative temporality) repeats the
    // last value of a series no longer observed, so only Prometheus is checked here.
    const after = await v.read();
    expect(
      after.prometheus.budget('lifeguard.budget.connection.used', 'shared', 'b'),
    ).toBeUndefined();

    prom.close();
    otel.close();
    expect(v.registry.getMetricsAsArray()).toEqual([]);
  });

  it('reports a member waiting on the budget as wanting', async () => {
    const budget = new ConnectionBudget({ max: 2, name: 'tight' });
    const v = views();
    instrumentPrometheus(budget, { registry: v.registry });
    instrumentOpenTelemetry(budget, { meterProvider: v.meterProvider });
    const { pool: keeper } = makePool({ name: 'keeper', min: 1, max: 1, warmMin: false, budget });
    const { pool: greedy } = makePool({ name: 'greedy', max: 2, budget });
    const first = await greedy.acquire(); // keeper's min keeps the second slot free
    const second = track(greedy.acquire());
    await flush();
    const stats = await expectMatchesBudget(v, budget);
    expect(memberOf(stats, 'greedy')).toMatchObject({ used: 1, wanting: 1 });
    expect(memberOf(stats, 'keeper')).toMatchObject({ min: 1, max: 1, used: 0 });
    greedy.release(first);
    await flush();
    expect(second.status).toBe('resolved');
    greedy.release(second.value!);
    expect(keeper.stats().total).toBe(0);
  });

  it('exports exactly the documented names, as up-down counters (gauges) with units', async () => {
    const budget = new ConnectionBudget({ max: 3, name: 'named' });
    makePool({ name: 'only', max: 3, budget });
    const v = views();
    instrumentPrometheus(budget, { registry: v.registry });
    instrumentOpenTelemetry(budget, { meterProvider: v.meterProvider });
    const { prometheus, opentelemetry } = await v.read();
    expect(prometheus.names().sort()).toEqual(Object.values(budgetPromNames).sort());
    expect(opentelemetry.names().sort()).toEqual(Object.keys(budgetPromNames).sort());
    const shapes = Object.fromEntries(
      (opentelemetry as Awaited<ReturnType<typeof readOpenTelemetry>>).metrics.map((m) => [
        m.descriptor.name,
        [m.descriptor.unit, m.dataPointType === DataPointType.SUM && !m.isMonotonic],
      ]),
    );
    expect(shapes).toEqual({
      'lifeguard.budget.connection.max': ['{connection}', true],
      'lifeguard.budget.connection.used': ['{connection}', true],
      'lifeguard.budget.connection.shedding': ['{connection}', true],
      'lifeguard.budget.wanting': ['{request}', true],
      'lifeguard.budget.member.min': ['{connection}', true],
      'lifeguard.budget.member.max': ['{connection}', true],
    });
    const text = await v.registry.metrics();
    expect(text).toContain('# TYPE lifeguard_budget_connection_used gauge');
    expect(text).toContain('lifeguard_budget_connection_max{budget_name="named"} 3');
    expect(text).toContain('lifeguard_budget_member_max{budget_name="named",member="only"} 3');
  });
});

describe("a router's metrics", () => {
  it('instrument every member under its own name, the budget, and members added later', async () => {
    const budget = new ConnectionBudget({ max: 4, name: 'r' });
    const one = makePool({ name: 'r.one', max: 2, budget }).pool;
    const two = makePool({ name: 'r.two', max: 2, budget }).pool;
    const members = new Map([
      ['one', one],
      ['two', two],
    ]);
    const router = stubRouter('r', budget, members);
    const v = views();
    const prom = instrumentPrometheus(router, { registry: v.registry });
    const otel = instrumentOpenTelemetry(router, { meterProvider: v.meterProvider });
    expect([prom.routerName, prom.budgetName, otel.routerName, otel.budgetName]).toEqual([
      'r',
      'r',
      'r',
      'r',
    ]);

    const held = await one.acquire();
    for (const [exporter, view] of Object.entries(await v.read())) {
      for (const pool of [one, two]) {
        const { expected, actual } = againstStats(view, pool.name, pool.stats());
        expect(actual, `${exporter} ${pool.name}`).toEqual(expected);
      }
      expect(view.histogram('db.client.connection.wait_time', 'r.one')?.count, exporter).toBe(1);
    }
    await expectMatchesBudget(v, budget);

    // A member added lazily: its gauges from the next collection, its events from then on.
    const three = makePool({ name: 'r.three', max: 1, budget }).pool;
    members.set('three', three);
    three.release(await three.acquire()); // before any collection: not seen by the histograms
    let read = await v.read();
    for (const [exporter, view] of Object.entries(read)) {
      const { expected, actual } = againstStats(view, 'r.three', three.stats());
      expect(actual, exporter).toEqual(expected);
    }
    expect(read.prometheus.histogram('db.client.connection.wait_time', 'r.three')?.count).toBe(0);
    three.release(await three.acquire());
    read = await v.read();
    for (const [exporter, view] of Object.entries(read)) {
      expect(view.histogram('db.client.connection.wait_time', 'r.three')?.count, exporter).toBe(1);
    }
    await expectMatchesBudget(v, budget);

    // A member the router dropped is no longer reported (the budget still lists it: it has
    // not left the budget).
    members.delete('two');
    const fromTwo = await two.acquire();
    read = await v.read();
    // Prometheus drops its series; the OpenTelemetry SDK repeats a series' last value once it
    // is no longer observed (cumulative temporality): there it stops following the pool.
    expect(read.prometheus.value('db.client.connection.max', 'r.two')).toBeUndefined();
    expect(read.opentelemetry.value('db.client.connection.count', 'r.two', { state: 'used' })).toBe(
      0,
    );
    expect(two.stats().inUse).toBe(1);
    for (const [exporter, view] of Object.entries(read)) {
      expect(view.value('db.client.connection.max', 'r.one'), exporter).toBe(2);
    }
    expect(two.listenerCount('acquire')).toBe(0);
    await expectMatchesBudget(v, budget);
    two.release(fromTwo);

    one.release(held);
    prom.close();
    otel.close();
    prom.close(); // idempotent
    expect(v.registry.getMetricsAsArray()).toEqual([]);
    for (const pool of [one, two, three]) expect(pool.listenerCount('acquire')).toBe(0);
  });

  it('follow a router that starts with no member and no budget (a tenant router)', async () => {
    const members = new Map<string, Pool<FakeResource>>();
    const router = stubRouter('tenants', undefined, members);
    const v = views();
    const prom = instrumentPrometheus(router, { registry: v.registry });
    instrumentOpenTelemetry(router, { meterProvider: v.meterProvider });
    expect(prom.budgetName).toBeUndefined();
    expect(
      (await v.read()).prometheus.value('db.client.connection.max', 'tenants.a'),
    ).toBeUndefined();
    const tenant = makePool({ name: 'tenants.a', max: 3 }).pool;
    members.set('a', tenant);
    for (const [exporter, view] of Object.entries(await v.read())) {
      const { expected, actual } = againstStats(view, 'tenants.a', tenant.stats());
      expect(actual, exporter).toEqual(expected);
    }
    tenant.release(await tenant.acquire());
    for (const [exporter, view] of Object.entries(await v.read())) {
      expect(view.histogram('db.client.connection.use_time', 'tenants.a')?.count, exporter).toBe(1);
    }
  });

  it('report a budget shared by two routers once, and refuse another budget of its name', async () => {
    const budget = new ConnectionBudget({ max: 4, name: 'shared' });
    const a = stubRouter('a', budget, new Map([['x', makePool({ name: 'a.x', budget }).pool]]));
    const b = stubRouter('b', budget, new Map([['x', makePool({ name: 'b.x', budget }).pool]]));
    const v = views();
    const promA = instrumentPrometheus(a, { registry: v.registry });
    const promB = instrumentPrometheus(b, { registry: v.registry });
    const otelA = instrumentOpenTelemetry(a, { meterProvider: v.meterProvider });
    const otelB = instrumentOpenTelemetry(b, { meterProvider: v.meterProvider });
    await expectMatchesBudget(v, budget);

    const impostor = new ConnectionBudget({ max: 9, name: 'shared' });
    expect(() => instrumentPrometheus(impostor, { registry: v.registry })).toThrow(
      expect.objectContaining({ code: 'ERR_METRICS_DUPLICATE_BUDGET' }),
    );
    expect(() => instrumentOpenTelemetry(impostor, { meterProvider: v.meterProvider })).toThrow(
      expect.objectContaining({ code: 'ERR_METRICS_DUPLICATE_BUDGET' }),
    );

    // The budget stays while a router that shares it is instrumented.
    promA.close();
    otelA.close();
    await expectMatchesBudget(v, budget);
    const read = await v.read();
    expect(read.prometheus.value('db.client.connection.max', 'a.x')).toBeUndefined();
    expect(read.prometheus.value('db.client.connection.max', 'b.x')).toBe(10);
    promB.close();
    otelB.close();
    expect(v.registry.getMetricsAsArray()).toEqual([]);
  });

  it('refuse a member whose name is taken, and leave nothing behind', async () => {
    const budget = new ConnectionBudget({ max: 4, name: 'clash' });
    const taken = makePool({ name: 'same', budget }).pool;
    const v = views();
    const alone = instrumentPrometheus(taken, { registry: v.registry });
    instrumentOpenTelemetry(taken, { meterProvider: v.meterProvider });
    const fresh = makePool({ name: 'fresh', budget }).pool;
    const router = stubRouter(
      'clash',
      budget,
      new Map([
        ['fresh', fresh],
        ['same', makePool({ name: 'same' }).pool],
      ]),
    );
    expect(() => instrumentPrometheus(router, { registry: v.registry })).toThrow(
      expect.objectContaining({ code: 'ERR_METRICS_DUPLICATE_POOL' }),
    );
    expect(() => instrumentOpenTelemetry(router, { meterProvider: v.meterProvider })).toThrow(
      expect.objectContaining({ code: 'ERR_METRICS_DUPLICATE_POOL' }),
    );
    expect(fresh.listenerCount('acquire')).toBe(0);
    const { prometheus, opentelemetry } = await v.read();
    for (const view of [prometheus, opentelemetry]) {
      expect(view.value('db.client.connection.max', 'fresh')).toBeUndefined();
      expect(view.budget('lifeguard.budget.connection.max', 'clash')).toBeUndefined();
    }
    alone.close();
  });

  it("refuse a budget whose metric names are someone else's, and let it in under a prefix", async () => {
    const budget = new ConnectionBudget({ max: 2, name: 'taken' });
    const registry = new Registry();
    registry.registerMetric({ name: 'lifeguard_budget_wanting' } as never);
    // A pool in the registry keeps its instruments alive between the two attempts.
    instrumentPrometheus(makePool({ name: 'keeps' }).pool, { registry });
    expect(() => instrumentPrometheus(budget, { registry })).toThrow(
      expect.objectContaining({ code: 'ERR_METRICS_CONFLICT' }),
    );
    expect(() => instrumentPrometheus(budget, { registry })).toThrow(
      expect.objectContaining({ code: 'ERR_METRICS_CONFLICT' }), // not ERR_METRICS_DUPLICATE_BUDGET
    );
    const prefixed = instrumentPrometheus(budget, { registry, prefix: 'app_' });
    expect(registry.getSingleMetric('app_lifeguard_budget_wanting')).toBeDefined();
    prefixed.close();
    expect(registry.getSingleMetric('app_lifeguard_budget_wanting')).toBeUndefined();
  });

  it("fit lifeguard's own budget and routers (types)", () => {
    expectTypeOf<ConnectionBudget>().toExtend<InstrumentableBudget>();
    expectTypeOf<PoolRouter>().toExtend<InstrumentableRouter>();
    expectTypeOf<LaneRouter>().toExtend<InstrumentableRouter>();
  });

  it('take a LaneRouter for a router, not for a pool', async () => {
    // Nothing connects: the lanes' pools open connections only when used.
    const lanes = createLanes({
      connectionString: 'postgres://nobody@127.0.0.1:1/none',
      name: 'lanes',
      budget: 4,
      lanes: { api: { max: 3 }, reports: { max: 1 } },
    });
    const v = views();
    const prom = instrumentPrometheus(lanes, { registry: v.registry });
    const otel = instrumentOpenTelemetry(lanes, { meterProvider: v.meterProvider });
    for (const [exporter, view] of Object.entries(await v.read())) {
      expect(view.value('db.client.connection.max', 'lanes.api'), exporter).toBe(3);
      expect(view.value('db.client.connection.max', 'lanes.reports'), exporter).toBe(1);
      expect(view.value('db.client.connection.max', 'lanes'), exporter).toBeUndefined();
      expect(view.budget('lifeguard.budget.member.max', 'lanes', 'lanes.api'), exporter).toBe(3);
    }
    await expectMatchesBudget(v, lanes.budget!);
    prom.close();
    otel.close();
    await lanes.end();
  });
});

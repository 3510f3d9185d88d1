/**
 * The dashboard's sampler under fake timers: what one sample holds, rates from cumulative
 * counters, errors by code (reported or derived), the wait-time histogram fed by `acquire`
 * events, the bounded history, and that closing leaves no timer and no listener behind.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { ConnectionBudget, Pool, type PoolStats } from '../../src/core/index.js';
import { HistoryRing } from '../../src/dashboard/history-ring.js';
import { Sampler, type DashboardUpdate } from '../../src/dashboard/sampler.js';
import type {
  DashboardRouter,
  DashboardSource,
  DashboardStats,
  WrappingPool,
} from '../../src/dashboard/source.js';
import { createLanes } from '../../src/routing/index.js';
import { bucketOf, kWaitBucketBounds } from '../../src/dashboard/wait-histogram.js';

const pools: Pool<object>[] = [];
const samplers: Sampler[] = [];

beforeEach(() => {
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'],
  });
});
afterEach(async () => {
  for (const sampler of samplers.splice(0)) sampler.close();
  await Promise.all(pools.splice(0).map((pool) => pool.end()));
  vi.useRealTimers();
});

function corePool(max = 2): Pool<object> {
  const pool = new Pool<object>({ create: async () => ({}), destroy() {} }, { max, name: 'core' });
  pools.push(pool);
  return pool;
}

function sampler(source: DashboardSource, intervalMillis = 1000, historySize = 10) {
  const s = new Sampler(source, { intervalMillis, historySize });
  samplers.push(s);
  return s;
}

/** A wrapper whose stats the test sets by hand, on top of a real core pool's. */
function wrapper(overrides: () => Partial<DashboardStats>, waitingCount?: number): WrappingPool {
  const core = corePool();
  return {
    core,
    name: 'wrapped',
    stats: (): DashboardStats => ({ ...core.stats(), ...overrides() }),
    ...(waitingCount === undefined ? {} : { waitingCount }),
  };
}

function collect(s: Sampler): DashboardUpdate[] {
  const updates: DashboardUpdate[] = [];
  s.subscribe((u) => updates.push(u));
  return updates;
}

describe('Sampler', () => {
  it('takes a first sample at once, then one per interval, into a bounded history', () => {
    const s = sampler(corePool(), 1000, 3);
    expect(s.snapshot().history).toHaveLength(1);
    expect(s.snapshot()).toMatchObject({ name: 'core', intervalMillis: 1000, historySize: 3 });
    const updates = collect(s);
    vi.advanceTimersByTime(999);
    expect(updates).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(updates).toHaveLength(1);
    vi.advanceTimersByTime(4000);
    expect(updates).toHaveLength(5);
    const history = s.snapshot().history;
    expect(history).toHaveLength(3);
    // Oldest first, and the last is the latest update's sample.
    expect(history.map((h) => h.time)).toEqual([...history.map((h) => h.time)].sort());
    expect(history.at(-1)).toEqual(updates.at(-1)!.sample);
  });

  it('reports the gauges of the pool at each sample', async () => {
    const pool = corePool(3);
    const s = sampler(pool);
    const updates = collect(s);
    const a = await pool.acquire();
    const b = await pool.acquire();
    pool.release(b);
    vi.advanceTimersByTime(1000);
    expect(updates[0]!.sample).toMatchObject({
      total: 2,
      idle: 1,
      inUse: 1,
      waiting: 0,
      pendingCreates: 0,
      circuit: 'closed',
    });
    expect(updates[0]!.state).toMatchObject({ max: 3, min: 0 });
    pool.release(a);
  });

  it('turns checkouts into a rate per second when the pool does not count queries', async () => {
    const pool = corePool();
    const s = sampler(pool, 500);
    const updates = collect(s);
    for (let i = 0; i < 6; i++) await pool.use(async () => undefined);
    vi.advanceTimersByTime(500);
    expect(updates[0]!.state).toMatchObject({ throughputUnit: 'checkouts', throughputTotal: 6 });
    expect(updates[0]!.sample.throughput).toBeCloseTo(12, 6); // 6 in 0.5 s
    vi.advanceTimersByTime(500);
    expect(updates[1]!.sample.throughput).toBe(0);
  });

  it('prefers the queries counter when the pool reports one', () => {
    let queries = 100;
    const s = sampler(
      wrapper(() => ({ queries })),
      1000,
    );
    const updates = collect(s);
    queries = 350;
    vi.advanceTimersByTime(1000);
    expect(updates[0]!.state).toMatchObject({ throughputUnit: 'queries', throughputTotal: 350 });
    expect(updates[0]!.sample.throughput).toBeCloseTo(250, 6);
  });

  it('derives errors by code from the core counters when the pool keeps no tally', () => {
    let counters: Partial<PoolStats> = {};
    const s = sampler(wrapper(() => counters));
    const updates = collect(s);
    counters = { timeouts: 3, aborts: 1, rejectedQueueFull: 0, circuitRejections: 2, shed: 4 };
    vi.advanceTimersByTime(1000);
    expect(updates[0]!.state.errors).toEqual({
      ERR_POOL_ACQUIRE_TIMEOUT: 3,
      ERR_POOL_ABORTED: 1,
      ERR_POOL_CIRCUIT_OPEN: 2,
      ERR_POOL_OVERLOADED: 4,
    });
    expect(updates[0]!.state.errorsTotal).toBe(10);
    expect(updates[0]!.sample.errorRate).toBeCloseTo(10, 6);
  });

  it("uses the pool's own errors by code when it reports them", () => {
    const errors = { '23505': 2, ERR_PG_CONNECTION_LOST: 1 };
    const s = sampler(wrapper(() => ({ errors, timeouts: 7 })));
    const updates = collect(s);
    vi.advanceTimersByTime(1000);
    expect(updates[0]!.state.errors).toEqual(errors);
    expect(updates[0]!.state.errorsTotal).toBe(3);
  });

  it("shows the wrapper's waiting count (queued queries included) when it has one", () => {
    const s = sampler(wrapper(() => ({}), 42));
    expect(s.snapshot().history[0]!.waiting).toBe(42);
  });

  it('buckets the wait of every checkout from the acquire event', async () => {
    // Real time: the core reads its own monotonic clock, which fake timers do not move.
    vi.useRealTimers();
    const pool = corePool(1);
    // Warm: with the resource created and idle, the next acquire takes it without waiting.
    pool.release(await pool.acquire());
    const s = sampler(pool);
    // What the pool itself measured: on a loaded machine the second wait may be well over 30 ms.
    const waits: number[] = [];
    pool.on('acquire', ({ waitedMillis }) => waits.push(waitedMillis));
    const held = await pool.acquire(); // no wait (idle resource): the first bucket
    const waiting = pool.acquire();
    await new Promise((resolve) => setTimeout(resolve, 30));
    pool.release(held);
    pool.release(await waiting); // waited 30 ms or more: not the first bucket
    const histogram = s.snapshot().state.histogram;
    expect(histogram.bounds).toEqual(kWaitBucketBounds);
    expect(histogram.total).toBe(2);
    expect(histogram.counts[0]).toBe(1);
    expect(waits[1]).toBeGreaterThanOrEqual(25);
    expect(bucketOf(waits[1]!)).not.toBe(0);
    expect(histogram.counts[bucketOf(waits[1]!)]).toBe(1);
    expect(histogram.counts.reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('stops sampling and unsubscribes from the pool when closed', () => {
    const pool = corePool();
    const listenersBefore = pool.listenerCount('acquire');
    const s = sampler(pool);
    expect(pool.listenerCount('acquire')).toBe(listenersBefore + 1);
    const updates = collect(s);
    const timersBefore = vi.getTimerCount();
    s.close();
    s.close(); // idempotent
    expect(s.closed).toBe(true);
    expect(vi.getTimerCount()).toBe(timersBefore - 1);
    expect(pool.listenerCount('acquire')).toBe(listenersBefore);
    expect(s.listenerCount).toBe(0);
    vi.advanceTimersByTime(5000);
    expect(updates).toHaveLength(0);
  });

  it('keeps serving other subscribers when one throws', () => {
    const s = sampler(corePool());
    s.subscribe(() => {
      throw new Error('broken stream');
    });
    const updates = collect(s);
    vi.advanceTimersByTime(1000);
    expect(updates).toHaveLength(1);
  });
});

describe('bucketOf', () => {
  it('puts each wait in the 1-2-5 bucket whose upper bound it is under', () => {
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(0.999)).toBe(0);
    expect(bucketOf(1)).toBe(1);
    expect(bucketOf(4.9)).toBe(2);
    expect(bucketOf(5)).toBe(3);
    expect(bucketOf(9_999)).toBe(kWaitBucketBounds.length - 1);
    expect(bucketOf(10_000)).toBe(kWaitBucketBounds.length);
    expect(bucketOf(1e9)).toBe(kWaitBucketBounds.length);
    expect(bucketOf(Number.NaN)).toBe(0);
    expect(bucketOf(-1)).toBe(0);
  });
});

describe('HistoryRing', () => {
  it('keeps the newest items, oldest first', () => {
    const ring = new HistoryRing<number>(3);
    expect(ring.toArray()).toEqual([]);
    expect(ring.last()).toBeUndefined();
    for (let i = 1; i <= 7; i++) ring.push(i);
    expect(ring.toArray()).toEqual([5, 6, 7]);
    expect(ring.last()).toBe(7);
    expect(ring.size).toBe(3);
  });

  it('rejects a capacity that is not a positive integer', () => {
    expect(() => new HistoryRing(0)).toThrow(RangeError);
    expect(() => new HistoryRing(1.5)).toThrow(RangeError);
  });
});

describe('the budget section', () => {
  function budgetPool(name: string, budget: ConnectionBudget, min = 0, max = 2): Pool<object> {
    const pool = new Pool<object>(
      { create: async () => ({}), destroy() {} },
      { name, min, max, budget, warmMin: false },
    );
    pools.push(pool);
    return pool;
  }

  /** The budget's own account of each member, as the rows should show it. */
  function rowsFrom(budget: ConnectionBudget): Record<string, unknown>[] {
    return budget.stats().members.map((m) => ({ ...m }));
  }

  it('is absent for a pool without a budget', () => {
    const s = sampler(corePool());
    expect(s.snapshot().state.budget).toBeUndefined();
    expect(JSON.stringify(s.snapshot())).not.toContain('budget');
  });

  it("shows the pool's budget, with a row per member and the pool's own figures in its row", async () => {
    const budget = new ConnectionBudget({ max: 2, name: 'shared' });
    const one = budgetPool('one', budget);
    const two = budgetPool('two', budget);
    const s = sampler(one);
    const updates = collect(s);
    const held = [await one.acquire(), await one.acquire()];
    const waiting = two.acquire(); // the budget is full: two waits for a slot
    await Promise.resolve();
    vi.advanceTimersByTime(1000);
    const view = updates[0]!.state.budget!;
    expect(view).toMatchObject({ name: 'shared', max: 2, used: 2 });
    const [rowOne, rowTwo] = rowsFrom(budget);
    expect(rowTwo).toMatchObject({ name: 'two', used: 0, wanting: 1 });
    expect(view.members).toEqual([
      { ...rowOne, waiting: 0, inUse: 2 },
      rowTwo, // not a pool this dashboard watches: the budget's figures only
    ]);
    one.release(held[0]!);
    one.release(held[1]!);
    await waiting.then((r) => two.release(r));
  });

  /** A router over core pools, as the dashboard sees one. */
  function router(budget: ConnectionBudget, members: Map<string, Pool<object>>): DashboardRouter {
    return {
      name: 'router',
      budget,
      members: () => members,
      stats: () => {
        const each = Object.fromEntries([...members].map(([key, pool]) => [key, pool.stats()]));
        const all = Object.values(each);
        return { ...all[0]!, inUse: all.reduce((n, st) => n + st.inUse, 0), members: each };
      },
    };
  }

  it("of a router: every member's row, members added later, and their checkouts", async () => {
    const budget = new ConnectionBudget({ max: 4, name: 'routed' });
    const a = budgetPool('r.a', budget);
    const b = budgetPool('r.b', budget, 1);
    const members = new Map([
      ['a', a],
      ['b', b],
    ]);
    const s = sampler(router(budget, members));
    const updates = collect(s);
    const fromA = await a.acquire();
    b.release(await b.acquire());
    vi.advanceTimersByTime(1000);
    expect(s.snapshot().state.histogram.total).toBe(2);
    const [rowA, rowB] = rowsFrom(budget);
    expect(updates[0]!.state.budget!.members).toEqual([
      { ...rowA, waiting: 0, inUse: 1 },
      { ...rowB, waiting: 0, inUse: 0 },
    ]);
    expect(updates[0]!.state).toMatchObject({ budget: { used: 2, max: 4 } });

    // Added after the dashboard started: found at the next sample, counted from then on.
    const c = budgetPool('r.c', budget);
    members.set('c', c);
    vi.advanceTimersByTime(1000);
    const fromC = await c.acquire();
    expect(s.snapshot().state.histogram.total).toBe(3);
    vi.advanceTimersByTime(1000);
    expect(updates[2]!.state.budget!.members.find((m) => m.name === 'r.c')).toMatchObject({
      used: 1,
      inUse: 1,
      waiting: 0,
    });

    // Dropped by the router: no longer listened to.
    members.delete('a');
    vi.advanceTimersByTime(1000);
    expect(a.listenerCount('acquire')).toBe(0);
    expect(updates[3]!.state.budget!.members.find((m) => m.name === 'r.a')).not.toHaveProperty(
      'inUse',
    );
    s.close();
    for (const pool of [a, b, c]) expect(pool.listenerCount('acquire')).toBe(0);
    a.release(fromA);
    c.release(fromC);
  });

  it('takes a LaneRouter, with its budget and one row per lane', () => {
    // Nothing connects: the lanes' pools open connections only when used.
    const lanes = createLanes({
      connectionString: 'postgres://nobody@127.0.0.1:1/none',
      budget: 5,
      lanes: { api: { min: 2, max: 4, warmMin: false }, reports: { max: 1 } },
    });
    const s = sampler(lanes);
    expect(s.snapshot().name).toBe('lanes');
    expect(s.snapshot().state.budget).toEqual({
      name: 'lanes',
      max: 5,
      used: 0,
      members: [
        {
          name: 'lanes.api',
          min: 2,
          max: 4,
          used: 0,
          wanting: 0,
          shedding: 0,
          waiting: 0,
          inUse: 0,
        },
        {
          name: 'lanes.reports',
          min: 0,
          max: 1,
          used: 0,
          wanting: 0,
          shedding: 0,
          waiting: 0,
          inUse: 0,
        },
      ],
    });
    s.close();
    return lanes.end();
  });
});

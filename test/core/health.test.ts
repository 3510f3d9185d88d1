import { describe, expect, it, vi } from 'vitest';
import {
  checkHealth,
  HealthChecker,
  InvalidOptionError,
  type HealthReport,
  type PoolStats,
} from '../../src/core/index.js';
import { FakeFactory, fail, hang, ok, type FakeResource } from './support/fake-factory.js';
import { advance, flush, makePool, recordEvents, track, useFakeClock } from './support/harness.js';

useFakeClock();

const refused = new Error('connect ECONNREFUSED 10.0.0.5:5432');

/** A probe that answers after `millis` of fake time (at once with 0), counting its calls. */
function probeAfter(millis = 0, answer: unknown = true) {
  const seen: FakeResource[] = [];
  const probe = (resource: FakeResource): Promise<unknown> => {
    seen.push(resource);
    return new Promise((resolve) => setTimeout(() => resolve(answer), millis));
  };
  return { probe, seen };
}

describe('checkHealth: statuses', () => {
  it('reports ok with the latency, the circuit and the stats, and gives the resource back', async () => {
    const { pool } = makePool({ name: 'db', min: 1 });
    await flush(); // min: 1 is created in the background
    const { probe, seen } = probeAfter(3);
    const report = track(checkHealth(pool, probe));
    await advance(3);
    expect(report.status).toBe('resolved');
    const value = report.value!;
    expect(value).toMatchObject({
      status: 'ok',
      name: 'db',
      latencyMillis: 3,
      acquireMillis: 0,
      circuit: 'closed',
    });
    expect(value.reasons).toBeUndefined();
    expect(value.error).toBeUndefined();
    expect(seen).toHaveLength(1);
    // Taken after the release: the check's own resource is idle again, and was counted once.
    expect(value.stats).toMatchObject({ total: 1, idle: 1, inUse: 0, acquires: 1, waiting: 0 });
    expect(JSON.parse(JSON.stringify(value))).toEqual(value);
  });

  it('reports down when the probe throws, with a typed code and the cause, and destroys that resource', async () => {
    const { pool, fake } = makePool();
    const report = await checkHealth(pool, () => {
      throw new Error('server closed the connection unexpectedly');
    });
    expect(report.status).toBe('down');
    expect(report.error).toEqual({
      code: 'ERR_HEALTH_PROBE_FAILED',
      message: 'The health probe failed: server closed the connection unexpectedly',
    });
    expect(fake.destroyed).toHaveLength(1);
    expect(report.stats).toMatchObject({ total: 0, inUse: 0, destroys: { error: 1 } });
  });

  it('reports down when the probe answers false, and destroys that resource', async () => {
    const { pool, fake } = makePool();
    const { probe } = probeAfter(0, false);
    const report = track(checkHealth(pool, probe));
    await flush();
    expect(report.value).toMatchObject({
      status: 'down',
      error: { code: 'ERR_HEALTH_PROBE_FAILED', message: 'The health probe answered false' },
    });
    expect(fake.destroyed).toHaveLength(1);
  });

  it('answers down at the deadline when the probe hangs, aborts its signal, destroys the resource, and reports no leak', async () => {
    const { pool, fake } = makePool({ leakDetectionMillis: 5_000 });
    const leaks = recordEvents(pool, 'leak');
    let probeSignal: AbortSignal | undefined;
    const report = track(
      checkHealth(
        pool,
        (_resource, signal) => {
          probeSignal = signal;
          return new Promise(() => {}); // never answers, ignores the signal
        },
        { timeoutMillis: 1_000 },
      ),
    );
    await advance(999);
    expect(report.status).toBe('pending');
    await advance(1);
    expect(report.value).toMatchObject({
      status: 'down',
      latencyMillis: 1_000,
      error: {
        code: 'ERR_HEALTH_TIMEOUT',
        message: 'The health check timed out after 1000 ms running the health probe',
      },
    });
    expect(probeSignal?.aborted).toBe(true);
    expect(fake.destroyed).toHaveLength(1);
    expect(pool.inUse).toBe(0);
    await advance(10_000);
    expect(leaks).toEqual([]);
  });

  it('answers down at the deadline when no resource comes, and leaves no waiter behind', async () => {
    const { pool } = makePool({ max: 1 });
    const held = await pool.acquire();
    const { probe, seen } = probeAfter();
    const report = track(checkHealth(pool, probe, { timeoutMillis: 500 }));
    await advance(499);
    expect(pool.waiting).toBe(1);
    await advance(1);
    expect(report.value).toMatchObject({
      status: 'down',
      acquireMillis: 500,
      error: {
        code: 'ERR_HEALTH_TIMEOUT',
        message: 'The health check timed out after 500 ms waiting for a resource',
      },
    });
    expect(seen).toEqual([]);
    expect(pool.waiting).toBe(0);
    pool.release(held);
    expect(pool.stats()).toMatchObject({ idle: 1, inUse: 0, aborts: 1 });
  });

  it('reports down at once, without acquiring or probing, while the circuit is open', async () => {
    const { pool, fake } = makePool({ circuitBreakerThreshold: 1 });
    fake.setDefault('create', fail(refused));
    const failed = track(pool.acquire());
    await flush();
    expect(failed.status).toBe('rejected');
    expect(pool.circuitState).toBe('open');
    const creates = fake.calls.create;
    const { probe, seen } = probeAfter();
    const report = track(checkHealth(pool, probe));
    await flush();
    expect(report.value).toMatchObject({
      status: 'down',
      circuit: 'open',
      error: { code: 'ERR_POOL_CIRCUIT_OPEN' },
    });
    expect(report.value!.acquireMillis).toBeUndefined();
    expect(seen).toEqual([]);
    expect(fake.calls.create).toBe(creates);
    expect(pool.stats().acquires).toBe(0);
  });

  it("reports down with the pool's error when the circuit opens under the check", async () => {
    const { pool, fake } = makePool({ circuitBreakerThreshold: 1 });
    fake.setDefault('create', fail(refused));
    const report = track(checkHealth(pool, probeAfter().probe));
    await flush();
    expect(report.value?.status).toBe('down');
    expect(report.value?.circuit).toBe('open');
    expect(report.value?.error?.code).toBe('ERR_POOL_CIRCUIT_OPEN');
    expect(report.value?.error?.message).toContain('ECONNREFUSED');
  });

  it('reports down with ERR_POOL_CLOSED once the pool has ended', async () => {
    const { pool } = makePool();
    void pool.end();
    const report = track(checkHealth(pool, probeAfter().probe));
    await flush();
    expect(report.value).toMatchObject({ status: 'down', error: { code: 'ERR_POOL_CLOSED' } });
  });

  it('reports degraded, circuit-half-open, when it got an answer while creation is recovering', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0); // the shortest backoff
    // The first resource is made; the second fails (circuit opens), then its retry hangs.
    const fake = new FakeFactory().script('create', ok(), fail(refused), hang());
    const { pool } = makePool({ min: 2, max: 2, circuitBreakerThreshold: 1 }, {}, fake);
    await advance(1);
    expect(pool.circuitState).toBe('half-open');
    expect(pool.idle).toBe(1);
    const report = track(checkHealth(pool, probeAfter().probe));
    await flush();
    expect(report.value).toMatchObject({
      status: 'degraded',
      circuit: 'half-open',
      reasons: ['circuit-half-open'],
    });
  });

  it('reports degraded, waiting, when more callers queue than degradedWaiting', async () => {
    const { pool } = makePool({ max: 1 });
    const held = await pool.acquire();
    const other = pool.acquire();
    const report = track(checkHealth(pool, probeAfter().probe, { degradedWaiting: 0 }));
    await flush();
    pool.release(held);
    pool.release(await other);
    await flush();
    expect(report.value).toMatchObject({ status: 'degraded', reasons: ['waiting'] });
  });

  it('by default counts waiting as degraded only beyond the pool size', async () => {
    const { pool } = makePool({ max: 1 });
    const held = await pool.acquire();
    const other = pool.acquire();
    const report = track(checkHealth(pool, probeAfter().probe));
    await flush();
    pool.release(held);
    pool.release(await other);
    await flush();
    expect(report.value?.status).toBe('ok');
  });

  it('reports degraded, slow-acquire and slow-probe, past slowMillis', async () => {
    const { pool, fake } = makePool();
    fake.script('create', ok(1_200));
    const report = track(checkHealth(pool, probeAfter(1_100).probe, { slowMillis: 1_000 }));
    await advance(2_300);
    expect(report.value).toMatchObject({
      status: 'degraded',
      acquireMillis: 1_200,
      latencyMillis: 2_300,
      reasons: ['slow-acquire', 'slow-probe'],
    });
  });

  it('reports degraded, overloaded, when the pool sheds the check instead of queueing it', async () => {
    const { pool } = makePool({ max: 1, maxWaiting: 1 });
    await pool.acquire();
    void pool.acquire().catch(() => undefined); // the one caller allowed to wait
    const { probe, seen } = probeAfter();
    const report = track(checkHealth(pool, probe));
    await flush();
    expect(report.value).toMatchObject({
      status: 'degraded',
      reasons: ['overloaded'],
      error: { code: 'ERR_POOL_QUEUE_FULL' },
    });
    expect(seen).toEqual([]);
  });

  it('rejects invalid options instead of running an unbounded check', async () => {
    const { pool } = makePool();
    for (const options of [
      { timeoutMillis: Infinity },
      { timeoutMillis: 0 },
      { slowMillis: -1 },
      { degradedWaiting: Number.NaN },
    ]) {
      const result = track(checkHealth(pool, probeAfter().probe, options));
      await flush();
      expect(result.error).toBeInstanceOf(InvalidOptionError);
    }
    expect(pool.stats().acquires).toBe(0);
  });
});

describe('checkHealth: never piling up', () => {
  it('shares one acquire and one probe among concurrent callers, and runs a fresh one afterwards', async () => {
    const { pool } = makePool();
    const { probe, seen } = probeAfter(50);
    const reports = Array.from({ length: 5 }, () => track(checkHealth(pool, probe)));
    await advance(50);
    expect(seen).toHaveLength(1);
    expect(pool.stats().acquires).toBe(1);
    expect(reports.every((r) => r.value === reports[0]!.value)).toBe(true);
    expect(reports[0]!.value?.status).toBe('ok');
    const next = track(checkHealth(pool, probe));
    await advance(50);
    expect(seen).toHaveLength(2);
    expect(next.value).not.toBe(reports[0]!.value);
  });

  it('keeps a pool checked by a load balancer every second at one queued check, however long it is saturated', async () => {
    const { pool } = makePool({ max: 1, acquireTimeoutMillis: 60_000 });
    const held = await pool.acquire();
    let peakWaiting = 0;
    for (let i = 0; i < 30; i++) {
      // Two probes at once each time, as two load balancer nodes would send.
      void checkHealth(pool, probeAfter().probe, { timeoutMillis: 2_000 });
      void checkHealth(pool, probeAfter().probe, { timeoutMillis: 2_000 });
      for (let t = 0; t < 1_000; t += 100) {
        await advance(100);
        peakWaiting = Math.max(peakWaiting, pool.waiting);
      }
    }
    expect(peakWaiting).toBe(1);
    pool.release(held);
    expect(pool.idle).toBe(1);
  });
});

describe('HealthChecker with a source that cannot cancel its acquire', () => {
  /** A source whose acquire ignores the signal, as lifeguard/pg's connect() does. */
  function uncancellableSource() {
    const resource: FakeResource = { id: 1 };
    const pending: ((r: FakeResource) => void)[] = [];
    const released: { resource: FakeResource; error: unknown }[] = [];
    const stats = { circuit: 'closed', waiting: 0, max: 1 } as unknown as PoolStats;
    const checker = new HealthChecker<FakeResource>({
      name: 'custom',
      stats: () => stats,
      acquire: () => new Promise<FakeResource>((resolve) => pending.push(resolve)),
      release: (r, error) => released.push({ resource: r, error }),
    });
    return { checker, resource, pending, released };
  }

  it('lets the next check wait for the acquire left over from a timed-out one, instead of queueing another', async () => {
    const { checker, resource, pending, released } = uncancellableSource();
    const { probe, seen } = probeAfter();
    const first = track(checker.check(probe, { timeoutMillis: 100 }));
    await advance(100);
    expect(first.value?.error?.code).toBe('ERR_HEALTH_TIMEOUT');
    const second = track(checker.check(probe, { timeoutMillis: 100 }));
    await advance(50);
    expect(pending).toHaveLength(1); // no second acquire
    pending[0]!(resource);
    await flush();
    expect(second.value?.status).toBe('ok');
    expect(seen).toEqual([resource]);
    expect(released).toEqual([{ resource, error: undefined }]);
  });

  it('releases at once a resource that arrives after its check gave up, with nobody waiting for it', async () => {
    const { checker, resource, pending, released } = uncancellableSource();
    const { probe, seen } = probeAfter();
    const first: Promise<HealthReport> = checker.check(probe, { timeoutMillis: 100 });
    await advance(100);
    expect((await first).status).toBe('down');
    pending[0]!(resource);
    await flush();
    expect(seen).toEqual([]);
    expect(released).toEqual([{ resource, error: undefined }]);
    // And the next check acquires afresh.
    void checker.check(probe, { timeoutMillis: 100 });
    await flush();
    expect(pending).toHaveLength(2);
  });
});

/**
 * The soak: mixed load through lifeguard/pg while random faults hit it, then a verdict.
 * Shared by bench/soak.ts (10 minutes by default) and test/pg/soak.test.ts (60 s in CI).
 *
 * Two pools, each behind its own TCP fault proxy, on one embedded server:
 * - `pipelined`: the defaults (pipelining on). Its proxy injects the faults that break or slow
 *   a connection visibly: latency, a bandwidth cap, resets (at once or mid-answer), refused
 *   connections.
 * - `read-timeout`: `query_timeout` set (so one query per connection, as pg.Pool). Its proxy
 *   also makes connections half-open and black-holes them: faults where nothing arrives, which
 *   only a client-side read timeout can bound (see test/pg/resilience-half-open.test.ts).
 * Both also see sessions killed with pg_terminate_backend and at least one server restart.
 *
 * The verdict, after a fault-free settling period:
 * - zero hung calls (every call settled within the grace period);
 * - every error typed (a string `code`);
 * - no checkout left behind (`inUse` 0), server backends no more than the pools hold;
 * - flat heap (after GC) and connection counts: the last third of the run against the first.
 */
import { getHeapStatistics } from 'node:v8';

import pg from 'pg';

import { Pool, type PoolConfig } from '../../src/pg/index.js';
import type { EmbeddedDatabase } from '../../scripts/lib/database.js';
import { startTcpProxy, targetOf, type TcpProxy } from '../../test/support/tcp-proxy.js';
import { CallTracker, isTyped, sleep } from './call-tracker.js';
import { exposeGc } from './harness.js';

export interface SoakOptions {
  readonly db: EmbeddedDatabase;
  readonly durationMillis: number;
  /** Seed of the fault and load choices, so a failing run can be replayed. */
  readonly seed?: number;
  /** Mean time between faults. */
  readonly faultEveryMillis?: number;
  /** Closed-loop callers per pool. */
  readonly workersPerPool?: number;
  readonly log?: (line: string) => void;
}

export interface SoakSample {
  /** Seconds since the start. */
  t: number;
  heapUsedMB: number;
  /** Each pool's totalCount. */
  connections: Record<string, number>;
  pending: number;
}

export interface SoakReport {
  seed: number;
  durationMillis: number;
  calls: number;
  succeeded: number;
  errorsByCode: Record<string, number>;
  /** Errors by `pool:operation`, then by code: which path produced which error. */
  errorsByOperation: Record<string, Record<string, number>>;
  faults: Record<string, number>;
  hung: { label: string; ageMillis: number }[];
  samples: SoakSample[];
  heapFirstThirdMB: number;
  heapLastThirdMB: number;
  connectionsFirstThird: number;
  connectionsLastThird: number;
  serverBackendsAtEnd: number;
  inUseAtEnd: Record<string, number>;
  endMillis: number;
  /** Empty when the run passed. */
  failures: string[];
}

/** A small seeded PRNG (mulberry32): same seed, same faults and load mix. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const kMax = 8;
const kAcquireTimeoutMillis = 3_000;
const kQueryTimeoutMillis = 3_000;
const kSettleMillis = 4_000;
/** Longest a call may legitimately take: waiting, a read timeout, a close grace, and margin. */
const kGraceMillis = kAcquireTimeoutMillis + kQueryTimeoutMillis + 6_000;

interface SoakPool {
  name: string;
  pool: Pool;
  proxy: TcpProxy;
  /** Faults this pool's proxy may be given. */
  faults: readonly ProxyFault[];
}

type ProxyFault =
  'latency' | 'bandwidth' | 'drop' | 'reset-mid-answer' | 'refuse' | 'half-open' | 'blackhole';
const visibleFaults: readonly ProxyFault[] = [
  'latency',
  'bandwidth',
  'drop',
  'reset-mid-answer',
  'refuse',
];
const silentFaults: readonly ProxyFault[] = [...visibleFaults, 'half-open', 'blackhole'];

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const { db, durationMillis } = options;
  const seed = options.seed ?? Date.now() % 1_000_000;
  const random = prng(seed);
  const log = options.log ?? (() => undefined);
  const faultEveryMillis = options.faultEveryMillis ?? 2_500;
  const workersPerPool = options.workersPerPool ?? 12;
  const gc = exposeGc();
  const tracker = new CallTracker();
  const errorsByCode: Record<string, number> = {};
  const errorsByOperation: Record<string, Record<string, number>> = {};
  const faults: Record<string, number> = {};
  let calls = 0;
  let succeeded = 0;

  const common: PoolConfig = {
    max: kMax,
    acquireTimeoutMillis: kAcquireTimeoutMillis,
    createTimeoutMillis: 2_000,
    createRetryMaxMillis: 1_000,
    validateTimeoutMillis: 1_000,
    endTimeoutMillis: 2_000,
  };
  const pools: SoakPool[] = [];
  for (const [name, config, allowed] of [
    ['pipelined', {}, visibleFaults],
    ['read-timeout', { query_timeout: kQueryTimeoutMillis }, silentFaults],
  ] as const) {
    const proxy = await startTcpProxy({ target: targetOf(db.url) });
    const pool = new Pool({
      ...common,
      ...config,
      connectionString: proxy.url(db.url),
      application_name: `soak-${name}`,
    });
    pool.on('error', () => undefined);
    pools.push({ name, pool, proxy, faults: allowed });
  }

  // --- load: closed-loop callers with a mix of operations -----------------------------------
  let loadRunning = true;
  const operations: {
    weight: number;
    label: string;
    run: (pool: Pool, n: number) => Promise<unknown>;
  }[] = [
    { weight: 60, label: 'query', run: (pool, n) => pool.query('SELECT $1::int AS n', [n]) },
    {
      weight: 10,
      label: 'rows',
      run: (pool) => pool.query("SELECT i, repeat('r', 100) FROM generate_series(1, 200) i"),
    },
    { weight: 5, label: 'slow', run: (pool) => pool.query('SELECT pg_sleep(0.05)') },
    {
      weight: 10,
      label: 'transaction',
      run: (pool, n) =>
        pool.transaction(async (client) => {
          await client.query('SELECT $1::int', [n]);
          return client.query('SELECT $1::int + 1', [n]);
        }),
    },
    {
      weight: 15,
      label: 'connect',
      run: async (pool, n) => {
        const client = await pool.connect();
        let failure: Error | undefined;
        try {
          return await client.query('SELECT $1::int', [n]);
        } catch (error) {
          failure = error as Error; // a broken client is destroyed, not handed on
          throw error;
        } finally {
          client.release(failure);
        }
      },
    },
  ];
  const totalWeight = operations.reduce((s, o) => s + o.weight, 0);
  const pick = (): (typeof operations)[number] => {
    let r = random() * totalWeight;
    for (const op of operations) if ((r -= op.weight) < 0) return op;
    return operations[0]!;
  };

  const worker = async (soakPool: SoakPool): Promise<void> => {
    let n = 0;
    while (loadRunning) {
      const op = pick();
      const label = `${soakPool.name}:${op.label}`;
      const outcome = await tracker.track(label, () => op.run(soakPool.pool, n++));
      calls++;
      if (outcome.ok) {
        succeeded++;
        await sleep(2);
      } else {
        errorsByCode[outcome.code] = (errorsByCode[outcome.code] ?? 0) + 1;
        const mine = (errorsByOperation[label] ??= {});
        mine[outcome.code] = (mine[outcome.code] ?? 0) + 1;
        await sleep(20);
      }
    }
  };
  const workers = pools.flatMap((p) => Array.from({ length: workersPerPool }, () => worker(p)));

  // --- faults ----------------------------------------------------------------------------
  let faultsRunning = true;
  const clearProxy = (proxy: TcpProxy): void => {
    proxy.setDelay(0);
    proxy.setBandwidth(0);
    proxy.resetAfterBytes(0);
    proxy.refuseNew(false);
    proxy.blackhole(false);
  };
  const applyProxyFault = async (target: SoakPool): Promise<void> => {
    const fault = target.faults[Math.floor(random() * target.faults.length)]!;
    const holdMillis = 300 + random() * 1_200;
    faults[fault] = (faults[fault] ?? 0) + 1;
    log(`fault ${fault} on ${target.name} for ${Math.round(holdMillis)} ms`);
    const { proxy } = target;
    switch (fault) {
      case 'latency':
        proxy.setDelay(20 + random() * 150);
        break;
      case 'bandwidth':
        proxy.setBandwidth(50_000 + random() * 200_000);
        break;
      case 'drop':
        proxy.dropAll();
        return;
      case 'reset-mid-answer':
        proxy.resetAfterBytes(1_000 + Math.floor(random() * 30_000), { limit: 2 });
        break;
      case 'refuse':
        proxy.refuseNew(true);
        break;
      case 'half-open':
        proxy.halfOpen();
        return;
      case 'blackhole':
        proxy.blackhole(true);
        break;
    }
    await sleep(holdMillis);
    clearProxy(proxy);
  };
  const terminateBackends = async (): Promise<void> => {
    faults['terminate'] = (faults['terminate'] ?? 0) + 1;
    log('fault pg_terminate_backend on every pool session');
    const admin = new pg.Client({ connectionString: db.url });
    admin.on('error', () => undefined);
    try {
      await admin.connect();
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'soak-%'",
      );
    } catch {
      // The server may be restarting: this fault simply did not happen.
    } finally {
      await admin.end().catch(() => undefined);
    }
  };
  const restart = async (): Promise<void> => {
    faults['restart'] = (faults['restart'] ?? 0) + 1;
    log('fault server restart');
    await db.stopServer();
    await sleep(500 + random() * 1_500);
    await db.startServer();
  };
  const faultLoop = async (): Promise<void> => {
    const started = performance.now();
    // One restart guaranteed in the middle; more by chance in long runs (about one per 2 min).
    let restartDone = false;
    while (faultsRunning) {
      await sleep(faultEveryMillis * (0.5 + random()));
      if (!faultsRunning) break;
      const elapsed = performance.now() - started;
      const roll = random();
      if ((!restartDone && elapsed > durationMillis / 2) || roll < faultEveryMillis / 120_000) {
        restartDone = true;
        await restart();
      } else if (roll < 0.15) {
        await terminateBackends();
      } else {
        await applyProxyFault(pools[Math.floor(random() * pools.length)]!);
      }
    }
  };

  // --- sampling ------------------------------------------------------------------------------
  const samples: SoakSample[] = [];
  const t0 = performance.now();
  const sampleTimer = setInterval(() => {
    gc?.();
    samples.push({
      t: Math.round((performance.now() - t0) / 100) / 10,
      heapUsedMB: Math.round(getHeapStatistics().used_heap_size / 1e5) / 10,
      connections: Object.fromEntries(pools.map((p) => [p.name, p.pool.totalCount])),
      pending: tracker.pendingCount,
    });
    tracker.compact(); // keep memory flat: outcomes are already counted
  }, 1_000);
  sampleTimer.unref();

  const faulting = faultLoop();
  await sleep(durationMillis);
  faultsRunning = false;
  await faulting;
  for (const p of pools) clearProxy(p.proxy);
  if (!db.running) await db.startServer();
  log('faults stopped; settling');
  await sleep(kSettleMillis);
  loadRunning = false;
  clearInterval(sampleTimer);

  // --- verdict -------------------------------------------------------------------------------
  await tracker.drained(kGraceMillis);
  const now = performance.now();
  const hung = tracker
    .hung(0, now)
    .map((r) => ({ label: r.label, ageMillis: Math.round(now - r.startedAt) }));
  // Workers blocked on a hung call never return; do not wait for them.
  if (hung.length === 0) await Promise.all(workers);

  const inUseAtEnd = Object.fromEntries(pools.map((p) => [p.name, p.pool.stats().inUse]));
  const held = pools.reduce((s, p) => s + p.pool.totalCount, 0);
  const serverBackendsAtEnd = await countServerBackends(db.url, held);

  const endStarted = performance.now();
  await Promise.all(pools.map((p) => p.pool.end()));
  const endMillis = Math.round(performance.now() - endStarted);
  await Promise.all(pools.map((p) => p.proxy.close()));

  const third = Math.max(1, Math.floor(samples.length / 3));
  const mean = (xs: number[]): number =>
    Math.round((xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length)) * 10) / 10;
  const heapFirst = mean(samples.slice(0, third).map((s) => s.heapUsedMB));
  const heapLast = mean(samples.slice(-third).map((s) => s.heapUsedMB));
  const connTotal = (s: SoakSample): number =>
    Object.values(s.connections).reduce((a, b) => a + b, 0);
  const connFirst = mean(samples.slice(0, third).map(connTotal));
  const connLast = mean(samples.slice(-third).map(connTotal));

  const failures: string[] = [];
  if (hung.length > 0)
    failures.push(`${hung.length} calls hung: ${JSON.stringify(hung.slice(0, 5))}`);
  const untyped = Object.entries(errorsByCode).filter(([code]) => !isTyped(code));
  if (untyped.length > 0) failures.push(`untyped errors: ${JSON.stringify(untyped)}`);
  for (const [name, inUse] of Object.entries(inUseAtEnd)) {
    if (inUse !== 0) failures.push(`${name}: ${inUse} connections still checked out at the end`);
  }
  if (serverBackendsAtEnd > held) {
    failures.push(`${serverBackendsAtEnd} server sessions at the end, the pools hold ${held}`);
  }
  // Generous bounds: a 2-core shared machine makes the heap noisy; a leak of calls, clients or
  // listeners grows it without bound, which these still catch over a long run.
  if (heapLast > heapFirst * 1.5 + 8) {
    failures.push(`heap grew from ${heapFirst} MB (first third) to ${heapLast} MB (last third)`);
  }
  if (connLast > 2 * kMax) failures.push(`connections: mean ${connLast} in the last third`);
  if (endMillis > 10_000) failures.push(`end() took ${endMillis} ms`);
  if (succeeded === 0) failures.push('no call succeeded');

  return {
    seed,
    durationMillis,
    calls,
    succeeded,
    errorsByCode,
    errorsByOperation,
    faults,
    hung,
    samples,
    heapFirstThirdMB: heapFirst,
    heapLastThirdMB: heapLast,
    connectionsFirstThird: connFirst,
    connectionsLastThird: connLast,
    serverBackendsAtEnd,
    inUseAtEnd,
    endMillis,
    failures,
  };
}

/**
 * Sessions of the soak's pools on the server. Sessions killed a moment ago may still be
 * listed while their backends exit, so poll briefly until the count is within `expected`.
 */
async function countServerBackends(url: string, expected: number): Promise<number> {
  const admin = new pg.Client({ connectionString: url });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    let count = Infinity;
    for (let i = 0; i < 50; i++) {
      const { rows } = await admin.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'soak-%'",
      );
      count = rows[0]!.n;
      if (count <= expected) break;
      await sleep(100);
    }
    return count;
  } finally {
    await admin.end().catch(() => undefined);
  }
}

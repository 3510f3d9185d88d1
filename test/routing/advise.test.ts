import { describe, expect, it } from 'vitest';

import type { PoolStats, Summary } from '../../src/core/index.js';
import { computeAdvice, type AdviceInput } from '../../src/routing/advise-compute.js';
import { demandOf, demandTarget, seedSize } from '../../src/routing/advise-formulas.js';
import { samplePool, type SampleClock } from '../../src/routing/advise-sample.js';
import { isLocalAddress, limitsOf } from '../../src/routing/advise-server.js';
import { checkUrl, maskUrl, scrub } from '../../src/routing/advise-target.js';
import type { ActivityRow, PoolSample, ServerSnapshot } from '../../src/routing/advise-types.js';
import pg from 'pg';

import { advise, formatAdvice } from '../../src/routing/index.js';

const pg16Settings = [
  { name: 'max_connections', setting: '100' },
  { name: 'superuser_reserved_connections', setting: '3' },
  { name: 'reserved_connections', setting: '2' },
  { name: 'server_version', setting: '16.4' },
  { name: 'server_version_num', setting: '160004' },
];

function server(activity: ActivityRow[] = [], local = false): ServerSnapshot {
  return { limits: limitsOf(pg16Settings), activity, endpoint: 'app@10.0.0.5:5432/shop', local };
}

function poolSample(overrides: Partial<PoolSample> = {}): PoolSample {
  return {
    name: 'web',
    max: 10,
    min: 0,
    total: 4,
    inUse: 2,
    waiting: 0,
    windowMillis: 1000,
    acquires: 200,
    arrivalPerSecond: 200,
    holdMeanMillis: 20,
    holdP99Millis: 64,
    waitMeanMillis: null,
    waitedAcquires: 0,
    timeouts: 0,
    shed: 0,
    rejectedQueueFull: 0,
    ...overrides,
  };
}

function input(overrides: Partial<AdviceInput> = {}): AdviceInput {
  return {
    kind: 'pool',
    server: server(),
    pool: poolSample(),
    appInstances: 1,
    spindles: 1,
    serverCores: undefined,
    localCores: 64,
    generatedAt: new Date(0),
    ...overrides,
  };
}

describe('server limits', () => {
  it('subtracts both reserves from max_connections on PostgreSQL 16+', () => {
    expect(limitsOf(pg16Settings)).toMatchObject({
      maxConnections: 100,
      superuserReservedConnections: 3,
      reservedConnections: 2,
      available: 95,
      versionNum: 160004,
    });
  });

  it('reports reserved_connections as null, not 0, on servers that lack it', () => {
    const pg15 = pg16Settings.filter((row) => row.name !== 'reserved_connections');
    expect(limitsOf(pg15)).toMatchObject({ reservedConnections: null, available: 97 });
  });

  it('treats a Unix socket and loopback as local, anything else as remote', () => {
    expect(isLocalAddress(null)).toBe(true);
    expect(isLocalAddress('127.0.0.1')).toBe(true);
    expect(isLocalAddress('::1')).toBe(true);
    expect(isLocalAddress('::ffff:127.0.0.1')).toBe(true);
    expect(isLocalAddress('10.0.0.5')).toBe(false);
    expect(isLocalAddress('::ffff:10.0.0.5')).toBe(false);
  });
});

describe('formulas', () => {
  it('seeds floor(available / instances * 0.8), clamped to [2, available]', () => {
    expect(seedSize(95, 1)).toBe(76);
    expect(seedSize(95, 4)).toBe(19);
    expect(seedSize(95, 100)).toBe(2);
    expect(seedSize(1, 1)).toBe(1);
    expect(seedSize(0, 1)).toBe(0);
  });

  it("applies Little's law with the mean and with the p99 hold", () => {
    expect(demandOf(poolSample())).toEqual({
      arrivalPerSecond: 200,
      holdMeanMillis: 20,
      holdP99Millis: 64,
      meanConnections: 4,
      p99Connections: 12.8,
    });
    expect(demandOf(poolSample({ arrivalPerSecond: null }))).toBeNull();
    expect(demandOf(null)).toBeNull();
  });

  it('targets L + 3√L, bounded by the p99 demand, never below the mean + 1 or 2', () => {
    const demand = demandOf(poolSample())!;
    expect(demandTarget(demand)).toBe(10); // 4 + 3 * 2
    const heavyTail = demandOf(poolSample({ holdP99Millis: 25 }))!; // p99 bound 5 < 10
    expect(demandTarget(heavyTail)).toBe(5);
    const idle = demandOf(poolSample({ arrivalPerSecond: 0 }))!;
    expect(demandTarget(idle)).toBe(2);
  });
});

describe('computeAdvice', () => {
  it('recommends from measured demand, with min at the mean demand', () => {
    const report = computeAdvice(input());
    expect(report.formulas.seed).toBe(76);
    expect(report.recommendation).toMatchObject({ max: 10, min: 4 });
    expect(report.recommendation.basis).toMatch(/measured demand/);
    expect(report.warnings).toEqual([]);
  });

  it('caps the recommendation at the seed share of each instance', () => {
    const busy = poolSample({ arrivalPerSecond: 5000, holdMeanMillis: 40, holdP99Millis: 200 });
    const report = computeAdvice(input({ pool: busy, appInstances: 8 }));
    expect(report.formulas.seed).toBe(9);
    expect(report.recommendation.max).toBe(9);
    expect(report.recommendation.basis).toMatch(/capped by the seed formula at 9/);
    expect(report.warnings.map((w) => w.code)).toContain('demand-above-max');
  });

  it('falls back to HikariCP with cores and no demand, and to the seed without either', () => {
    const withCores = computeAdvice(input({ kind: 'url', pool: null, serverCores: 4 }));
    expect(withCores.formulas).toMatchObject({ hikari: 9, hikariPerInstance: 9 });
    expect(withCores.server.cores).toEqual({ value: 4, source: 'option' });
    expect(withCores.recommendation).toMatchObject({ max: 9, min: 0 });
    const blind = computeAdvice(input({ kind: 'url', pool: null }));
    expect(blind.server.cores).toEqual({ value: null, source: 'unknown' });
    expect(blind.formulas.hikari).toBeNull();
    expect(blind.recommendation.max).toBe(76);
  });

  it('takes the cores of this machine only when the server is local, and says so', () => {
    const remote = computeAdvice(input({ server: server([], false) }));
    expect(remote.server.cores.value).toBeNull();
    const local = computeAdvice(input({ server: server([], true), localCores: 2 }));
    expect(local.server.cores).toEqual({ value: 2, source: 'local' });
    expect(local.notes.join(' ')).toMatch(/taken from this machine/);
    expect(local.warnings.map((w) => w.code)).toContain('above-cpu-baseline'); // 10 > 2*2+1
  });

  it('groups sessions by application, and warns of idle-in-transaction ones', () => {
    const rows: ActivityRow[] = [
      { applicationName: 'web', state: 'active', count: 3, oldestStateMillis: null },
      { applicationName: 'web', state: 'idle', count: 5, oldestStateMillis: null },
      { applicationName: 'web', state: 'idle in transaction', count: 2, oldestStateMillis: 42_000 },
      {
        applicationName: 'batch',
        state: 'idle in transaction (aborted)',
        count: 1,
        oldestStateMillis: 900,
      },
      { applicationName: '', state: null, count: 4, oldestStateMillis: null },
    ];
    const report = computeAdvice(input({ server: server(rows) }));
    expect(report.activity).toMatchObject({
      connections: 15,
      idleInTransaction: 3,
      oldestIdleInTransactionMillis: 42_000,
    });
    expect(report.headroom).toBe(80);
    expect(report.activity.byApplication[0]).toEqual({
      applicationName: 'web',
      total: 10,
      states: { active: 3, idle: 5, 'idle in transaction': 2 },
      idleInTransaction: 2,
      oldestIdleInTransactionMillis: 42_000,
    });
    const codes = report.warnings.map((w) => w.code);
    expect(codes).toEqual(['idle-in-transaction', 'activity-hidden']);
    expect(report.warnings[0]!.message).toMatch(
      /3 sessions idle in transaction \(web: 2, batch: 1, oldest 42 s\)/,
    );
  });

  it('warns when instances × max exceed the server, near the limit, and on waits and timeouts', () => {
    const crowded: ActivityRow[] = [
      { applicationName: 'web', state: 'idle', count: 90, oldestStateMillis: null },
    ];
    const strained = poolSample({
      max: 30,
      waiting: 3,
      waitedAcquires: 50,
      waitMeanMillis: 12,
      timeouts: 2,
      shed: 1,
    });
    const report = computeAdvice(
      input({ server: server(crowded), pool: strained, appInstances: 4 }),
    );
    expect(report.headroom).toBe(5);
    expect(report.warnings.map((w) => w.code)).toEqual([
      'instances-exceed-available',
      'near-limit',
      'waiting-callers',
      'acquire-timeouts',
    ]);
    expect(report.warnings[0]!.message).toMatch(
      /max 30 × 4 instances = 120 connections, more than the 95/,
    );
  });

  it('is plain JSON', () => {
    const report = computeAdvice(input());
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});

describe('samplePool', () => {
  const summary = (count: number, sum: number, p99 = 0): Summary => ({
    count,
    sum,
    min: 0,
    max: p99,
    mean: count === 0 ? 0 : sum / count,
    p50: 0,
    p99,
  });
  function statsSource(snapshots: Partial<PoolStats>[]) {
    let i = 0;
    const base = {
      max: 10,
      min: 1,
      total: 3,
      inUse: 1,
      waiting: 0,
      timeouts: 0,
      shed: 0,
      rejectedQueueFull: 0,
    };
    return {
      name: 'p',
      stats: () => ({ ...base, ...snapshots[Math.min(i++, snapshots.length - 1)] }) as PoolStats,
    };
  }
  /** Counters of a pool whose callers never had to wait. */
  const unwaited = (acquires: number, holdTime: Summary): Partial<PoolStats> => ({
    acquires,
    waitedAcquires: 0,
    holdTime,
    waitTime: summary(0, 0),
  });
  function fakeClock(): SampleClock & { slept: number[] } {
    let t = 1_000;
    const slept: number[] = [];
    return {
      slept,
      now: () => t,
      wallNow: () => 50_000,
      sleep: async (ms) => {
        slept.push(ms);
        t += ms;
      },
    };
  }

  it('measures acquires and the mean hold over the window', async () => {
    const source = statsSource([
      { acquires: 100, waitedAcquires: 1, holdTime: summary(90, 900, 64), waitTime: summary(1, 5) },
      {
        acquires: 600,
        waitedAcquires: 3,
        holdTime: summary(590, 10_900, 64),
        waitTime: summary(3, 25),
      },
    ]);
    const clock = fakeClock();
    const sample = await samplePool(source, 500, undefined, clock);
    expect(clock.slept).toEqual([500]);
    expect(sample).toMatchObject({
      windowMillis: 500,
      acquires: 500,
      arrivalPerSecond: 1000,
      holdMeanMillis: 20,
      holdP99Millis: 64,
      waitedAcquires: 2,
      waitMeanMillis: 10,
    });
  });

  it('uses the lifetime mean when nothing was released in the window', async () => {
    const same = unwaited(5, summary(4, 40, 16));
    const sample = await samplePool(statsSource([same, same]), 100, undefined, fakeClock());
    expect(sample).toMatchObject({ acquires: 0, arrivalPerSecond: 0, holdMeanMillis: 10 });
  });

  it('with sampleMillis 0 reads lifetime counters since `since`, or leaves the rate unknown', async () => {
    const life = unwaited(300, summary(300, 1500, 8));
    const clock = fakeClock();
    const known = await samplePool(statsSource([life]), 0, 20_000, clock);
    expect(clock.slept).toEqual([]);
    expect(known).toMatchObject({ windowMillis: 30_000, arrivalPerSecond: 10, holdMeanMillis: 5 });
    const unknown = await samplePool(statsSource([life]), 0, undefined, clock);
    expect(unknown).toMatchObject({ windowMillis: null, arrivalPerSecond: null });
  });
});

describe('credentials', () => {
  const url = 'postgres://app:s%40cret!pw@db.example:5432/shop?sslpassword=other';

  it('masks the password and password-like parameters of a URL', () => {
    const masked = maskUrl(url);
    expect(masked).toBe('postgres://app:***@db.example:5432/shop?sslpassword=***');
    expect(maskUrl('postgres://app:pw@[bad')).toBe('postgres://app:***@[bad');
  });

  it('scrubs the URL and its password, raw and decoded, from any text', () => {
    const text = `failed for ${url}: password "s@cret!pw" (raw s%40cret!pw) rejected`;
    const clean = scrub(text, url);
    expect(clean).not.toMatch(/s%40cret|s@cret/);
    expect(clean).toContain('db.example');
  });

  it('rejects what is not a postgres:// URL with a one-line error that does not echo it', () => {
    expect(() => checkUrl('mysql://u:hunter2@h/db')).toThrow(
      /^not a PostgreSQL URL: scheme "mysql:" \(expected postgres:\/\/ or postgresql:\/\/\)$/,
    );
    expect(() => checkUrl('hunter2')).toThrow(/^not a URL \(expected postgres:/);
    expect(() => checkUrl('postgresql://u@h/db')).not.toThrow();
  });

  it('formats a report with the recommendation, formulas and warnings, and no secrets', () => {
    const rows: ActivityRow[] = [
      { applicationName: 'web', state: 'idle in transaction', count: 1, oldestStateMillis: 3_500 },
    ];
    const text = formatAdvice(computeAdvice(input({ server: server(rows), serverCores: 8 })));
    expect(text).toMatch(
      /^Lifeguard pool sizing for app@10\.0\.0\.5:5432\/shop \(PostgreSQL 16\.4\)/,
    );
    expect(text).toContain('Recommended: max 10, min 4 per instance');
    expect(text).toContain('reserved_connections            2');
    expect(text).toContain('seed: floor(95 / 1 × 0.8) in [2, 95] = 76');
    expect(text).toContain('HikariCP: 8 × 2 + 1 = 17 (17 per instance)');
    expect(text).toContain("Little's law: 200/s × 20 ms = 4 busy (p99 hold 64 ms: 12.8)");
    expect(text).toContain('web: 1 (idle in transaction 1; oldest idle in transaction 3.5 s)');
    expect(text).toContain('! [idle-in-transaction]');
  });
});

describe('advise() input checks, before any connection', () => {
  it('refuses a pg.Pool (no stats to sample) and an empty target', async () => {
    const foreign = new pg.Pool();
    await expect(advise(foreign as never)).rejects.toThrow(
      'advise() needs a lifeguard/pg Pool, a URL, or { url }',
    );
    await expect(advise({ url: '' })).rejects.toMatchObject({ code: 'ERR_LIFEGUARD_ADVISE' });
    await foreign.end();
  });

  it('refuses options that are not whole numbers in range', async () => {
    const url = 'postgres://u:pw@127.0.0.1:1/db';
    await expect(advise(url, { appInstances: 0 })).rejects.toThrow(
      'appInstances must be an integer >= 1, got 0',
    );
    await expect(advise(url, { serverCores: 2.5 })).rejects.toThrow(/serverCores must be/);
    await expect(advise(url, { sampleMillis: -1 })).rejects.toThrow(/sampleMillis must be/);
  });
});
